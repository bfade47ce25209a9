//! Giant and hostile documents (issue 13): every subcommand that reads a profile or a
//! recording gives each one a clear error (or, where runtimes accept it, a short warning) in
//! bounded time and memory. Unprivileged. The time bound is a hang guard, not a performance
//! claim; memory is the largest child's peak RSS (`getrusage(RUSAGE_CHILDREN)`: this binary's
//! only children are these commands).

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

/// Generous: each case takes about a second in a debug build on a busy 2-core machine.
const HANG_GUARD: Duration = Duration::from_secs(60);
const MEMORY_BOUND_KIB: i64 = 1 << 20;

/// `sysallow ARGS` in `dir`: its stderr, after checking it failed cleanly (or succeeded, with
/// `ok`), within the time and memory bounds.
fn bounded(dir: &Path, args: &[&str], ok: bool) -> String {
    let start = Instant::now();
    let out = common::sysallow_in(dir, args);
    let took = start.elapsed();
    assert!(took < HANG_GUARD, "{args:?} took {took:?}");
    // SAFETY: getrusage fills the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    assert!(
        usage.ru_maxrss < MEMORY_BOUND_KIB,
        "{args:?}: a child peaked at {} KiB",
        usage.ru_maxrss
    );
    let stderr = common::stderr(&out);
    if ok {
        common::assert_success(&out);
    } else {
        // The subcommand's documented status for bad input (generate and merge: 1; the
        // others: 2); never a panic (101) or a signal.
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{args:?}: {}: {stderr}",
            out.status
        );
    }
    assert!(
        stderr.len() < 4096,
        "{args:?}: {} bytes of stderr, not a clear message",
        stderr.len()
    );
    stderr
}

#[test]
fn giant_and_deep_documents_get_a_clear_error_in_bounded_time_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A 1 GB recording (sparse: no disk is used).
    std::fs::File::create(d.join("big.rec.json"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // JSON and YAML nested 100,000 deep.
    std::fs::write(
        d.join("deep.json"),
        format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
    )
    .unwrap();
    std::fs::write(
        d.join("deep.yaml"),
        format!(
            "kind: SeccompProfile\nspec:\n  syscalls: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    )
    .unwrap();
    // 100,000 rules with a condition each: more than any seccomp filter holds.
    let rules: Vec<String> = (0..100_000)
        .map(|i| {
            format!(
                r#"{{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{{"index":0,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#
            )
        })
        .collect();
    std::fs::write(
        d.join("rules.json"),
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#,
            rules.join(",")
        ),
    )
    .unwrap();

    std::fs::write(
        d.join("small.json"),
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}"#,
    )
    .unwrap();
    for sub in [&["explain"][..], &["generate"], &["diff", "small.json"]] {
        let with = |file: &'static str| -> Vec<&'static str> {
            let mut args = sub.to_vec();
            args.push(file);
            args
        };
        let e = bounded(d, &with("big.rec.json"), false);
        assert!(e.contains("big.rec.json: larger than 16 MiB"), "{e}");
        let e = bounded(d, &with("deep.json"), false);
        assert!(
            e.contains("deep.json: line 1, column 641: brackets nested deeper than 128 levels"),
            "{e}"
        );
        let e = bounded(d, &with("deep.yaml"), false);
        assert!(
            e.contains("deep.yaml: line 3, column 141: brackets nested deeper than 128 levels"),
            "{e}"
        );
    }
    for args in [
        &["explain", "rules.json"][..],
        &["run", "--profile", "rules.json", "--", "true"],
    ] {
        let e = bounded(d, args, false);
        assert!(
            e.contains("syscalls: 100000 argument conditions; a seccomp filter holds at most 4096"),
            "{e}"
        );
    }
}

#[test]
fn a_hundred_thousand_repeated_rules_are_accepted_with_one_short_warning() {
    let dir = tempfile::tempdir().unwrap();
    let rules = vec![r#"{"names":["read"],"action":"SCMP_ACT_ALLOW"}"#; 100_000];
    std::fs::write(
        dir.path().join("repeats.json"),
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#,
            rules.join(",")
        ),
    )
    .unwrap();
    let e = bounded(dir.path(), &["explain", "repeats.json"], true);
    assert!(
        e.contains("read is given without conditions in syscalls[0] and")
            && e.contains("and 99992 more; the repeats change nothing"),
        "{e}"
    );
}
