//! `record --stress`: keep every CPU busy while the workload is recorded, so that the paths it
//! takes only under contention show up in the recording: a full pipe (the reader was not
//! scheduled), data not there yet, a lock that is held (futex), a child still running.
//!
//! The busy threads belong to sysallow, outside the recorded cgroup, so nothing of theirs is
//! recorded; they run at sysallow's priority, which the workload inherits, so the workload
//! competes with them as it would with a busy neighbour in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Busy threads, one per CPU; they stop when this is dropped.
pub struct Stress {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Stress {
    /// Start one busy thread per CPU this process may run on.
    pub fn start() -> Stress {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cpus)
            .filter_map(|i| {
                let stop = Arc::clone(&stop);
                std::thread::Builder::new()
                    .name(format!("sysallow-stress-{i}"))
                    .spawn(move || spin(&stop))
                    .ok()
            })
            .collect();
        Stress { stop, threads }
    }

    /// How many busy threads run.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }
}

/// Burn CPU without a syscall until told to stop.
fn spin(stop: &AtomicBool) {
    let mut x: u64 = 1;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }
}

impl Drop for Stress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_run_until_dropped() {
        let stress = Stress::start();
        assert!(stress.threads() >= 1);
        let stop = Arc::clone(&stress.stop);
        drop(stress);
        assert!(stop.load(Ordering::Relaxed));
    }
}
