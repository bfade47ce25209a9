//! One end-to-end body for every engine and OCI runtime run here (Docker and Podman, each with
//! runc and crun): record containers from their first syscall under an armed parent, then run
//! them under their profiles. The engine is a [`ContainerEngine`] (both CLIs take the same
//! `run` flags used here); the runtime-specific facts (which tail, which `generate --runtime`
//! settings) are data in a [`RuntimeCase`]; everything else is asserted the same way for each.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use sysallow_profile::recording::{CONTAINER_RUNTIME, Target};
use sysallow_profile::{Abi, Recording};

use super::docker::Dockerd;
use super::harness::{self, Output};
use super::image;
use super::podman::Podman;
use super::recorder::{Recorder, SETUP_ONLY, profile_names, read_recording};

/// What the shared body needs of an engine.
pub trait ContainerEngine {
    /// `CLI ARGS` (`docker`, `podman`), bounded by `timeout`.
    fn cli(&self, args: &[&str], timeout: Duration) -> Output;
    /// `CLI run --name <unique> ARGS`, bounded, the container removed on timeout.
    fn run(&self, args: &[&str], timeout: Duration) -> Output;
    fn import_test_image(&mut self) -> String;
    /// The `run` flags that choose OCI runtime `name` (none where the engine's configuration
    /// already did: `podman run` has no `--runtime`).
    fn runtime_flags(&self, name: &'static str) -> Vec<&'static str>;
    /// The environment `sysallow record` gets, so that it asks this engine and no other.
    fn recorder_env(&self) -> Vec<(String, String)>;
    /// Stop it and everything it started; what could not be cleaned.
    fn stop(self) -> Vec<String>;
}

impl ContainerEngine for Dockerd {
    fn cli(&self, args: &[&str], timeout: Duration) -> Output {
        self.docker_with_timeout(args, timeout)
    }
    fn run(&self, args: &[&str], timeout: Duration) -> Output {
        Dockerd::run(self, args, timeout)
    }
    fn import_test_image(&mut self) -> String {
        Dockerd::import_test_image(self)
    }
    fn runtime_flags(&self, name: &'static str) -> Vec<&'static str> {
        vec!["--runtime", name]
    }
    fn recorder_env(&self) -> Vec<(String, String)> {
        vec![("DOCKER_HOST".to_owned(), self.host())]
    }
    fn stop(self) -> Vec<String> {
        Dockerd::stop(self)
    }
}

impl ContainerEngine for Podman {
    fn cli(&self, args: &[&str], timeout: Duration) -> Output {
        self.podman(args, timeout)
    }
    fn run(&self, args: &[&str], timeout: Duration) -> Output {
        Podman::run(self, args, timeout)
    }
    fn import_test_image(&mut self) -> String {
        Podman::import_test_image(self)
    }
    fn runtime_flags(&self, name: &'static str) -> Vec<&'static str> {
        assert_eq!(
            name,
            self.runtime(),
            "this Podman was configured with another runtime"
        );
        Vec::new()
    }
    fn recorder_env(&self) -> Vec<(String, String)> {
        // No Docker; Podman's API when it runs one, else no socket at all (conmon names).
        let none = "unix:///nonexistent/engine.sock".to_owned();
        vec![
            ("DOCKER_HOST".to_owned(), none.clone()),
            ("CONTAINER_HOST".to_owned(), self.host().unwrap_or(none)),
        ]
    }
    fn stop(self) -> Vec<String> {
        Podman::stop(self)
    }
}

pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The workload: busybox tools and our static probe.
pub const WORK: &str =
    "echo hello; cat /etc/passwd | wc -l; ls /bin | head -3; sysallow-probe syscalls";
/// A small test suite, as a user would profile one inside a container.
const SUITE: &str = "set -e; test \"$(echo 2+3 | sed s/+/-/)\" = 2-3; \
                     test -x /bin/busybox; grep -q root /etc/passwd; echo suite ok";

/// `sysallow record ARGS` asking `d` (and no other engine) for names.
pub fn start_recorder<E: ContainerEngine>(d: &E, args: &[&str]) -> Recorder {
    let env = d.recorder_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Recorder::start_env(args, &env)
}

/// `times` runs of `PROBE mode` in `image` under `profile` (`run --rm`), each of which must
/// succeed with `expected` on stdout.
pub fn assert_probe_runs_alike<E: ContainerEngine>(
    d: &E,
    image: &str,
    profile: &std::path::Path,
    mode: &str,
    times: u32,
    expected: &str,
) {
    let seccomp = format!("seccomp={}", profile.display());
    for i in 1..=times {
        let run = d.run(
            &[
                "--rm",
                "--security-opt",
                &seccomp,
                image,
                image::PROBE,
                mode,
            ],
            RUN_TIMEOUT,
        );
        assert!(run.status.success(), "run {i}/{times}: {run}");
        assert_eq!(run.stdout, expected, "run {i}/{times}: output differs");
    }
}

/// What differs between OCI runtimes.
pub struct RuntimeCase<E> {
    /// The runtime's name (Docker's `--runtime`), and what the recording's target names.
    pub name: &'static str,
    /// An engine that can run containers with it.
    pub start: fn() -> E,
    /// `generate` flags whose profiles must start the recorded container too, and whether
    /// that container ran with no-new-privileges.
    pub settings: &'static [(&'static [&'static str], bool)],
    /// The runtime's own facts about its tail (what it did between its filter and the
    /// workload's exec): the tails without and with no-new-privileges, and the profile
    /// recorded without it.
    pub check_tail: fn(tail: &BTreeSet<String>, nnp_tail: &BTreeSet<String>, profile: &[String]),
}

/// runc's tail, whichever engine runs it: without no-new-privileges runc drops privileges after
/// its filter, so its tail has capset, setgroups and setuid (FIELD-NOTES, "runc's post-filter
/// syscalls"); with it runc drops them before. (Its Go runtime's signals, tgkill and
/// rt_sigreturn, come and go with timing: no subset check.)
pub fn runc_tail_facts(tail: &BTreeSet<String>, nnp_tail: &BTreeSet<String>, _profile: &[String]) {
    for call in ["capset", "setgroups", "setuid"] {
        assert!(tail.contains(call), "{call} not in runc's tail {tail:?}");
        assert!(
            !nnp_tail.contains(call),
            "{call} in runc's NNP tail {nnp_tail:?}"
        );
    }
}

/// crun's tail: with no-new-privileges it installs its filter just before the exec, so its
/// tail is a few calls (FIELD-NOTES: execve; crun 1.8.1 measured here: close, execve), and no
/// more than without it (then it still drops privileges after the filter). runc-only tail
/// calls (capget, setgroups) stay out of the profile: the engine named crun.
pub fn crun_tail_facts(tail: &BTreeSet<String>, nnp_tail: &BTreeSet<String>, profile: &[String]) {
    assert!(
        nnp_tail.len() <= 3 && nnp_tail.is_subset(tail),
        "crun's tail with no-new-privileges {nnp_tail:?}, without {tail:?}"
    );
    for call in ["capget", "setgroups"] {
        assert!(
            !profile.iter().any(|n| n == call),
            "the profile has runc's tail call {call}"
        );
    }
}

/// The syscalls a recording attributes to the runtime after its filter (its tail).
pub fn runtime_tail(rec: &Recording) -> BTreeSet<String> {
    rec.abis
        .values()
        .flat_map(|abi| abi.syscalls.iter())
        .filter(|(_, seen)| seen.programs.contains_key(CONTAINER_RUNTIME))
        .map(|(name, _)| name.clone())
        .collect()
}

/// What the shared body leaves for a runtime's own extra checks; `finish` stops the daemon
/// and checks that nothing is left.
pub struct Recorded<E: ContainerEngine> {
    pub d: E,
    pub image: String,
    pub out: tempfile::TempDir,
    /// The armed parent cgroup, relative to the hierarchies' roots.
    pub parent: String,
    /// `run` arguments that put a container under the case's runtime.
    pub runtime: Vec<&'static str>,
}

impl<E: ContainerEngine> Recorded<E> {
    pub fn cgroup_parent(&self) -> String {
        format!("--cgroup-parent=/{}", self.parent)
    }

