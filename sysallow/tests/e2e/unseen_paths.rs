//! Profiles that survive the paths the recording did not take (issue: a syscall made only
//! under contention, on a signal, or while a child still runs). Each workload is recorded the
//! way the README tells users to, then run under its profile the way production will: many
//! times, with the machine busy.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn record(dir: &Path, flags: &[&str], argv: &[&str]) -> Output {
    common::record_in(dir, flags, argv)
}

fn run_under(dir: &Path, profile: &str, argv: &[&str]) -> Output {
    common::run_under(dir, profile, argv)
}

/// The README's recording flags for a command: several runs, the CPUs contended.
const README_FLAGS: &[&str] = &["--repeat", "3", "--stress"];

#[test]
fn xz_pipeline_recorded_idle_runs_20_of_20_on_a_busy_machine() {
    require!(root, program("xz", "xz-utils"));
    let dir = tempfile::tempdir().unwrap();
    let numbers: String = (1..=300_000).map(|n| format!("{n}\n")).collect();
    std::fs::write(dir.path().join("f"), numbers).unwrap();
    let status = Command::new("xz")
        .args(["-T2", "-k", "f"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    // xz calls poll only when its output pipe is full: on a quiet machine a single recording
    // often misses it (the 12,773 lines instead of 300,000, exit status 0).
    let pipeline = ["sh", "-c", "xz -dc f.xz | wc -l"];
    let recorded = record(dir.path(), README_FLAGS, &pipeline);
    assert_eq!(
        String::from_utf8_lossy(&recorded.stdout),
        "300000\n".repeat(3)
    );

    let _busy = common::Busy::start();
    for i in 1..=20 {
        let out = run_under(dir.path(), "profile.json", &pipeline);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "run {i} of 20: {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "300000\n", "run {i}");
    }
}

#[test]
fn a_signal_that_arrives_on_some_runs_only_is_survived() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let exe = common::compile_workload(dir.path(), "late_alarm", &[]);
    let exe = exe.to_str().unwrap();

    // Recorded on a run that ends before the timer fires: no handler ran.
    let recorded = record(dir.path(), &[], &[exe, "20"]);
    assert_eq!(String::from_utf8_lossy(&recorded.stdout), "fired=0\n");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    assert!(
        rec["abis"]["x86_64"]["syscalls"]["rt_sigreturn"].is_null(),
        "the recording saw a signal handler return: the test proves nothing"
    );

    // Under the profile, on runs where the signal arrives: the essentials let it return.
    for i in 1..=10 {
        let out = run_under(dir.path(), "profile.json", &[exe, "300"]);
        assert!(
            out.status.success(),
            "run {i}: {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "fired=1\n", "run {i}");
    }

    // Without the essentials the same run dies when its handler returns.
    let bare = common::sysallow()
        .args(["generate", "rec.json", "--no-essentials", "-o", "bare.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    common::assert_success(&bare);
    let out = run_under(dir.path(), "bare.json", &[exe, "300"]);
    assert!(
        !out.status.success(),
        "without rt_sigreturn the handler cannot return, yet the run succeeded"
    );
}

/// Run `argv` under `profile`, ending it (by its PID) after `deadline`; None if it had to be
/// ended.
fn run_with_deadline(
    dir: &Path,
    profile: &str,
    argv: &[&str],
    deadline: std::time::Duration,
) -> Option<Output> {
    let mut child = common::sysallow()
        .args(["run", "--profile", profile, "--"])
        .args(argv)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_shell_waiting_for_a_running_child_does_not_spin() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    // Recorded with children that are gone by the time the shell waits for them.
    record(
        dir.path(),
        &[],
        &["sh", "-c", "true & sleep 0.2; wait; echo done"],
    );
    // Under the profile the child still runs when the shell waits: dash blocks in
    // rt_sigsuspend, the companion of the wait4 it was seen making.
    let slow = ["sh", "-c", "sleep 0.3 & wait; echo done"];
    let out = run_with_deadline(
        dir.path(),
        "profile.json",
        &slow,
        std::time::Duration::from_secs(10),
    )
    .expect("the shell did not finish within 10 s under its profile");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n", "{out:?}");

    // Without the companions the same shell spins instead of waiting.
    let bare = common::sysallow()
        .args([
            "generate",
            "rec.json",
            "--no-companions",
            "--no-timing-paths",
            "-o",
            "bare.json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    common::assert_success(&bare);
    let out = run_with_deadline(
        dir.path(),
        "bare.json",
        &slow,
        std::time::Duration::from_secs(3),
    );
    assert!(
        out.is_none_or(|o| !o.status.success() || o.stdout != b"done\n"),
        "the shell waited without rt_sigsuspend: the test proves nothing"
    );
}
