//! The machine's load, shared by every test of this binary (libtest runs them in parallel):
//! some tests keep every core busy to run a profile as production does, and some record on a
//! quiet machine to show what a plain recording misses. A quiet recording must not share the
//! machine with another test's busy loops.
//!
//! One process-wide read-write lock says who may load the machine: [`Busy`] holds it shared
//! (busy loops of two tests only make the machine busier, which both want), [`quiet`] holds it
//! exclusively (no other test's busy loops start or run meanwhile, and quiet tests run one at a
//! time, as `plain_record`'s own mutex made them when it was a test binary of its own). A quiet
//! test that then wants the machine busy starts its loops with [`Quiet::busy`], under the lock
//! it already holds. Tests that load the machine otherwise (Docker daemons, recordings) are not
//! counted: before the move they ran beside quiet ones too, in their own test binaries.

use std::process::{Child, Command, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static MACHINE: RwLock<()> = RwLock::new(());

/// Keeps every core busy while it lives, as production machines are: one shell loop per CPU,
/// ended by PID on drop (also when the test fails).
pub struct Busy {
    loops: Vec<Child>,
    /// Dropped after the loops are ended (fields drop after `Drop::drop`).
    _shared: Option<RwLockReadGuard<'static, ()>>,
}

impl Busy {
    /// Busy loops, once no quiet recording runs (it waits for the one that does).
    pub fn start() -> Busy {
        // A test that panicked holding the lock has ended its loops (Drop): the lock's data
        // is `()`, nothing to be inconsistent.
        let shared = MACHINE.read().unwrap_or_else(PoisonError::into_inner);
        Busy::spawn(Some(shared))
    }

    fn spawn(shared: Option<RwLockReadGuard<'static, ()>>) -> Busy {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Busy {
            loops: (0..cpus)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("starting a busy loop")
                })
                .collect(),
            _shared: shared,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for child in &mut self.loops {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The machine, kept free of other tests' busy loops while this lives.
pub struct Quiet(RwLockWriteGuard<'static, ()>);

/// Wait until no test runs busy loops, and keep it so until the guard is dropped.
pub fn quiet() -> Quiet {
    Quiet(MACHINE.write().unwrap_or_else(PoisonError::into_inner))
}

impl Quiet {
    /// This test's own busy loops, under the exclusive lock it holds (taking the shared lock
    /// would wait for itself).
    pub fn busy(&self) -> Busy {
        Busy::spawn(None)
    }
}
