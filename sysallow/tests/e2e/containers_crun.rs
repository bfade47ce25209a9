//! Containers under crun end to end, with a private dockerd (root + Docker + crun): the
//! harness's crun daemon itself, then the end-to-end body shared with containers.rs
//! (`common::parent_e2e`) with crun's facts: record containers from their first syscall under an
//! armed parent and run them under their profiles.
//!
//! crun 1.8.1 needs a hybrid-cgroup workaround to run at all here (see
//! `DockerdOptions::crun`); FIELD-NOTES ("Containers and runtimes"): crun needs only execve
//! after its filter with no-new-privileges, and answers the default errno (not ENOSYS) for
//! numbers above the profile's highest.

use crate::common;
use crate::common::harness;

use std::path::Path;

use crate::common::docker::Dockerd;
use crate::common::image::PROBE;
use crate::common::parent_e2e::{self, RUN_TIMEOUT, RuntimeCase};

// The tests here have the machine alone (`require!(alone: crun)`): a crun daemon binds the v2
// controllers to v1 for the whole host while it runs, and the first test checks that they
// come back after its daemon stops (a Podman with crun, in another test, would bind them too).

/// The controllers cgroup v2 offers now (empty while a crun daemon binds them to v1).
fn v2_controllers() -> Vec<String> {
    let v2 = harness::cgroup2_mount().expect("cgroup v2 mount");
    std::fs::read_to_string(v2.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn crun_daemon_runs_containers_and_leaves_nothing_behind() {
    require!(alone: crun);
    let before = v2_controllers();
    let mut d = Dockerd::start_with_crun();
    // The workaround's point: nothing left in v2 for crun to refuse (hybrid host).
    if harness::cgroup2_mount().is_some_and(|m| m != Path::new("/sys/fs/cgroup")) {
        assert_eq!(v2_controllers(), Vec::<String>::new());
    }
    let image = d.import_test_image();

    // Plain, under Docker's default profile, and with no-new-privileges: all under crun.
    let out = d.run(
        &["--rm", "--runtime", "crun", &image, PROBE, "hello"],
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, "sysallow-probe: hello\n", "{out}");
    let profile = common::docker_default_profile();
    let seccomp = format!("seccomp={}", profile.display());
    let out = d.run(
        &[
            "--rm",
            "--runtime",
            "crun",
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
    let out = d.run(
        &[
            "--rm",
            "--runtime",
            "crun",
            "--security-opt",
            "no-new-privileges",
            &image,
            "sh",
            "-c",
            "echo $((6*7))",
        ],
        RUN_TIMEOUT,
    );
    assert_eq!(out.stdout.trim(), "42", "{out}");

    // It is crun that runs them, in the v2 tree under the daemon's parent.
    let c = d.run_detached(&["--runtime", "crun", &image, PROBE, "sleep", "600"]);
    let runtime = d.docker_ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", &c.id]);
    assert_eq!(runtime.trim(), "crun");
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid)).unwrap();
    let v2_line = format!("0::/{}/{}", d.cgroup_parent(), c.id);
    assert!(cgroup.lines().any(|l| l == v2_line), "{cgroup}");

    let dockerd_pid = d.pid();
    let root = d.root().to_owned();
    let root_str = root.to_string_lossy().into_owned();
    let helpers = harness::processes_mentioning(&root_str);
    assert!(!helpers.is_empty(), "no containerd under {root_str}?");
    let ns = std::fs::read_link(format!("/proc/{dockerd_pid}/ns/mnt")).unwrap();
    let ns = ns.to_string_lossy().into_owned();
    assert_ne!(
        std::fs::read_link("/proc/self/ns/mnt")
            .unwrap()
            .to_string_lossy(),
        ns,
        "dockerd is not in a private mount namespace"
    );
    let v2 = harness::cgroup2_mount().unwrap();
    let parent = v2.join(d.cgroup_parent());

    let problems = d.stop();
    assert!(problems.is_empty(), "clean-up problems: {problems:?}");
    assert!(!harness::pid_alive(dockerd_pid), "dockerd still alive");
    for pid in helpers {
        assert!(!harness::pid_alive(pid), "helper {pid} still alive");
    }
    assert!(!harness::pid_alive(c.pid as i32), "container init alive");
    assert!(harness::processes_in_mount_ns(&ns).is_empty());
    assert!(harness::processes_mentioning(&root_str).is_empty());
    assert!(harness::mounts_under(&root).is_empty());
    assert!(!root.exists(), "{root_str} left behind");
    for mount in harness::cgroup_mounts() {
        let dir = mount.join(parent.strip_prefix(&v2).unwrap());
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
    // The controllers are back in v2 (stop waited for them).
    assert_eq!(v2_controllers(), before, "v2 controllers not restored");
}

#[test]
fn crun_daemon_cleans_up_when_a_test_panics() {
    require!(alone: crun);
    let before = v2_controllers();
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let mut d = Dockerd::start_with_crun();
        let image = d.import_test_image();
        let c = d.run_detached(&["--runtime", "crun", &image, PROBE, "sleep", "600"]);
        let ns = std::fs::read_link(format!("/proc/{}/ns/mnt", d.pid())).unwrap();
        tx.send((d.pid(), d.root().to_owned(), c.pid, ns)).unwrap();
        panic!("deliberate panic with a running crun container");
    })
    .join();
    assert!(result.is_err(), "the thread should have panicked");
    let (pid, root, init, ns) = rx.recv().unwrap();
    assert!(!harness::pid_alive(pid), "dockerd {pid} survived the panic");
    assert!(
        !harness::pid_alive(init as i32),
        "container init {init} survived"
    );
    let left = harness::processes_in_mount_ns(&ns.to_string_lossy());
    assert!(left.is_empty(), "left in the daemon's namespace: {left:?}");
    assert!(!root.exists(), "{} left behind", root.display());
    assert_eq!(v2_controllers(), before, "v2 controllers not restored");
}

/// crun: Docker's `--runtime crun` (see `docker::DockerdOptions::crun`).
const CRUN: RuntimeCase<Dockerd> = RuntimeCase {
    name: "crun",
    start: Dockerd::start_with_crun,
    settings: &[
        (&["--runtime", "crun"], false),
        (&["--runtime", "crun", "--no-new-privileges"], true),
        (&["--runtime", "none"], false),
    ],
    check_tail: parent_e2e::crun_tail_facts,
};

#[test]
fn crun_containers_recorded_under_a_parent_run_under_their_profiles() {
    require!(alone: crun);
    parent_e2e::recorded_under_a_parent_run_under_their_profiles(&CRUN).finish();
}