    pub fn finish(self) {
        let problems = self.d.stop();
        assert!(problems.is_empty(), "{problems:?}");
        for mount in harness::cgroup_mounts() {
            let dir = mount.join(&self.parent);
            assert!(!dir.exists(), "the armed parent {} was left", dir.display());
        }
    }
}

/// Record `web` (plain), `web-nnp` (no-new-privileges) and `suite` containers of `case`'s
/// runtime under one armed parent, check their recordings, and run each 10/10 under its
/// profiles with the unconfined output.
pub fn recorded_under_a_parent_run_under_their_profiles<E: ContainerEngine>(
    case: &RuntimeCase<E>,
) -> Recorded<E> {
    let mut d = (case.start)();
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-e2e-{}-{}", case.name, std::process::id());
    let runtime = d.runtime_flags(case.name);
    let rec = Recorded {
        d,
        image,
        out,
        parent,
        runtime,
    };
    let (d, image, out) = (&rec.d, rec.image.as_str(), rec.out.path());
    let cgroup_parent = rec.cgroup_parent();

    let recorder = start_recorder(
        d,
        &["--cgroup-parent", &rec.parent, "-o", out.to_str().unwrap()],
    );
    let unconfined_run = |name: &str, nnp: bool, script: &str| {
        let mut args = vec!["run", "--name", name, &cgroup_parent];
        args.extend(&rec.runtime);
        if nnp {
            args.extend(["--security-opt", "no-new-privileges"]);
        }
        args.extend([image, "sh", "-c", script]);
        let run = d.cli(&args, RUN_TIMEOUT);
        assert!(run.status.success(), "{name}: {run}");
        run.stdout
    };
    let unconfined = unconfined_run("web", false, WORK);
    let unconfined_nnp = unconfined_run("web-nnp", true, WORK);
    assert_eq!(unconfined_run("suite", false, SUITE), "suite ok\n");
    // Removed first: an exited Podman container keeps its cgroup until then, and the
    // recorder removes the parent it made when it stops.
    for name in ["web", "web-nnp", "suite"] {
        let _ = d.cli(&["rm", "-f", name], RUN_TIMEOUT);
    }
    let status = recorder.interrupt();
    assert!(
        status.success(),
        "sysallow record --cgroup-parent: {status}"
    );

    // One recording and one profile per container, named after it.
    for name in ["web", "web-nnp", "suite"] {
        let recording = read_recording(&out.join(format!("{name}.rec.json")));
        assert_eq!(recording.losses.nonzero(), vec![], "{name}: losses");
        // The boundary was found: the set-up happened, and stayed out of the workload.
        let setup = recording
            .runtime_setup
            .get(&Abi::X86_64)
            .cloned()
            .unwrap_or_default();
        eprintln!(
            "{name}: {} set-up ({} distinct): {:?}",
            case.name,
            setup.len(),
            setup.keys().collect::<Vec<_>>()
        );
        for call in ["mount", "pivot_root", "sethostname"] {
            assert!(
                setup.contains_key(call),
                "{name}: {call} not seen in the set-up: {setup:?}"
            );
        }
        // The engine said which OCI runtime started it, and whether with no-new-privileges:
        // record's own profile carries that runtime's tail.
        match &recording.target {
            Target::Container {
                runtime,
                no_new_privileges,
                name: Some(container),
                ..
            } => {
                assert_eq!(
                    runtime.as_ref().map(|r| r.as_str()),
                    Some(case.name),
                    "{name}"
                );
                assert_eq!(*no_new_privileges, name == "web-nnp", "{name}");
                assert_eq!(container, name);
            }
            other => panic!("{name}: not a named container target: {other:?}"),
        }
        let profile = out.join(format!("{name}.json"));
        super::assert_not_wider_than_docker_default(&profile);
        let allowed = profile_names(&profile);
        for call in SETUP_ONLY {
            assert!(
                !allowed.iter().any(|n| n == call),
                "{name}: the profile allows the runtime's set-up call {call}"
            );
        }
        // The workload's own calls are there, under its programs.
        let native = &recording.abis[&Abi::X86_64].syscalls;
        assert!(
            native["execve"].programs.len() >= 2,
            "{name}: {:?}",
            native["execve"]
        );
        let tail = runtime_tail(&recording);
        eprintln!("{name}: {} tail (measured): {tail:?}", case.name);
        assert!(tail.contains("execve"), "{name}: tail {tail:?}");
        for call in SETUP_ONLY.iter().chain(&["seccomp"]) {
            assert!(!tail.contains(*call), "{name}: {call} in the tail {tail:?}");
        }
    }
    (case.check_tail)(
        &runtime_tail(&read_recording(&out.join("web.rec.json"))),
        &runtime_tail(&read_recording(&out.join("web-nnp.rec.json"))),
        &profile_names(&out.join("web.json")),
    );

    // Regenerated from the recording with each of the runtime's settings, and with
    // `--args strict`: every profile stays free of set-up calls.
    let generate = |from: &str, flags: &[&str], to: &str| -> PathBuf {
        let path = out.join(to);
        let g = super::sysallow()
            .arg("generate")
            .arg(out.join(from))
            .args(flags)
            .arg("-o")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            g.status.success(),
            "generate {flags:?}: {}",
            super::stderr(&g)
        );
        let allowed = profile_names(&path);
        for call in SETUP_ONLY {
            assert!(!allowed.iter().any(|n| n == call), "{to}: allows {call}");
        }
        path
    };
    let mut cases: Vec<(PathBuf, bool, &str)> = vec![
        (out.join("web.json"), false, &unconfined),
        (out.join("web-nnp.json"), true, &unconfined_nnp),
    ];
    for (i, (flags, nnp)) in case.settings.iter().enumerate() {
        let from = if *nnp {
            "web-nnp.rec.json"
        } else {
            "web.rec.json"
        };
        let expected = if *nnp { &unconfined_nnp } else { &unconfined };
        cases.push((
            generate(from, flags, &format!("setting-{i}.json")),
            *nnp,
            expected,
        ));
    }
    for (from, nnp, expected) in [
        ("web.rec.json", false, &unconfined),
        ("web-nnp.rec.json", true, &unconfined_nnp),
    ] {
        let strict = generate(
            from,
            &["--args", "strict"],
            &from.replace(".rec.", "-strict."),
        );
        super::assert_not_wider_than_docker_default(&strict);
        cases.push((strict, nnp, expected));
    }

