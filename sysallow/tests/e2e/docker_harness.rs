//! The private-dockerd harness itself (root + Docker): it starts, imports the test image, runs
//! containers plainly and under a seccomp profile, enforces timeouts, and leaves nothing behind.

use crate::common;
use crate::common::harness;

use std::time::Duration;

use crate::common::docker::Dockerd;
use crate::common::image::PROBE;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn harness_runs_containers_and_leaves_nothing_behind() {
    require!(docker);
    let mut d = Dockerd::start();
    let image = d.import_test_image();

    // Plain.
    let out = d.run(&["--rm", &image, PROBE, "hello"], RUN_TIMEOUT);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "sysallow-probe: hello\n", "{out}");

    // Busybox applets work (the image is usable as a shell environment).
    let out = d.run(&["--rm", &image, "sh", "-c", "echo $((6*7))"], RUN_TIMEOUT);
    assert_eq!(out.stdout.trim(), "42", "{out}");

    // Under Docker's default seccomp profile, read at test time.
    let profile = common::docker_default_profile();
    let seccomp = format!("seccomp={}", profile.display());
    let out = d.run(
        &[
            "--rm",
            "--security-opt",
            &seccomp,
            &image,
            PROBE,
            "syscalls",
        ],
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{out}");
    assert!(out.stdout.starts_with("sysallow-probe: pid 1 "), "{out}");

    // A profile that denies what the probe needs is enforced (so the option is not ignored):
    // uname answered with EPERM makes `syscalls` fail.
    let deny_uname = d.root().join("deny-uname.json");
    std::fs::write(
        &deny_uname,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let seccomp = format!("seccomp={}", deny_uname.display());
    let out = d.run(
        &[
            "--rm",
            "--security-opt",
            &seccomp,
            &image,
            PROBE,
            "syscalls",
        ],
        RUN_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(1), "{out}");

    // The exit status comes through, and the container runs in the daemon's private cgroup.
    let out = d.run(&["--rm", &image, PROBE, "exit", "7"], RUN_TIMEOUT);
    assert_eq!(out.status.code(), Some(7), "{out}");
    let out = d.run(&["--rm", &image, PROBE, "cgroup"], RUN_TIMEOUT);
    assert!(
        out.stdout.lines().any(|l| l.starts_with("0::/")),
        "no cgroup v2 line: {out}"
    );

    // A run that outlives its timeout is killed, container included.
    let out = d.run(&[&image, PROBE, "sleep", "600"], Duration::from_secs(3));
    assert!(out.timed_out, "{out}");
    let left = d.docker_ok(&["ps", "-aq"]);
    assert_eq!(left.trim(), "", "containers left after a timed-out run");

    // A detached container is still running when the daemon is dropped.
    let c = d.run_detached(&[&image, PROBE, "sleep", "600"]);
    assert!(harness::pid_alive(c.pid as i32));

    let dockerd_pid = d.pid();
    let root = d.root().to_owned();
    let root_str = root.to_string_lossy().into_owned();
    let helpers = harness::processes_mentioning(&root_str);
    assert!(!helpers.is_empty(), "no containerd under {root_str}?");
    let v2 = harness::cgroup2_mount().expect("cgroup v2 mount");
    let parent = v2.join(d.cgroup_parent());
    assert!(parent.is_dir(), "{} missing", parent.display());

    let problems = d.stop();
    assert!(problems.is_empty(), "clean-up problems: {problems:?}");
    assert!(
        !harness::pid_alive(dockerd_pid),
        "dockerd {dockerd_pid} still alive"
    );
    for pid in helpers {
        assert!(!harness::pid_alive(pid), "helper {pid} still alive");
    }
    assert!(
        !harness::pid_alive(c.pid as i32),
        "container init {} still alive",
        c.pid
    );
    assert!(harness::processes_mentioning(&root_str).is_empty());
    assert!(
        harness::mounts_under(&root).is_empty(),
        "mounts left under {root_str}"
    );
    assert!(!root.exists(), "{root_str} left behind");
    for mount in harness::cgroup_mounts() {
        let dir = mount.join(parent.strip_prefix(&v2).unwrap());
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
}

#[test]
fn harness_cleans_up_when_a_test_panics() {
    require!(docker);
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let mut d = Dockerd::start();
        let image = d.import_test_image();
        let c = d.run_detached(&[&image, PROBE, "sleep", "600"]);
        tx.send((d.pid(), d.root().to_owned(), c.pid)).unwrap();
        panic!("deliberate panic with a running container");
    })
    .join();
    assert!(result.is_err(), "the thread should have panicked");
    let (pid, root, init) = rx.recv().unwrap();
    assert!(!harness::pid_alive(pid), "dockerd {pid} survived the panic");
    assert!(
        !harness::pid_alive(init as i32),
        "container init {init} survived"
    );
    assert!(harness::mounts_under(&root).is_empty());
    assert!(!root.exists(), "{} left behind", root.display());
}
