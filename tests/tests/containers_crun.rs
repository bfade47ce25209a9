//! Containers under crun end to end, with a private dockerd (root + Docker + crun): the
//! harness's crun daemon itself, then the runc test of containers.rs again with
//! `--runtime crun`: record containers from their first syscall under an armed parent and run
//! them under their profiles.
//!
//! crun 1.8.1 needs a hybrid-cgroup workaround to run at all here (see
//! `DockerdOptions::crun`); FIELD-NOTES ("Containers and runtimes"): crun needs only execve
//! after its filter with no-new-privileges, and answers the default errno (not ENOSYS) for
//! numbers above the profile's highest.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::docker::{self, Dockerd, PROBE};
use common::recorder::{Recorder, SETUP_ONLY, profile_names, read_recording};
use profile_gen::recording::CONTAINER_RUNTIME;
use profile_gen::{Abi, Recording};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The tests here run one at a time: a crun daemon binds the v2 controllers to v1 for the whole
/// host while it runs, and the first test checks that they come back after its daemon stops.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The syscalls a recording attributes to the runtime after its filter (its tail).
fn runtime_tail(rec: &Recording) -> BTreeSet<String> {
    rec.abis
        .values()
        .flat_map(|abi| abi.syscalls.iter())
        .filter(|(_, seen)| seen.programs.contains_key(CONTAINER_RUNTIME))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The controllers cgroup v2 offers now (empty while a crun daemon binds them to v1).
fn v2_controllers() -> Vec<String> {
    let v2 = docker::cgroup2_mount().expect("cgroup v2 mount");
    std::fs::read_to_string(v2.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn crun_daemon_runs_containers_and_leaves_nothing_behind() {
    if !docker::can_run_crun("crun_daemon_runs_containers_and_leaves_nothing_behind") {
        return;
    }
    let _serial = serial();
    let before = v2_controllers();
    let mut d = Dockerd::start_with_crun();
    // The workaround's point: nothing left in v2 for crun to refuse (hybrid host).
    if docker::cgroup2_mount().is_some_and(|m| m != Path::new("/sys/fs/cgroup")) {
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
    let helpers = docker::processes_mentioning(&root_str);
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
    let v2 = docker::cgroup2_mount().unwrap();
    let parent = v2.join(d.cgroup_parent());

    let problems = d.stop();
    assert!(problems.is_empty(), "clean-up problems: {problems:?}");
    assert!(!docker::pid_alive(dockerd_pid), "dockerd still alive");
    for pid in helpers {
        assert!(!docker::pid_alive(pid), "helper {pid} still alive");
    }
    assert!(!docker::pid_alive(c.pid as i32), "container init alive");
    assert!(docker::processes_in_mount_ns(&ns).is_empty());
    assert!(docker::processes_mentioning(&root_str).is_empty());
    assert!(docker::mounts_under(&root).is_empty());
    assert!(!root.exists(), "{root_str} left behind");
    for mount in docker::cgroup_mounts() {
        let dir = mount.join(parent.strip_prefix(&v2).unwrap());
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
    // The controllers are back in v2 (stop waited for them).
    assert_eq!(v2_controllers(), before, "v2 controllers not restored");
}

#[test]
fn crun_daemon_cleans_up_when_a_test_panics() {
    if !docker::can_run_crun("crun_daemon_cleans_up_when_a_test_panics") {
        return;
    }
    let _serial = serial();
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
    assert!(!docker::pid_alive(pid), "dockerd {pid} survived the panic");
    assert!(
        !docker::pid_alive(init as i32),
        "container init {init} survived"
    );
    let left = docker::processes_in_mount_ns(&ns.to_string_lossy());
    assert!(left.is_empty(), "left in the daemon's namespace: {left:?}");
    assert!(!root.exists(), "{} left behind", root.display());
    assert_eq!(v2_controllers(), before, "v2 controllers not restored");
}

#[test]
fn crun_containers_recorded_under_a_parent_run_under_their_profiles() {
    if !docker::can_run_crun("crun_containers_recorded_under_a_parent")
        || !common::can_run_root("crun_containers_recorded_under_a_parent")
    {
        return;
    }
    let _serial = serial();
    let mut d = Dockerd::start_with_crun();
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-e2e-crun-{}", std::process::id());
    let cgroup_parent = format!("--cgroup-parent=/{parent}");
    let work = "echo hello; cat /etc/passwd | wc -l; ls /bin | head -3; sysallow-probe syscalls";

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
            "--runtime",
            "crun",
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
            "--runtime",
            "crun",
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
    let status = recorder.interrupt();
    assert!(
        status.success(),
        "sysallow record --cgroup-parent: {status}"
    );
    for name in ["web", "web-nnp"] {
        let _ = d.docker_with_timeout(&["rm", "-f", name], RUN_TIMEOUT);
    }

    // One recording and one profile per container, named after it.
    for name in ["web", "web-nnp"] {
        let rec = read_recording(&out.path().join(format!("{name}.rec.json")));
        eprintln!("{name}: target {:?}", rec.target);
        assert_eq!(rec.losses.nonzero(), vec![], "{name}: losses");
        // The boundary was found: the set-up happened, and stayed out of the workload.
        let setup = rec
            .runtime_setup
            .get(&Abi::X86_64)
            .cloned()
            .unwrap_or_default();
        eprintln!(
            "{name}: crun set-up ({} distinct): {:?}",
            setup.len(),
            setup.keys().collect::<Vec<_>>()
        );
        for call in ["mount", "pivot_root", "sethostname"] {
            assert!(
                setup.contains_key(call),
                "{name}: {call} not seen in the set-up: {setup:?}"
            );
        }
        // The engine said which OCI runtime started it, so record's own profile carries
        // crun's tail, not runc's (capget, setgroups: runc-only tail calls).
        match &rec.target {
            profile_gen::recording::Target::Container {
                runtime,
                no_new_privileges,
                ..
            } => {
                assert_eq!(runtime.as_deref(), Some("crun"), "{name}");
                assert_eq!(*no_new_privileges, name == "web-nnp", "{name}");
            }
            other => panic!("{name}: not a container target: {other:?}"),
        }
        common::assert_not_wider_than_docker_default(&out.path().join(format!("{name}.json")));
        let profile = profile_names(&out.path().join(format!("{name}.json")));
        for call in ["capget", "setgroups"] {
            assert!(
                !profile.iter().any(|n| n == call),
                "{name}: the profile has runc's tail call {call}"
            );
        }
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
        // crun's tail: what it did between its filter and the workload's exec.
        let tail = runtime_tail(&rec);
        eprintln!("{name}: crun tail (attributed to {CONTAINER_RUNTIME}): {tail:?}");
        assert!(tail.contains("execve"), "{name}: tail {tail:?}");
        for call in SETUP_ONLY.iter().chain(&["seccomp"]) {
            assert!(!tail.contains(*call), "{name}: {call} in the tail {tail:?}");
        }
    }
    // With no-new-privileges crun installs its filter just before the exec: its tail is a
    // few calls (FIELD-NOTES: execve; crun 1.8.1 measured here: close, execve), and no more
    // than without it (then it still drops privileges after the filter).
    let tail = runtime_tail(&read_recording(&out.path().join("web.rec.json")));
    let nnp_tail = runtime_tail(&read_recording(&out.path().join("web-nnp.rec.json")));
    assert!(
        nnp_tail.len() <= 3 && nnp_tail.is_subset(&tail),
        "crun's tail with no-new-privileges {nnp_tail:?}, without {tail:?}"
    );

    // Regenerated with crun's setting (`generate --runtime crun`, with and without
    // `--no-new-privileges`): crun's measured tail instead of runc's data tails, which
    // `record` adds because the recording names the engine (docker), not crun.
    let generate = |rec: &str, flags: &[&str], to: &str| {
        let path = out.path().join(to);
        let gen_out = common::sysallow()
            .arg("generate")
            .arg(out.path().join(rec))
            .args(flags)
            .arg("-o")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            gen_out.status.success(),
            "generate {flags:?}: {}",
            String::from_utf8_lossy(&gen_out.stderr)
        );
        let recorded = profile_names(&out.path().join(rec.replace(".rec.json", ".json")));
        let names = profile_names(&path);
        eprintln!(
            "generate {rec} {flags:?}: {} allowed, record's profile {}: only in record's \
             {:?}, only here {:?}; stderr: {}",
            names.len(),
            recorded.len(),
            recorded
                .iter()
                .filter(|n| !names.contains(n))
                .collect::<Vec<_>>(),
            names
                .iter()
                .filter(|n| !recorded.contains(n))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&gen_out.stderr).trim()
        );
        for call in SETUP_ONLY {
            assert!(!names.iter().any(|n| n == call), "{to}: allows {call}");
        }
        to.to_owned()
    };
    let crun = generate("web.rec.json", &["--runtime", "crun"], "crun.json");
    let crun_nnp = generate(
        "web-nnp.rec.json",
        &["--runtime", "crun", "--no-new-privileges"],
        "crun-nnp.json",
    );
    let none = generate("web.rec.json", &["--runtime", "none"], "none.json");

    // 20 of 20 under each profile, with and without no-new-privileges as recorded, with the
    // unconfined output.
    let profile = |file: &str| format!("seccomp={}", out.path().join(file).display());
    let run_under = |file: &str, nnp: bool, cmd: &[&str]| {
        let opt = profile(file);
        let mut args = vec!["--rm", "--runtime", "crun", "--security-opt", opt.as_str()];
        if nnp {
            args.extend(["--security-opt", "no-new-privileges"]);
        }
        args.push(image.as_str());
        args.extend_from_slice(cmd);
        d.run(&args, RUN_TIMEOUT)
    };
    let cases = [
        ("web.json", false, &unconfined.stdout),
        ("web-nnp.json", true, &unconfined_nnp.stdout),
        (crun.as_str(), false, &unconfined.stdout),
        (crun_nnp.as_str(), true, &unconfined_nnp.stdout),
    ];
    for i in 1..=20 {
        for (file, nnp, expected) in cases {
            let run = run_under(file, nnp, &["sh", "-c", work]);
            assert!(
                run.status.success(),
                "run {i}/20 under {file} (nnp {nnp}): {run}"
            );
            assert_eq!(
                &run.stdout, expected,
                "run {i}/20 under {file} (nnp {nnp}): output differs"
            );
        }
    }
    // --args strict, 10/10 each way, within Docker's default.
    let strict = generate("web.rec.json", &["--args", "strict"], "strict.json");
    let strict_nnp = generate("web-nnp.rec.json", &["--args", "strict"], "strict-nnp.json");
    for (file, nnp, expected) in [
        (strict.as_str(), false, &unconfined.stdout),
        (strict_nnp.as_str(), true, &unconfined_nnp.stdout),
    ] {
        common::assert_not_wider_than_docker_default(&out.path().join(file));
        for i in 1..=10 {
            let run = run_under(file, nnp, &["sh", "-c", work]);
            assert!(
                run.status.success(),
                "strict run {i}/10 under {file}: {run}"
            );
            assert_eq!(&run.stdout, expected, "strict run {i}/10 under {file}");
        }
    }
    let run = run_under(&none, false, &["sh", "-c", work]);
    assert!(run.status.success(), "under {none}: {run}");
    assert_eq!(run.stdout, unconfined.stdout, "under {none}");

    // What the workload never did is denied (crun answers EPERM or ENOSYS: no fixed errno).
    for (file, nnp, _) in cases {
        let denied = run_under(file, nnp, &["mkdir", "/new-dir"]);
        assert!(!denied.timed_out, "{denied}");
        assert!(!denied.status.success(), "mkdir ran under {file}: {denied}");
        assert!(denied.stderr.contains("mkdir"), "{denied}");
    }

    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
    for mount in docker::cgroup_mounts() {
        let dir = mount.join(&parent);
        assert!(!dir.exists(), "the armed parent {} was left", dir.display());
    }
}