    // 10 of 10 under each profile, with and without no-new-privileges as recorded, with the
    // unconfined output; and the suite 5/5 under its own.
    for i in 1..=10 {
        for (profile, nnp, expected) in &cases {
            let run = rec.run_under(profile, *nnp, &["sh", "-c", WORK]);
            assert!(
                run.status.success(),
                "run {i}/10 under {} (nnp {nnp}): {run}",
                profile.display()
            );
            assert_eq!(
                &run.stdout,
                expected,
                "run {i}/10 under {} (nnp {nnp}): output differs",
                profile.display()
            );
        }
    }
    for i in 1..=5 {
        let run = rec.run_under(&out.join("suite.json"), false, &["sh", "-c", SUITE]);
        assert!(run.status.success(), "suite run {i}/5: {run}");
        assert_eq!(run.stdout, "suite ok\n");
    }

    // What the workload never did is denied (the errno is the runtime's: crun answers EPERM
    // or ENOSYS, so only the failure is asserted).
    for (profile, nnp, _) in &cases {
        let denied = rec.run_under(profile, *nnp, &["mkdir", "/new-dir"]);
        assert!(!denied.timed_out, "{denied}");
        assert!(
            !denied.status.success(),
            "mkdir ran under {}: {denied}",
            profile.display()
        );
        assert!(denied.stderr.contains("mkdir"), "{denied}");
    }
    rec
}

impl<E: ContainerEngine> Recorded<E> {
    /// `run --rm` of the case's runtime under `profile`.
    pub fn run_under(&self, profile: &std::path::Path, nnp: bool, cmd: &[&str]) -> Output {
        let opt = format!("seccomp={}", profile.display());
        let mut args = vec!["--rm", "--security-opt", opt.as_str()];
        args.extend(&self.runtime);
        if nnp {
            args.extend(["--security-opt", "no-new-privileges"]);
        }
        args.push(self.image.as_str());
        args.extend_from_slice(cmd);
        self.d.run(&args, RUN_TIMEOUT)
    }
}
