//! Podman end to end, with a private Podman (root; Debian's podman 4.3, cgroupfs manager): the
//! shared body of `parent_e2e` (record from the first syscall under `--cgroup-parent`, 10/10
//! under every profile with the unconfined output, set-up calls out, the runtime's tail
//! measured, mkdir denied) for runc and for crun, plus what is Podman's own:
//! - names with no socket (runc case: conmon's command line) and through Podman's API (crun
//!   case: `podman system service`);
//! - profiles in Podman's format, compared with Podman's default (`diff --against
//!   podman-default`);
//! - `record --container NAME` attached to a running Podman container;
//! - a container under Podman's default profile, which answers what it denies with ENOSYS:
//!   recorded, and answered the same by the generated profile.

use crate::common;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::common::parent_e2e::{self, ContainerEngine as _, RUN_TIMEOUT, RuntimeCase};
use crate::common::podman::Podman;
use crate::common::recorder::read_recording;
use sysallow_profile::Abi;
use sysallow_profile::recording::Target;

/// One Podman at a time: the crun one binds v2's controllers to v1 for the whole host, and
/// both remove the global blob cache Podman leaves.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const RUNC: RuntimeCase<Podman> = RuntimeCase {
    name: "runc",
    start: || Podman::start("runc"),
    settings: &[
        (&["--runtime", "runc"], false),
        (&["--runtime", "runc", "--no-new-privileges"], true),
        (&["--runtime", "none"], false),
    ],
    check_tail: parent_e2e::runc_tail_facts,
};

const CRUN: RuntimeCase<Podman> = RuntimeCase {
    name: "crun",
    start: || Podman::start_service("crun"),
    settings: &[
        (&["--runtime", "crun"], false),
        (&["--runtime", "crun", "--no-new-privileges"], true),
        (&["--runtime", "none"], false),
    ],
    check_tail: parent_e2e::crun_tail_facts,
};

/// The recording's engine, as `record` found it.
fn engine_of(rec: &sysallow_profile::Recording) -> Option<&str> {
    match &rec.target {
        Target::Container { engine, .. } => engine.as_ref().map(|e| e.as_str()),
        _ => None,
    }
}

