//! Containers end to end, with a private dockerd (root + Docker): record containers from their
//! first syscall under an armed parent, run them under their profiles, and attach to a
//! running container.

mod common;

use std::time::Duration;

use common::docker::{self, Dockerd};
use common::recorder::{Recorder, SETUP_ONLY, profile_names, read_recording};
use profile_gen::Abi;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn containers_recorded_under_a_parent_run_under_their_profiles() {
    if !docker::can_run_docker("containers_recorded_under_a_parent_run_under_their_profiles")
        || !common::can_run_root("containers_recorded_under_a_parent")
    {
        return;
    }
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-e2e-{}", std::process::id());
    let cgroup_parent = format!("--cgroup-parent=/{parent}");
    // The workload: busybox tools and our static probe; and a small test suite, as a user
    // would profile one inside a container.
    let work = "echo hello; cat /etc/passwd | wc -l; ls /bin | head -3; sysallow-probe syscalls";
    let suite = "set -e; test \"$(echo 2+3 | sed s/+/-/)\" = 2-3; \
                 test -x /bin/busybox; grep -q root /etc/passwd; echo suite ok";

    let recorder = Recorder::start(
        &d,
        &[
            "--cgroup-parent",
            &parent,
            "-o",
            out.path().to_str().unwrap(),
        ],
    );
    let unconfined = d.docker_with_timeout(
        &[
            "run",
            "--name",
            "web",
            &cgroup_parent,
            &image,
            "sh",
            "-c",
            work,
        ],
        RUN_TIMEOUT,
    );
    assert!(unconfined.status.success(), "{unconfined}");
    let unconfined_nnp = d.docker_with_timeout(
        &[
            "run",
            "--name",
            "web-nnp",
            &cgroup_parent,
            "--security-opt",
            "no-new-privileges",
            &image,
            "sh",
            "-c",
            work,
        ],
        RUN_TIMEOUT,
    );
    assert!(unconfined_nnp.status.success(), "{unconfined_nnp}");
    let suite_run = d.docker_with_timeout(
        &[
            "run",
            "--name",
            "suite",
            &cgroup_parent,
            &image,
            "sh",
            "-c",
            suite,
        ],
        RUN_TIMEOUT,
    );
    assert!(suite_run.status.success(), "{suite_run}");
    let status = recorder.interrupt();
    assert!(
        status.success(),
        "sysallow record --cgroup-parent: {status}"
    );
    for name in ["web", "web-nnp", "suite"] {
        let _ = d.docker_with_timeout(&["rm", "-f", name], RUN_TIMEOUT);
    }

    // One recording and one profile per container, named after it.
    for name in ["web", "web-nnp", "suite"] {
        let rec = read_recording(&out.path().join(format!("{name}.rec.json")));
        assert_eq!(rec.losses.nonzero(), vec![], "{name}: losses");
        // The boundary was found: the set-up happened, and stayed out of the workload.
        let setup = rec
            .runtime_setup
            .get(&Abi::X86_64)
            .cloned()
            .unwrap_or_default();
        for call in ["mount", "pivot_root", "sethostname"] {
            assert!(
                setup.contains_key(call),
                "{name}: {call} not seen in the set-up: {setup:?}"
            );
        }
        common::assert_not_wider_than_docker_default(&out.path().join(format!("{name}.json")));
        let profile = profile_names(&out.path().join(format!("{name}.json")));
        for call in SETUP_ONLY {
            assert!(
                !profile.iter().any(|n| n == call),
                "{name}: the profile allows the runtime's set-up call {call}"
            );
        }
        // The workload's own calls are there, under its programs.
        let native = &rec.abis[&Abi::X86_64].syscalls;
        assert!(
            native["execve"].programs.len() >= 2,
            "{name}: {:?}",
            native["execve"]
        );
    }
    // The engine told which OCI runtime, and whether no-new-privileges: the profile's tail.
    for (name, nnp) in [("web", false), ("web-nnp", true)] {
        match read_recording(&out.path().join(format!("{name}.rec.json"))).target {
            profile_gen::recording::Target::Container {
                runtime,
                no_new_privileges,
                name: Some(container),
                ..
            } => {
                assert_eq!(runtime.as_deref(), Some("runc"));
                assert_eq!(no_new_privileges, nnp);
                assert_eq!(container, name);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // Without no-new-privileges runc drops privileges after the filter: its tail is recorded.
    let web = read_recording(&out.path().join("web.rec.json"));
    for call in ["capset", "setgroups", "setuid"] {
        let seen = &web.abis[&Abi::X86_64].syscalls[call];
        assert!(
            seen.programs
                .contains_key(profile_gen::recording::CONTAINER_RUNTIME),
            "{call} is not attributed to the runtime: {seen:?}"
        );
    }

    // 20 of 20 under the profile, each way, with the unconfined output.
    let profile = |name: &str| {
        format!(
            "seccomp={}",
            out.path().join(format!("{name}.json")).display()
        )
    };
    for i in 1..=20 {
        let run = d.run(
            &[
                "--rm",
                "--security-opt",
                &profile("web"),
                &image,
                "sh",
                "-c",
                work,
            ],
            RUN_TIMEOUT,
        );
        assert!(run.status.success(), "run {i}/20 under web.json: {run}");
        assert_eq!(run.stdout, unconfined.stdout, "run {i}/20: output differs");
        let run = d.run(
            &[
                "--rm",
                "--security-opt",
                &profile("web-nnp"),
                "--security-opt",
                "no-new-privileges",
                &image,
                "sh",
                "-c",
                work,
            ],
            RUN_TIMEOUT,
        );
        assert!(
            run.status.success(),
            "run {i}/20 under web-nnp.json with NNP: {run}"
        );
        assert_eq!(
            run.stdout, unconfined_nnp.stdout,
            "NNP run {i}/20: output differs"
        );
    }
    for i in 1..=5 {
        let run = d.run(
            &[
                "--rm",
                "--security-opt",
                &profile("suite"),
                &image,
                "sh",
                "-c",
                suite,
            ],
            RUN_TIMEOUT,
        );
        assert!(
            run.status.success(),
            "suite run {i}/5 under suite.json: {run}"
        );
        assert_eq!(run.stdout, "suite ok\n");
    }
    // --args strict: the same containers, 10/10, still within Docker's default.
    for (name, nnp, expected) in [
        ("web", false, &unconfined.stdout),
        ("web-nnp", true, &unconfined_nnp.stdout),
    ] {
        let strict = out.path().join(format!("{name}-strict.json"));
        let g = common::sysallow()
            .arg("generate")
            .arg(out.path().join(format!("{name}.rec.json")))
            .args(["--args", "strict", "-o"])
            .arg(&strict)
            .output()
            .unwrap();
        assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
        common::assert_not_wider_than_docker_default(&strict);
        let seccomp = format!("seccomp={}", strict.display());
        for i in 1..=10 {
            let mut args = vec!["--rm", "--security-opt", &seccomp];
            if nnp {
                args.extend(["--security-opt", "no-new-privileges"]);
            }
            args.extend([image.as_str(), "sh", "-c", work]);
            let run = d.run(&args, RUN_TIMEOUT);
            assert!(run.status.success(), "strict run {i}/10 of {name}: {run}");
            assert_eq!(&run.stdout, expected, "strict run {i}/10 of {name}");
        }
    }
    // The boundary is found the same way when the programs run on the classic tracepoints
    // (the fallback where raw tracepoints are unavailable).
    let fallback = tempfile::tempdir().unwrap();
    let recorder = Recorder::start_with(
        &d,
        &[
            "--cgroup-parent",
            &parent,
            "-o",
            fallback.path().to_str().unwrap(),
        ],
        &[("SYSALLOW_ATTACH", "tracepoint")],
    );
    let run = d.docker_with_timeout(
        &[
            "run",
            "--name",
            "web-tp",
            &cgroup_parent,
            &image,
            "sh",
            "-c",
            work,
        ],
        RUN_TIMEOUT,
    );
    assert!(run.status.success(), "{run}");
    assert!(recorder.interrupt().success());
    let _ = d.docker_with_timeout(&["rm", "-f", "web-tp"], RUN_TIMEOUT);
    let rec = read_recording(&fallback.path().join("web-tp.rec.json"));
    assert!(rec.runtime_setup[&Abi::X86_64].contains_key("pivot_root"));
    let capset = &rec.abis[&Abi::X86_64].syscalls["capset"];
    assert!(
        capset
            .programs
            .contains_key(profile_gen::recording::CONTAINER_RUNTIME)
    );
    let run = d.run(
        &[
            "--rm",
            "--security-opt",
            &format!("seccomp={}", fallback.path().join("web-tp.json").display()),
            &image,
            "sh",
            "-c",
            work,
        ],
        RUN_TIMEOUT,
    );
    assert!(run.status.success(), "under the fallback's profile: {run}");

    // Regenerated from the recording with each runtime setting, the profile still starts the
    // container (the measured tail is in the recording; the data tails add to it).
    let settings: [(&[&str], bool); 4] = [
        (&["--runtime", "runc"], false),
        (&["--runtime", "runc@1.1.5"], false),
        (&["--runtime", "runc", "--no-new-privileges"], true),
        (&["--runtime", "none"], false),
    ];
    for (flags, nnp) in settings {
        let regenerated = out.path().join("regenerated.json");
        let gen_out = common::sysallow()
            .arg("generate")
            .arg(out.path().join(if nnp {
                "web-nnp.rec.json"
            } else {
                "web.rec.json"
            }))
            .args(flags)
            .arg("-o")
            .arg(&regenerated)
            .output()
            .unwrap();
        assert!(
            gen_out.status.success(),
            "{}",
            String::from_utf8_lossy(&gen_out.stderr)
        );
        let opt = format!("seccomp={}", regenerated.display());
        let mut args = vec!["--rm", "--security-opt", opt.as_str()];
        if nnp {
            args.extend(["--security-opt", "no-new-privileges"]);
        }
        args.extend([image.as_str(), "sh", "-c", work]);
        let run = d.run(&args, RUN_TIMEOUT);
        assert!(run.status.success(), "generate {flags:?}: {run}");
    }

    // What the workload never did is denied.
    let denied = d.run(
        &[
            "--rm",
            "--security-opt",
            &profile("web"),
            &image,
            "mkdir",
            "/new-dir",
        ],
        RUN_TIMEOUT,
    );
    assert!(
        !denied.status.success(),
        "mkdir ran under web.json: {denied}"
    );
    assert!(
        denied.stderr.contains("Operation not permitted"),
        "{denied}"
    );
    assert!(!denied.timed_out);

    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
    let v2 = docker::cgroup2_mount().unwrap();
    assert!(
        !v2.join(&parent).exists(),
        "the armed parent was left behind"
    );
}

#[test]
fn attaching_to_a_running_container_records_its_later_activity_until_it_exits() {
    if !docker::can_run_docker("attaching_to_a_running_container") {
        return;
    }
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let dir = tempfile::tempdir().unwrap();
    // It idles first (so recording starts mid-run), then reads a file, then exits.
    let container = d.run_detached(&[
        &image,
        "sh",
        "-c",
        "sleep 1.5; cat /etc/passwd > /dev/null; sysallow-probe syscalls > /dev/null; sleep 0.5",
    ]);
    let rec = dir.path().join("attached.rec.json");
    let recorder = Recorder::start(
        &d,
        &[
            "--container",
            &container.name,
            "--recording",
            rec.to_str().unwrap(),
        ],
    );
    // No --duration and no Ctrl-C: the recording ends when the container does.
    let status = recorder.wait(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    let rec = read_recording(&rec);
    match &rec.target {
        profile_gen::recording::Target::Container { id, name, .. } => {
            assert_eq!(id, &container.id);
            assert_eq!(name.as_deref(), Some(container.name.as_str()));
        }
        other => panic!("not a container target: {other:?}"),
    }
    let native = &rec.abis[&Abi::X86_64].syscalls;
    // The probe's fixed set, and the cat, made after sysallow attached.
    for call in ["uname", "getppid", "openat", "read"] {
        assert!(
            native.contains_key(call),
            "{call} missing: {:?}",
            native.keys()
        );
    }
    assert!(
        native["uname"]
            .programs
            .contains_key("/usr/bin/sysallow-probe")
    );
    // The shell was already running: it was adopted under its own program.
    assert!(
        native["wait4"]
            .programs
            .keys()
            .any(|p| p.ends_with("busybox")),
        "{:?}",
        native["wait4"]
    );
    let _ = d.docker_with_timeout(&["rm", "-f", &container.name], RUN_TIMEOUT);
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}

/// A static program has no imports to read: only recordings find its timing-dependent paths.
/// The probe's `late` client polls only when its peer has not answered yet (4 of 10 quiet
/// runs, 9 of 10 stressed ones, measured). Recorded as the README says (`--stress`, a few
/// runs, merged), its profile runs it 20/20 with every core busy.
#[test]
fn a_static_client_whose_wait_depends_on_timing_runs_20_of_20_on_a_busy_machine() {
    if !docker::can_run_docker("static_timing_client")
        || !common::can_run_root("static_timing_client")
    {
        return;
    }
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-late-{}", std::process::id());
    let cgroup_parent = format!("--cgroup-parent=/{parent}");
    let recorder = Recorder::start(
        &d,
        &[
            "--stress",
            "--cgroup-parent",
            &parent,
            "-o",
            out.path().to_str().unwrap(),
        ],
    );
    for run in 1..=3 {
        let name = format!("late-{run}");
        let o = d.docker_with_timeout(
            &[
                "run",
                "--rm",
                "--name",
                &name,
                &cgroup_parent,
                &image,
                docker::PROBE,
                "late",
            ],
            RUN_TIMEOUT,
        );
        assert!(o.status.success() && o.stdout == "pong\n", "{o}");
    }
    assert!(recorder.interrupt().success());
    let recordings: Vec<String> = (1..=3)
        .map(|run| {
            out.path()
                .join(format!("late-{run}.rec.json"))
                .display()
                .to_string()
        })
        .collect();
    let merged = out.path().join("late.rec.json");
    let profile = out.path().join("late.json");
    let m = common::sysallow()
        .arg("merge")
        .args(&recordings)
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let g = common::sysallow()
        .arg("generate")
        .arg(&merged)
        .arg("-o")
        .arg(&profile)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    common::assert_not_wider_than_docker_default(&profile);
    let names = profile_names(&profile);
    assert!(names.iter().any(|n| n == "poll"), "{names:?}");

    let seccomp = format!("seccomp={}", profile.display());
    let _busy = common::Busy::start();
    for i in 1..=20 {
        let o = d.run(
            &[
                "--rm",
                "--security-opt",
                &seccomp,
                &image,
                docker::PROBE,
                "late",
            ],
            RUN_TIMEOUT,
        );
        assert!(
            o.status.success() && o.stdout == "pong\n",
            "run {i} of 20 under the profile: {o}"
        );
    }
}

/// Recorded under Docker's default profile, a container calls syscalls that profile denies
/// (keyctl: EPERM, clone3: ENOSYS). They never reach sys_enter, yet the recording has them,
/// explain shows them, and the generated profile answers them with the same errno even where
/// its own default errno differs, so the container's output is the same under both.
#[test]
fn syscalls_denied_by_a_filter_already_in_place_are_recorded_and_answered_the_same() {
    if !docker::can_run_docker("filter_in_place") || !common::can_run_root("filter_in_place") {
        return;
    }
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-denied-{}", std::process::id());
    let recorder = Recorder::start(
        &d,
        &[
            "--cgroup-parent",
            &parent,
            "-o",
            out.path().to_str().unwrap(),
        ],
    );
    let cgroup_parent = format!("--cgroup-parent=/{parent}");
    let docker_default = format!("seccomp={}", common::docker_default_profile().display());
    let under_default = d.docker_with_timeout(
        &[
            "run",
            "--rm",
            "--name",
            "denied",
            &cgroup_parent,
            "--security-opt",
            &docker_default,
            &image,
            docker::PROBE,
            "denied",
        ],
        RUN_TIMEOUT,
    );
    assert!(under_default.status.success(), "{under_default}");
    assert_eq!(under_default.stdout, "keyctl: errno 1\nclone3: errno 38\n");
    assert!(recorder.interrupt().success());

    let rec = read_recording(&out.path().join("denied.rec.json"));
    let denied = &rec.denied_by_filter[&Abi::X86_64];
    assert!(denied["keyctl"].eperm >= 1, "{denied:?}");
    assert!(denied["clone3"].enosys >= 1, "{denied:?}");
    assert!(
        !rec.abis[&Abi::X86_64].syscalls.contains_key("keyctl"),
        "keyctl never entered"
    );
    let explain = common::sysallow()
        .arg("explain")
        .arg(out.path().join("denied.rec.json"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(
        text.contains("Denied before entry") && text.contains("keyctl (EPERM"),
        "{text}"
    );

    // A profile whose default errno is ENOSYS still gives keyctl the EPERM it got.
    let profile = out.path().join("enosys-default.json");
    let g = common::sysallow()
        .arg("generate")
        .arg(out.path().join("denied.rec.json"))
        .args(["--default-errno", "enosys", "-o"])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let seccomp = format!("seccomp={}", profile.display());
    for i in 1..=10 {
        let run = d.run(
            &[
                "--rm",
                "--security-opt",
                &seccomp,
                &image,
                docker::PROBE,
                "denied",
            ],
            RUN_TIMEOUT,
        );
        assert!(run.status.success(), "run {i}/10: {run}");
        assert_eq!(
            run.stdout, under_default.stdout,
            "run {i}/10: output differs"
        );
    }
    // Docker 20.10 ignores defaultErrnoRet (FIELD-NOTES), so the default errno is tested where
    // it is honoured: the same profile enforced by sysallow on the same static probe.
    let probe = out.path().join("probe");
    docker::build_probe(&probe);
    let run = common::sysallow()
        .args(["run", "--profile"])
        .arg(&profile)
        .arg("--")
        .arg(&probe)
        .arg("denied")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        under_default.stdout,
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
