//! Recordings at the same time stay separate, with exact counts (ten commands and a
//! `--cgroup-parent` of two child cgroups at once); one recorder per cgroup parent.

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Start `sysallow record --cgroup-parent PARENT -o OUT` and wait until it is armed.
fn parent_recorder(parent: &str, out: &std::path::Path) -> std::process::Child {
    let mut recorder = common::sysallow()
        .args(["record", "--cgroup-parent", parent, "-o"])
        .arg(out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(recorder.stderr.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("armed") => break,
            Some(Ok(_)) => {}
            _ => {
                let _ = recorder.kill();
                panic!("the recorder ended before arming");
            }
        }
    }
    // Keep draining, so the recorder never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    recorder
}

/// SIGINT the recorder we started and wait (bounded) for it.
fn stop(mut recorder: std::process::Child) -> std::process::ExitStatus {
    // SAFETY: signalling the child we started, by its pid.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = recorder.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = recorder.kill();
            panic!("the recorder did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Child cgroups this test made under an armed parent, removed on drop (also on failure).
struct ChildCgroups(Vec<PathBuf>);

impl Drop for ChildCgroups {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn ten_recordings_at_once_stay_separate_with_exact_counts() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let calls = common::compile_workload(dir.path(), "calls", &[]);
    // Beside the ten commands, a --cgroup-parent recording of two child cgroups.
    let parent = format!("sysallow-ten-{}", std::process::id());
    let parent_out = tempfile::tempdir().unwrap();
    let recorder = parent_recorder(&parent, parent_out.path());
    let v2 = common::harness::cgroup2_mount().expect("cgroup v2");
    let children = ChildCgroups(
        ["c1", "c2"]
            .iter()
            .map(|c| v2.join(&parent).join(c))
            .collect(),
    );
    for child in &children.0 {
        std::fs::create_dir(child).unwrap();
    }
    let in_children: Vec<u64> = vec![15_001, 16_003];

    let expected: Vec<u64> = (0..10).map(|i| 20_000 + 1_017 * i).collect();
    let commands: Vec<_> = expected
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
    let in_parent: Vec<_> = children
        .0
        .iter()
        .zip(&in_children)
        .map(|(cgroup, n)| {
            let procs = std::fs::OpenOptions::new()
                .write(true)
                .open(cgroup.join("cgroup.procs"))
                .unwrap();
            let mut cmd = std::process::Command::new(&calls);
            cmd.arg(n.to_string());
            // SAFETY: only write(2) between fork and exec: the child moves itself into the
            // cgroup before it execs, so every syscall of the workload is counted there.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    use std::io::Write as _;
                    (&procs).write_all(b"0")
                });
            }
            cmd.spawn().unwrap()
        })
        .collect();
    for (i, child) in commands.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "recording {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for mut child in in_parent {
        assert!(child.wait().unwrap().success());
    }
    drop(children);
    assert!(stop(recorder).success());

    let getppid_of = |rec: &serde_json::Value, what: &str| {
        for (loss, count) in rec["losses"].as_object().unwrap() {
            assert_eq!(count, 0, "{what}: loss {loss}");
        }
        rec["abis"]["x86_64"]["syscalls"]["getppid"]["count"].as_u64()
    };
    for (i, n) in expected.iter().enumerate() {
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("r{i}.json"))).unwrap())
                .unwrap();
        assert_eq!(
            getppid_of(&rec, &format!("recording {i}")),
            Some(*n),
            "recording {i} counted another's calls"
        );
    }
    for (child, n) in ["c1", "c2"].iter().zip(&in_children) {
        let path = parent_out.path().join(format!("{child}.rec.json"));
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        assert_eq!(
            getppid_of(&rec, child),
            Some(*n),
            "{child} counted another's calls"
        );
    }
}

#[test]
fn a_second_recorder_on_the_same_cgroup_parent_refuses() {
    require!(root);
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
    // The parent is free again once the first has ended, and its lock file is gone.
    assert!(first.wait().unwrap().success());
    let lock = format!("/run/sysallow/parent-{}.lock", parent.replace('.', "_"));
    assert!(!std::path::Path::new(&lock).exists(), "{lock} left behind");
}
