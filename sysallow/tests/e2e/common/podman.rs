//! A private Podman for root tests (Debian's podman 4.3, rootful, cgroupfs manager): its own
//! storage, run root, temp dir, locks, events and network configuration in a temporary
//! directory (given by `CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF`), no network
//! (`netns = "none"`: no bridge, no firewall rules), its containers under a cgroup parent of
//! its own; stopped with everything it started, also on a panic.
//!
//! Two ways to drive it, as users do:
//! - the `podman` CLI directly (no socket anywhere: the recorder names containers from
//!   conmon's command line);
//! - `podman system service` on a socket of its own and `podman --remote` (the recorder names
//!   them through Podman's API). crun needs this one here: on this hybrid host crun runs only
//!   in a mount namespace where v2's controllers are bound to v1 (see
//!   [`docker::DockerdOptions::crun`]), and a service is one process tree to put there.
//!
//! Facts measured with Podman 4.3.1, conmon 2.1.6: its default rlimits (nofile, nproc
//! 1048576) exceed this machine's hard limits, and crun then fails with "setrlimit
//! `RLIMIT_NOFILE`: Operation not permitted", so the configuration sets `default_ulimits`;
//! `podman run` has no `--runtime` (the engine's `runtime` setting chooses); the blob info
//! cache is written to `/var/lib/containers/cache` and an empty `/run/containers/networks` is
//! made whatever the configuration; setting `static_dir` makes every `podman run` wait 20 s
//! for conmon's timeout before it returns (so it stays in the storage root, its default).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::crun::{self, CrunState};
use super::harness::{self, Output};
use super::image;

/// The image `import_test_image` makes (Podman names it `localhost/sysallow-test:latest`).
pub const TEST_IMAGE: &str = "sysallow-test:latest";

/// Global state Podman writes outside its configured roots (measured): removed at the end
/// when it was not there before.
/// Children before parents; whether the whole tree is Podman's (else only an empty directory
/// is removed).
const GLOBAL_LEFTOVERS: &[(&str, bool)] = &[
    ("/var/lib/containers/cache", true),
    ("/var/lib/containers", false),
    ("/run/containers/networks", true),
    ("/run/containers", false),
];

static SEQ: AtomicU32 = AtomicU32::new(0);

impl crate::macros::Need {
    /// Root, and Podman with the OCI runtime `runtime` (Debian's podman package):
    /// `require!(podman("runc"))`.
    pub fn podman(runtime: &str) -> crate::macros::Need {
        let root = crate::macros::Need::root();
        crate::macros::Need::that(
            format!(
                "{}, podman and {runtime} (apt-get install podman {runtime})",
                root.what
            ),
            root.met && super::have("podman") && super::have("conmon") && super::have(runtime),
        )
    }
}

pub struct Podman {
    root: PathBuf,
    /// The OCI runtime its configuration names (`runc`, `crun`).
    runtime: &'static str,
    /// The API service, when started with one.
    service: Option<(Child, i32)>,
    crun: Option<CrunState>,
    /// Its containers' default cgroup parent (relative, no leading `/`).
    cgroup_parent: String,
    /// Cgroups (relative) its containers were put in, removed last.
    cgroups: Vec<String>,
    image_imported: bool,
    /// Which of [`GLOBAL_LEFTOVERS`] existed before.
    preexisting: Vec<bool>,
    stopped: bool,
}

impl Podman {
    /// The `podman` CLI with runtime `runtime`, no API socket.
    pub fn start(runtime: &'static str) -> Podman {
        Podman::new(runtime)
    }

