//! The machine busy, as production machines are. Tests that need it quiet say
//! `require!(alone: ...)` (`macros::Machine`): no other test with requirements, and so no busy
//! loops (every test that starts them requires root), runs beside them.

use std::process::{Child, Command, Stdio};

/// Keeps every core busy while it lives: one shell loop per CPU, ended by PID on drop (also
/// when the test fails).
pub struct Busy(Vec<Child>);

impl Busy {
    pub fn start() -> Busy {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Busy(
            (0..cpus)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("starting a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
