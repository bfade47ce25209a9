//! containerd end to end, with a private containerd and `ctr` (root): containers started with
//! `ctr run --cgroup PARENT/ID` are recorded from their first syscall by
//! `record --cgroup-parent`, and their profiles run them with
//! `ctr run --seccomp --seccomp-profile P`: 10/10 with the unconfined output, an unrecorded
//! behaviour denied, no runtime set-up call allowed, and runc's tail (containerd runs runc
//! through its shim) measured; each named `namespace/id` from containerd's own metadata.

use crate::common;

use crate::common::containerd::{self, Containerd};
use crate::common::parent_e2e::{WORK, runtime_tail};
use crate::common::recorder::{Recorder, SETUP_ONLY, profile_names, read_recording};
use sysallow_profile::Abi;

/// Container ids look like Docker's (64 hex digits), so the layouts recognise them.
fn id(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}

#[test]
fn containerd_containers_recorded_under_a_parent_run_under_their_profiles() {
    require!(containerd);
    let mut c = Containerd::start();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-ctr-{}", std::process::id());
    // No engine API answers (no Docker, no Podman here): containerd's own metadata names them.
    let state = c.state().to_string_lossy().into_owned();
    let recorder = Recorder::start_env(
        &[
            "--cgroup-parent",
            &parent,
            "-o",
            out.path().to_str().unwrap(),
        ],
        &[
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
            ("SYSALLOW_CONTAINERD_STATE", &state),
        ],
    );
    // Unconfined, and under containerd's own default profile (`--seccomp`): there runc
    // installs the filter and its tail after it is measured.
    let (plain, confined) = (id(1), id(2));
    let unconfined = c.run(
        &plain,
        &format!("/{parent}/{plain}"),
        &[],
        &["sh", "-c", WORK],
    );
    assert!(unconfined.status.success(), "{unconfined}");
    let under_default = c.run(
        &confined,
        &format!("/{parent}/{confined}"),
        &["--seccomp"],
        &["sh", "-c", WORK],
    );
    assert!(under_default.status.success(), "{under_default}");
    assert!(recorder.interrupt().success());

    let mut profiles = Vec::new();
    for container in [&plain, &confined] {
        // Named `namespace/id` from containerd's metadata; the files `namespace_id`.
        let stem = format!("{}_{container}", containerd::NAMESPACE);
        let rec = read_recording(&out.path().join(format!("{stem}.rec.json")));
        match &rec.target {
            sysallow_profile::recording::Target::Container {
                name: Some(name),
                engine: Some(engine),
                runtime: Some(runtime),
                no_new_privileges,
                ..
            } => {
                assert_eq!(name, &format!("{}/{container}", containerd::NAMESPACE));
                assert_eq!((engine.as_str(), runtime.as_str()), ("containerd", "runc"));
                // ctr's default spec sets no-new-privileges (checked below in the container).
                assert!(no_new_privileges, "{stem}");
            }
            other => panic!("{stem}: {other:?}"),
        }
        assert_eq!(rec.losses.nonzero(), vec![], "{stem}: losses");
        let setup = rec
            .runtime_setup
            .get(&Abi::X86_64)
            .cloned()
            .unwrap_or_default();
        // (ctr's spec sets no hostname: runc makes no sethostname here, unlike under Docker.)
        for call in ["mount", "pivot_root"] {
            assert!(
                setup.contains_key(call),
                "{stem}: {call} not in the set-up: {setup:?}"
            );
        }
        let profile = out.path().join(format!("{stem}.json"));
        common::assert_not_wider_than_docker_default(&profile);
        let allowed = profile_names(&profile);
        for call in SETUP_ONLY {
            assert!(!allowed.iter().any(|n| n == call), "{stem}: allows {call}");
        }
        // The workload's programs, named by the paths they were executed as.
        let programs = rec.programs();
        assert!(
            programs.contains(&"/usr/bin/sysallow-probe"),
            "{stem}: {programs:?}"
        );
        profiles.push((container.clone(), profile, runtime_tail(&rec)));
    }
    // Under containerd's filter runc's tail runs after it, measured. ctr's default spec sets
    // no-new-privileges, so runc installs the filter after dropping privileges: its tail is the
    // short one (no capset, setgroups, setuid), ending in the entrypoint's execve.
    let nnp_id = id(400);
    let nnp = c.run(
        &nnp_id,
        &format!("/{parent}/{nnp_id}"),
        &[],
        &["grep", "NoNewPrivs", "/proc/self/status"],
    );
    assert!(nnp.stdout.contains("NoNewPrivs:\t1"), "{nnp}");
    let tail = &profiles[1].2;
    eprintln!("runc's tail under containerd, measured: {tail:?}");
    assert!(tail.contains("execve"), "{tail:?}");
    for call in SETUP_ONLY
        .iter()
        .chain(&["seccomp", "capset", "setgroups", "setuid"])
    {
        assert!(
            !tail.contains(*call),
            "{call} in runc's measured tail {tail:?}"
        );
    }

    // 10/10 under each profile, with the unconfined output; mkdir denied.
    for (n, (container, profile, _)) in profiles.iter().enumerate() {
        let seccomp = profile.to_string_lossy().into_owned();
        for i in 1..=10 {
            let run_id = id(100 + 20 * n as u32 + i);
            let run = c.run(
                &run_id,
                &format!("/{parent}/{run_id}"),
                &["--seccomp", "--seccomp-profile", &seccomp],
                &["sh", "-c", WORK],
            );
            assert!(run.status.success(), "{container} run {i}/10: {run}");
            assert_eq!(
                run.stdout, unconfined.stdout,
                "{container} run {i}/10: output"
            );
        }
        let run_id = id(300 + n as u32);
        let denied = c.run(
            &run_id,
            &format!("/{parent}/{run_id}"),
            &["--seccomp", "--seccomp-profile", &seccomp],
            &["mkdir", "/new-dir"],
        );
        assert!(
            !denied.status.success(),
            "mkdir ran under {seccomp}: {denied}"
        );
        assert!(
            denied.stderr.contains("Operation not permitted")
                || denied.stdout.contains("Operation not permitted"),
            "{denied}"
        );
    }
    let problems = c.stop();
    assert!(problems.is_empty(), "{problems:?}");
    for mount in common::harness::cgroup_mounts() {
        assert!(
            !mount.join(&parent).exists(),
            "{} left",
            mount.join(&parent).display()
        );
    }
}
