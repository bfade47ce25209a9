//! The recorder killed at any point: nothing of it stays, and the command does not go on
//! running unrecorded (it ends with the recorder, as `unshare --kill-child` does). A later
//! run clears what a dead recorder's reaper could not.
//!
//! Each test here has the machine alone (`require!(alone: ...)`): a recorder clears stale
//! cgroups of others, so the one expected to say so must be the one that does, and the BPF
//! programs bpftool lists must be this test's recorder's only.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn v2() -> PathBuf {
    common::harness::cgroup2_mount().expect("a cgroup v2 mount")
}

/// sysallow's programs that bpftool lists (by name).
fn sysallow_programs() -> Vec<String> {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("running bpftool");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            [
                "sys_enter",
                "sys_exit",
                "sched_process_exec",
                "sched_process_exit",
                "task_newtask",
                "cgroup_attach_task",
            ]
            .iter()
            .any(|name| l.contains(&format!(" name {name} ")))
        })
        .map(str::to_owned)
        .collect()
}

fn alive(pid: i32) -> bool {
    common::harness::pid_alive(pid)
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_recorder_killed_with_sigkill_takes_its_command_and_leaves_nothing() {
    require!(alone: root, program("bpftool", "bpftool"));
    let before = sysallow_programs();
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = common::sysallow()
        .args(["record", "--recording", "rec.json", "--", "sleep", "30"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cgroup = v2().join(format!("sysallow/run-{}", recorder.id()));
    let procs = cgroup.join("cgroup.procs");
    let mut sleep_pid = 0;
    wait_for(
        "the command starts in its cgroup",
        Duration::from_secs(20),
        || {
            sleep_pid = std::fs::read_to_string(&procs)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
                .unwrap_or(0);
            sleep_pid > 0
        },
    );
    assert!(
        sysallow_programs().len() > before.len(),
        "the programs were attached"
    );
    recorder.kill().unwrap(); // SIGKILL, by its pid
    recorder.wait().unwrap();

    wait_for(
        "the command ends with its recorder",
        Duration::from_secs(10),
        || !alive(sleep_pid),
    );
    wait_for("the cgroup is removed", Duration::from_secs(10), || {
        !cgroup.exists()
    });
    wait_for(
        "no program of it stays attached",
        Duration::from_secs(10),
        || sysallow_programs().len() <= before.len(),
    );
    assert!(
        !dir.path().join("rec.json").exists(),
        "a half recording was written"
    );
}

#[test]
fn a_later_run_clears_what_a_dead_recorder_left_and_says_so() {
    require!(alone: root);
    // A recorder (pid 4194303, above any pid_max in use here) whose reaper died with it.
    let parent = v2().join("sysallow");
    let _ = std::fs::create_dir(&parent);
    let stale = parent.join("run-4194303");
    std::fs::create_dir(&stale).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = common::sysallow()
        .args(["record", "--recording", "rec.json", "--", "true"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let cleared = !stale.exists();
    if !cleared {
        let _ = std::fs::remove_dir(&stale);
    }
    assert!(out.status.success(), "{err}");
    assert!(cleared, "the stale cgroup was left: {err}");
    assert!(
        err.contains("run-4194303") && err.contains("no longer running"),
        "{err}"
    );
}

#[test]
fn a_workload_killed_by_a_signal_still_gets_its_recording_and_the_reason() {
    require!(alone: root);
    let dir = tempfile::tempdir().unwrap();
    let out = common::sysallow()
        .args([
            "record",
            "--recording",
            "rec.json",
            "--",
            "sh",
            "-c",
            "kill -9 $$",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ended by SIGKILL"), "{err}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    assert_eq!(rec["exit"]["signal"], 9, "{}", rec["exit"]);
    assert!(rec["abis"]["x86_64"]["syscalls"]["kill"].is_object());
}

/// A tmpfs of 8 KiB mounted on a temporary directory, unmounted on drop (also on failure).
struct TinyFs(tempfile::TempDir);

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_half_written_file() {
    require!(alone: root);
    let fs = TinyFs(tempfile::tempdir().unwrap());
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k", "tmpfs"])
        .arg(fs.0.path())
        .status()
        .unwrap();
    assert!(mounted.success());
    std::fs::write(fs.0.path().join("filler"), vec![0u8; 8192]).unwrap_or(());
    let rec = fs.0.path().join("rec.json");
    let out = common::sysallow()
        .args(["record", "--recording"])
        .arg(&rec)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("No space left on device") && err.contains("rec.json"),
        "{err}"
    );
    let left: Vec<String> = std::fs::read_dir(fs.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["filler"], "a partial output was left");
}

#[test]
fn a_workload_that_execs_a_missing_binary_or_exits_at_once_still_gets_its_recording() {
    require!(alone: root);
    let dir = tempfile::tempdir().unwrap();
    for (argv, status, said) in [
        (
            &["sh", "-c", "exec /nonexistent-sysallow-binary"][..],
            127,
            Some("exited with status 127 (a program it ran was not found)"),
        ),
        (&["sh", "-c", "exit 3"], 3, Some("exited with status 3;")),
        (&["true"], 0, None),
    ] {
        let out = common::sysallow()
            .args(["record", "--recording", "rec.json", "--"])
            .args(argv)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(status), "{argv:?}: {err}");
        match said {
            Some(said) => assert!(err.contains(said), "{argv:?}: {err}"),
            None => assert!(!err.contains("exited with status"), "{argv:?}: {err}"),
        }
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
        assert_eq!(rec["exit"]["code"], status, "{argv:?}: {}", rec["exit"]);
        assert!(
            rec["abis"]["x86_64"]["syscalls"]["execve"].is_object(),
            "{argv:?}"
        );
    }
}