    /// `podman system service` (in a crun namespace when `runtime` is crun), driven with
    /// `podman --remote`.
    pub fn start_service(runtime: &'static str) -> Podman {
        let mut p = Podman::new(runtime);
        let log = fs::File::create(p.root.join("service.log")).expect("creating the log");
        let podman = PathBuf::from(super::which("podman"));
        let (mut cmd, mut crun) = if runtime == "crun" {
            let (cmd, state) = crun::in_crun_namespace(&p.root.join("cgroup-v1"), &podman);
            (cmd, Some(state))
        } else {
            (Command::new(&podman), None)
        };
        cmd.args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", p.socket().display()))
            .envs(p.env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        let child = match crun.as_mut() {
            Some(state) => state.spawn(&mut cmd),
            None => cmd.spawn().expect("starting podman system service"),
        };
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        p.service = Some((child, pid));
        p.crun = crun;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(p.socket().exists()
            && p.podman(&["version"], Duration::from_secs(10))
                .status
                .success())
        {
            assert!(
                Instant::now() < deadline,
                "podman system service not ready:\n{}",
                fs::read_to_string(p.root.join("service.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn new(runtime: &'static str) -> Podman {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        // Short: the socket path must fit in sun_path (108 bytes).
        let root = tempfile::Builder::new()
            .prefix("sysallow-podman-")
            .tempdir_in("/tmp")
            .expect("creating the podman temp dir")
            .keep();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o711)).expect("chmod");
        let p = |name: &str| root.join(name).to_string_lossy().into_owned();
        fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                p("graph"),
                p("run")
            ),
        )
        .expect("writing storage.conf");
        fs::write(
            root.join("containers.conf"),
            format!(
                "[containers]\n\
                 default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                 netns = \"none\"\n\
                 [network]\nnetwork_config_dir = \"{}\"\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 events_logfile_path = \"{}\"\nlock_type = \"file\"\n\
                 tmp_dir = \"{}\"\nvolume_path = \"{}\"\nruntime = \"{runtime}\"\n",
                p("net"),
                p("events.log"),
                p("tmp"),
                p("volumes"),
            ),
        )
        .expect("writing containers.conf");
        Podman {
            cgroup_parent: format!("sysallow-podman-{}-{seq}", std::process::id()),
            root,
            runtime,
            service: None,
            crun: None,
            cgroups: Vec::new(),
            image_imported: false,
            preexisting: GLOBAL_LEFTOVERS
                .iter()
                .map(|(p, _)| Path::new(p).exists())
                .collect(),
            stopped: false,
        }
    }

    /// The environment every podman of this instance runs with.
    pub fn env(&self) -> Vec<(String, String)> {
        let p = |name: &str| self.root.join(name).to_string_lossy().into_owned();
        vec![
            ("CONTAINERS_CONF".to_owned(), p("containers.conf")),
            ("CONTAINERS_STORAGE_CONF".to_owned(), p("storage.conf")),
        ]
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("p.sock")
    }

    /// `CONTAINER_HOST` for this instance's API, when it has one.
    pub fn host(&self) -> Option<String> {
        self.service
            .as_ref()
            .map(|_| format!("unix://{}", self.socket().display()))
    }

    /// `--cgroup-parent=/<its own parent>`, for containers that are not in a test's parent.
    pub fn own_cgroup_parent(&self) -> String {
        format!("--cgroup-parent=/{}", self.cgroup_parent)
    }

    pub fn runtime(&self) -> &'static str {
        self.runtime
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Remember `rel` (a `--cgroup-parent`, relative) to remove when this stops.
    pub fn remove_cgroup_on_stop(&mut self, rel: &str) {
        let rel = rel.trim_start_matches('/').to_owned();
        if !self.cgroups.contains(&rel) {
            self.cgroups.push(rel);
        }
    }

    /// `podman ARGS` of this instance (remote when there is a service).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        if let Some(host) = self.host() {
            cmd.args(["--remote", "--url", &host]);
        }
        cmd.args(args).envs(self.env()).stdin(Stdio::null());
        cmd
    }

    /// `podman ARGS`, bounded by `timeout`.
    pub fn podman(&self, args: &[&str], timeout: Duration) -> Output {
        let cmd = self.command(args);
        harness::run_with_timeout(cmd, &format!("podman {}", args.join(" ")), timeout, || {})
    }

    /// `podman run --name <unique> --cgroup-parent=<its own> ARGS` (a later
    /// `--cgroup-parent` in ARGS wins), removed (`rm -f`) on timeout.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        let name = format!("sysallow-{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let parent = self.own_cgroup_parent();
        let mut full = vec!["run", "--name", &name, &parent];
        full.extend_from_slice(args);
        let cmd = self.command(&full);
        harness::run_with_timeout(cmd, &format!("podman {}", full.join(" ")), timeout, || {
            let _ = self.podman(&["rm", "-f", &name], Duration::from_secs(30));
        })
    }

    /// `podman import` of the test root file system as [`TEST_IMAGE`].
    pub fn import_test_image(&mut self) -> String {
        if !self.image_imported {
            let tarball = image::build_image_tarball(&self.root);
            let mut args = vec!["import"];
            args.extend(image::IMPORT_CHANGES);
            args.extend([tarball.to_str().expect("UTF-8 temp path"), TEST_IMAGE]);
            let out = self.podman(&args, Duration::from_secs(120));
            assert!(out.status.success(), "{out}");
            let _ = fs::remove_file(&tarball);
            self.image_imported = true;
        }
        TEST_IMAGE.to_owned()
    }

    /// Stop everything now, and report what could not be cleaned.
    pub fn stop(mut self) -> Vec<String> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> Vec<String> {
        if std::mem::replace(&mut self.stopped, true) {
            return Vec::new();
        }
        let mut problems = Vec::new();
        let parent = self.cgroup_parent.clone();
        self.remove_cgroup_on_stop(&parent);
        // 1. Containers, while Podman still answers.
        if self.service.is_none() || self.socket().exists() {
            let out = self.podman(&["rm", "-af", "-t", "0"], Duration::from_secs(60));
            if !out.status.success() {
                problems.push(format!("removing containers: {out}"));
            }
        }
        // 2. The service.
        if let Some((mut child, pid)) = self.service.take() {
            harness::signal(pid, libc::SIGTERM);
            if !harness::wait_child(&mut child, Duration::from_secs(20)) {
                problems.push(format!("podman service {pid} ignored SIGTERM; killed"));
                harness::signal(pid, libc::SIGKILL);
                let _ = child.wait();
            }
        }
        // 3. conmon, containers and cleanup processes that outlived it: found by our root in
        //    their command line, then by our cgroups.
        let strays = harness::kill_processes_mentioning(&self.root, &mut problems);
        if let Some(crun) = &self.crun {
            problems.extend(crun.kill_leftovers(&strays));
        }
        // 4. Cgroups, mounts (each container's /dev/shm), the temp dir, global leftovers.
        problems.extend(harness::remove_private_state(&self.root, &self.cgroups));
        for ((path, whole), existed) in GLOBAL_LEFTOVERS.iter().zip(&self.preexisting) {
            if !existed {
                let _ = if *whole {
                    fs::remove_dir_all(path)
                } else {
                    fs::remove_dir(path)
                };
            }
        }
        // 5. crun's controllers, back in v2 once its namespace is gone.
        if let Some(crun) = self.crun.take() {
            problems.extend(crun.end());
        }
        problems
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for p in self.cleanup() {
            eprintln!("podman harness: {p}");
        }
    }
}
