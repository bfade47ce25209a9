//! What a test needs of the machine, said once at the top of its body:
//!
//! ```ignore
//! #[test]
//! fn counts_every_syscall() {
//!     require!(root, program("strace", "strace"));
//!     ...
//! }
//! ```
//!
//! Each need is a constructor of [`Need`] (`root`, `gcc`, `program(NAME, PACKAGE)`,
//! `that(WHAT, MET)`, and the engines' `docker`, `crun`, `podman(RUNTIME)`, `containerd`, `cri`; `agent`, `agent_image`),
//! checked in order (`require!(alone: ...)` also keeps the machine to itself: [`Machine`]).
//! When one is missing the test skips: it returns, and says so in `cargo
//! test`'s output, in a list of skips after the result line; with
//! `SYSALLOW_REQUIRE_PRIVILEGED_TESTS=1` (CI) it fails instead. The skip line names the test
//! as libtest does (`record::counts_every_syscall`), from the function the macro expands in.

use std::cell::Cell;
use std::io::Write as _;
use std::sync::{Mutex, Once, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// CI sets this: every privileged test must run, and a skip becomes a failure.
pub const REQUIRE: &str = "SYSALLOW_REQUIRE_PRIVILEGED_TESTS";

/// Skip the rest of the test (or fail it, see the module) unless every need is met; then hold
/// the machine, shared or (`alone:`) exclusively, until the test ends (see [`Machine`]).
macro_rules! require {
    (alone: $($need:ident $(( $($arg:expr),* $(,)? ))?),+ $(,)?) => {
        require!(@check $($need $(( $($arg),* ))?),+);
        let _machine = $crate::macros::Machine::alone();
    };
    (@check $($need:ident $(( $($arg:expr),* $(,)? ))?),+) => {
        let test = {
            // The path of an item nested in the test function is the test's path plus `::f`.
            fn f() {}
            $crate::macros::test_name(::std::any::type_name_of_val(&f))
        };
        $(
            if !$crate::macros::check(&test, $crate::macros::Need::$need($($($arg),*)?)) {
                return;
            }
        )+
    };
    ($($need:ident $(( $($arg:expr),* $(,)? ))?),+ $(,)?) => {
        require!(@check $($need $(( $($arg),* ))?),+);
        let _machine = $crate::macros::Machine::shared();
    };
}

/// The machine, as the tests of this one binary share it (libtest runs them in parallel).
/// Before they were one binary, each file's tests ran only beside each other; a few rely on
/// seeing the host undisturbed by other tests' recorders and engines, and say `require!(alone:
/// ...)`: a quiet recording (`plain_record`: no other test's busy loops or recordings), what a
/// recorder leaves and the next one clears (`faults`: BPF programs listed by bpftool, stale
/// cgroups that any recorder removes), v2's controllers that a crun engine binds to v1 for the
/// whole host (`containers_crun`). Every other `require!` holds the machine shared. So a test
/// that is alone runs beside no other test with requirements (every root and engine test has
/// them), and the others run in parallel as before; busy loops (`common::Busy`) need no lock
/// of their own.
pub struct Machine(Option<Hold>);

enum Hold {
    Shared(#[expect(dead_code, reason = "held for its Drop")] RwLockReadGuard<'static, ()>),
    Alone(#[expect(dead_code, reason = "held for its Drop")] RwLockWriteGuard<'static, ()>),
}

static MACHINE: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this thread (a test) holds the machine already: a second `require!` in a test
    /// must not take it again (a read lock taken twice waits for a writer queued in between).
    static HELD: Cell<bool> = const { Cell::new(false) };
}

impl Machine {
    pub fn shared() -> Machine {
        if HELD.get() {
            return Machine(None);
        }
        // A test that panicked holding it left nothing behind in `()`.
        let hold = Hold::Shared(MACHINE.read().unwrap_or_else(PoisonError::into_inner));
        HELD.set(true);
        Machine(Some(hold))
    }

    pub fn alone() -> Machine {
        assert!(
            !HELD.get(),
            "require!(alone: ...) must be the test's first require!"
        );
        let hold = Hold::Alone(MACHINE.write().unwrap_or_else(PoisonError::into_inner));
        HELD.set(true);
        Machine(Some(hold))
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if self.0.is_some() {
            HELD.set(false);
        }
    }
}

/// Something a test needs of the machine, and whether the machine has it.
pub struct Need {
    /// What to install or how to run, for the skip line: "root (CAP_BPF, ...)", "xz (xz-utils)".
    pub what: String,
    pub met: bool,
}

impl Need {
    /// Any condition, said in words.
    pub fn that(what: impl Into<String>, met: bool) -> Need {
        Need {
            what: what.into(),
            met,
        }
    }

    /// For tests that load eBPF programs: root (which on these machines has CAP_BPF).
    pub fn root() -> Need {
        Need::that(
            "root (CAP_BPF, CAP_PERFMON, cgroup v2)",
            crate::common::is_root(),
        )
    }

    /// `name` on PATH, from the Debian package `package`.
    pub fn program(name: &str, package: &str) -> Need {
        let what = if name == package {
            name.to_owned()
        } else {
            format!("{name} ({package})")
        };
        Need::that(what, crate::common::have(name))
    }

    /// gcc, for the C workloads (`common::compile_workload`) and the container image's probe.
    pub fn gcc() -> Need {
        Need::program("gcc", "gcc")
    }
}

/// What a test does about one need.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Run,
    Skip,
    Fail,
}

/// Run when the need is met; else fail when skipping is forbidden, and skip otherwise.
pub fn decide(met: bool, skipping_forbidden: bool) -> Decision {
    match (met, skipping_forbidden) {
        (true, _) => Decision::Run,
        (false, true) => Decision::Fail,
        (false, false) => Decision::Skip,
    }
}

fn skipping_forbidden() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// The test's name as libtest prints it, from the `type_name` of an item nested in it
/// (`e2e::record::counts_every_syscall::f`): without the crate and the item.
pub fn test_name(nested: &str) -> String {
    let path = nested.strip_suffix("::f").unwrap_or(nested);
    let path = path.split_once("::").map_or(path, |(_crate, rest)| rest);
    path.to_owned()
}

/// Whether `test` may go on with `need`; panics where skipping is forbidden, and reports the
/// skip otherwise.
pub fn check(test: &str, need: Need) -> bool {
    match decide(need.met, skipping_forbidden()) {
        Decision::Run => true,
        Decision::Fail => panic!(
            "{test}: needs {}, and {REQUIRE}=1 forbids skipping",
            need.what
        ),
        Decision::Skip => {
            report_skip(format!("SKIPPED {test}: needs {}", need.what));
            false
        }
    }
}

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SUMMARY_AT_EXIT: Once = Once::new();

/// libtest shows a passing test's output only with `--nocapture` (`eprintln!` goes to its
/// capture), and has no hook after the last test: the skips are listed at process exit, after
/// libtest's result line, on the process's stderr handle (which libtest does not capture).
fn report_skip(line: String) {
    SKIPPED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line);
    SUMMARY_AT_EXIT.call_once(|| {
        // SAFETY: registers a function that takes no arguments and does not unwind (it only
        // writes to stderr, ignoring errors, and recovers a poisoned lock).
        unsafe { libc::atexit(print_skip_summary) };
    });
}

extern "C" fn print_skip_summary() {
    let skipped = SKIPPED.lock().unwrap_or_else(PoisonError::into_inner);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\n{} test(s) skipped (set {REQUIRE}=1 to make a skip fail):",
        skipped.len()
    );
    for line in skipped.iter() {
        let _ = writeln!(err, "    {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_need_skips_unless_skipping_is_forbidden() {
        assert_eq!(decide(true, false), Decision::Run);
        assert_eq!(decide(true, true), Decision::Run);
        assert_eq!(decide(false, false), Decision::Skip);
        assert_eq!(decide(false, true), Decision::Fail);
    }

    #[test]
    fn the_skip_names_the_test_as_libtest_does() {
        fn f() {}
        let name = test_name(std::any::type_name_of_val(&f));
        assert_eq!(
            name,
            "macros::tests::the_skip_names_the_test_as_libtest_does"
        );
    }
}