/// What both runtimes share beyond the body: Podman named as the engine, Podman's format, not
/// wider than Podman's default, and `--container NAME` on a running container.
fn podman_specific_checks(recorded: &parent_e2e::Recorded<Podman>) {
    let out = recorded.out.path();
    for name in ["web", "web-nnp", "suite"] {
        let rec = read_recording(&out.join(format!("{name}.rec.json")));
        assert_eq!(engine_of(&rec), Some("podman"), "{name}");
        // Podman's own format: errno names, as containers-common writes them.
        let profile = std::fs::read_to_string(out.join(format!("{name}.json"))).unwrap();
        assert!(profile.contains("\"defaultErrno\""), "{name}: {profile}");
        let diff = common::sysallow()
            .args(["diff", "--against", "podman-default", "--fail-on", "risky"])
            .arg(out.join(format!("{name}.json")))
            .output()
            .unwrap();
        common::assert_success(&diff);
    }

    // Attached to a running container by its name: it idles first, then works, then exits.
    let d = &recorded.d;
    let name = format!("attached-{}", d.runtime());
    let started = d.cli(
        &[
            "run",
            "-d",
            "--name",
            &name,
            &d.own_cgroup_parent(),
            &recorded.image,
            "sh",
            "-c",
            "sleep 2; cat /etc/passwd > /dev/null; sysallow-probe syscalls > /dev/null; sleep 0.5",
        ],
        RUN_TIMEOUT,
    );
    assert!(started.status.success(), "{started}");
    let rec = out.join("attached.rec.json");
    let recorder = parent_e2e::start_recorder(
        d,
        &["--container", &name, "--recording", rec.to_str().unwrap()],
    );
    let status = recorder.wait(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    let rec = read_recording(&rec);
    match &rec.target {
        Target::Container {
            name: Some(found),
            engine: Some(engine),
            runtime: Some(runtime),
            id,
            ..
        } => {
            assert_eq!((found.as_str(), engine.as_str()), (name.as_str(), "podman"));
            assert_eq!(runtime.as_str(), d.runtime());
            assert_eq!(id.len(), 64, "{id}");
        }
        other => panic!("not a named Podman container: {other:?}"),
    }
    let native = &rec.abis[&Abi::X86_64].syscalls;
    for call in ["uname", "getppid", "openat", "read"] {
        assert!(native.contains_key(call), "{call}: {:?}", native.keys());
    }
    let _ = d.cli(&["rm", "-f", &name], RUN_TIMEOUT);
}

#[test]
fn podman_runc_containers_recorded_under_a_parent_run_under_their_profiles() {
    require!(podman("runc"));
    let _serial = serial();
    let recorded = parent_e2e::recorded_under_a_parent_run_under_their_profiles(&RUNC);
    // runc answers what the profile does not allow with the profile's EPERM.
    let denied = recorded.run_under(
        &recorded.out.path().join("web.json"),
        false,
        &["mkdir", "/new-dir"],
    );
    assert!(
        denied.stderr.contains("Operation not permitted"),
        "{denied}"
    );
    podman_specific_checks(&recorded);
    recorded.finish();
}

#[test]
fn podman_crun_containers_recorded_under_a_parent_run_under_their_profiles() {
    require!(podman("crun"), program("unshare", "util-linux"));
    let _serial = serial();
    let recorded = parent_e2e::recorded_under_a_parent_run_under_their_profiles(&CRUN);
    podman_specific_checks(&recorded);
    recorded.finish();
}

/// Under Podman's default profile (containers-common: ENOSYS for what it does not list, such as
/// add_key; EPERM for a few, such as userfaultfd), the probe's denied calls are recorded though
/// they never enter, and the profile generated for Podman gives each the errno Podman's gave:
/// the same output, 10 of 10.
#[test]
fn podman_default_denials_are_recorded_and_answered_the_same() {
    require!(podman("runc"));
    let _serial = serial();
    let mut d = Podman::start("runc");
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-podman-denied-{}", std::process::id());
    let recorder = parent_e2e::start_recorder(
        &d,
        &[
            "--cgroup-parent",
            &parent,
            "-o",
            out.path().to_str().unwrap(),
        ],
    );
    // No --security-opt: Podman's default profile.
    let under_default = d.cli(
        &[
            "run",
            "--rm",
            "--name",
            "denied",
            &format!("--cgroup-parent=/{parent}"),
            &image,
            common::image::PROBE,
            "denied-podman",
        ],
        RUN_TIMEOUT,
    );
    assert!(under_default.status.success(), "{under_default}");
    assert_eq!(
        under_default.stdout,
        "add_key: errno 38\nuserfaultfd: errno 1\n"
    );
    assert!(recorder.interrupt().success());

    let rec = read_recording(&out.path().join("denied.rec.json"));
    let denied = &rec.denied_by_filter[&Abi::X86_64];
    assert!(!rec.abis[&Abi::X86_64].syscalls.contains_key("add_key"));
    // What Podman's default answered, as the probe printed it, is what was recorded.
    for line in under_default.stdout.lines() {
        let (call, errno) = line.split_once(": errno ").expect("probe output");
        let facts = &denied[call];
        match errno {
            "1" => assert!(facts.eperm >= 1, "{call}: {facts:?}"),
            "38" => assert!(facts.enosys >= 1, "{call}: {facts:?}"),
            other => panic!("{call}: errno {other}"),
        }
    }
    let explain = common::sysallow()
        .arg("explain")
        .arg(out.path().join("denied.rec.json"))
        .output()
        .unwrap();
    common::assert_success(&explain);
    assert!(
        common::stdout(&explain).contains("Denied before entry"),
        "{}",
        common::stdout(&explain)
    );
    parent_e2e::assert_probe_runs_alike(
        &d,
        &image,
        &out.path().join("denied.json"),
        "denied-podman",
        10,
        &under_default.stdout,
    );
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}
