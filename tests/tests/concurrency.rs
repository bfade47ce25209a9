//! Recordings at the same time stay separate, with exact counts; one recorder per cgroup
//! parent.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn ten_recordings_at_once_stay_separate_with_exact_counts() {
    if !common::can_run_root("ten_at_once") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(calls) = common::compile_workload("ten_at_once", dir.path(), "calls", &[]) else {
        return;
    };
    let expected: Vec<u64> = (0..10).map(|i| 20_000 + 1_017 * i).collect();
    let children: Vec<_> = expected
        .iter()
        .enumerate()
        .map(|(i, n)| {
            common::sysallow()
                .arg("record")
                .arg("--recording")
                .arg(format!("r{i}.json"))
                .arg("--")
                .arg(&calls)
                .arg(n.to_string())
                .current_dir(dir.path())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "recording {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (i, n) in expected.iter().enumerate() {
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("r{i}.json"))).unwrap())
                .unwrap();
        let getppid = &rec["abis"]["x86_64"]["syscalls"]["getppid"]["count"];
        assert_eq!(
            getppid.as_u64(),
            Some(*n),
            "recording {i} counted another's calls"
        );
        for (loss, count) in rec["losses"].as_object().unwrap() {
            assert_eq!(count, 0, "recording {i}: loss {loss}");
        }
    }
}

#[test]
fn a_second_recorder_on_the_same_cgroup_parent_refuses() {
    if !common::can_run_root("parent_lock") {
        return;
    }
    let parent = format!("sysallow-lock-{}", std::process::id());
    let out1 = tempfile::tempdir().unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let mut first = common::sysallow()
        .args(["record", "--cgroup-parent", &parent, "-o"])
        .arg(out1.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("armed") => break,
            Some(Ok(_)) => {}
            _ => {
                let _ = first.kill();
                panic!("the first recorder ended before arming");
            }
        }
    }
    let second = common::sysallow()
        .args(["record", "--cgroup-parent", &parent, "-o"])
        .arg(out2.path())
        .output()
        .unwrap();
    // Stop the first (by its pid) before asserting, so a failure leaves nothing running.
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(first.id() as i32, libc::SIGINT) };
    let started = std::time::Instant::now();
    while first.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = first.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second recorder ran: {err}");
    assert!(
        err.contains("already recording under --cgroup-parent")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    // The parent is free again once the first has ended.
    assert!(first.wait().unwrap().success());
}
