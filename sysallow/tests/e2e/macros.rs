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
//! `that(WHAT, MET)`, and the engines' `docker`, `crun`, `podman(RUNTIME)`, `containerd`),
//! checked in order. When one is missing the test skips: it returns, and says so in `cargo
//! test`'s output, in a list of skips after the result line; with
//! `SYSALLOW_REQUIRE_PRIVILEGED_TESTS=1` (CI) it fails instead. The skip line names the test
//! as libtest does (`record::counts_every_syscall`), from the function the macro expands in.

use std::io::Write as _;
use std::sync::{Mutex, Once};

/// CI sets this: every privileged test must run, and a skip becomes a failure.
pub const REQUIRE: &str = "SYSALLOW_REQUIRE_PRIVILEGED_TESTS";

/// Skip the rest of the test (or fail it, see the module) unless every need is met.
macro_rules! require {
    ($($need:ident $(( $($arg:expr),* $(,)? ))?),+ $(,)?) => {
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
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(line);
    SUMMARY_AT_EXIT.call_once(|| {
        // SAFETY: registers a function that takes no arguments and does not unwind (it only
        // writes to stderr, ignoring errors, and recovers a poisoned lock).
        unsafe { libc::atexit(print_skip_summary) };
    });
}

extern "C" fn print_skip_summary() {
    let skipped = SKIPPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
