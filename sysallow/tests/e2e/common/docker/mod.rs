//! A private dockerd for root tests: its own data root, exec root, socket, containerd and
//! default cgroup parent, so that several can run at once beside a system Docker, and nothing
//! is left behind when it is dropped (also when a test panics).
//!
//! ```ignore
//! require!(docker);
//! let d = docker::Dockerd::start();
//! let image = d.import_test_image();
//! let out = d.run(&["--rm", &image, "sysallow-probe", "hello"], Duration::from_secs(30));
//! assert!(out.status.success(), "{out}");
//! ```
//!
//! Facts (FIELD-NOTES, "Containers and runtimes"): Docker 20.10 from Debian's docker.io starts
//! by hand with these flags and is ready in under a second; there is no registry, so the test
//! image is made with `docker import` from busybox-static plus our probe program; an
//! insufficient seccomp profile once made `docker run` hang, so every run has a timeout.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::crun::{CRUN, CrunState, in_crun_namespace};
use super::harness::{
    Output, cgroup_mounts, on_path, remove_cgroup_everywhere, run_with_timeout, signal, wait_child,
};
use super::image::{IMPORT_CHANGES, build_image_tarball};
use super::{have, is_root};
use crate::macros::Need;

mod cleanup;

/// The image `import_test_image` makes.
pub const TEST_IMAGE: &str = "sysallow-test:latest";

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What the harness needs on the machine; the packages are Debian's (`cargo xtask setup`).
pub const PACKAGES: &str =
    "docker.io (dockerd, docker, containerd, runc), busybox-static, gcc, tar";

impl Need {
    /// Root and a Docker engine: `require!(docker)`.
    pub fn docker() -> Need {
        let missing = missing(&docker_requirements());
        Need::that(
            format!(
                "root and a Docker engine (missing: {}; apt-get install -y {PACKAGES})",
                missing.join(", ")
            ),
            missing.is_empty(),
        )
    }

    /// crun through a private dockerd: root, Docker and [`CRUN`] (Debian's `crun` package),
    /// plus `unshare`/`mount` (util-linux) for the hybrid-cgroup workaround described at
    /// [`DockerdOptions::crun`]: `require!(crun)`.
    pub fn crun() -> Need {
        let mut requirements = docker_requirements();
        requirements.extend([
            ("/usr/bin/crun (crun)", Path::new(CRUN).exists()),
            ("unshare (util-linux)", have("unshare")),
            ("mount (util-linux)", have("mount")),
        ]);
        let missing = missing(&requirements);
        Need::that(
            format!(
                "root, a Docker engine and crun (missing: {}; apt-get install -y crun {PACKAGES})",
                missing.join(", ")
            ),
            missing.is_empty(),
        )
    }
}

/// What every private-dockerd test needs: (what, present).
fn docker_requirements() -> Vec<(&'static str, bool)> {
    vec![
        ("root", is_root()),
        ("dockerd", have("dockerd")),
        ("containerd", have("containerd")),
        ("runc", have("runc")),
        (
            "/bin/busybox (busybox-static)",
            Path::new("/bin/busybox").exists(),
        ),
        ("gcc", have("gcc")),
        ("tar", have("tar")),
    ]
}

/// The names of the requirements that are not met.
fn missing(requirements: &[(&'static str, bool)]) -> Vec<&'static str> {
    requirements
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(what, _)| *what)
        .collect()
}

/// Options for [`Dockerd::start_with`].
#[derive(Clone, Debug, Default)]
pub struct DockerdOptions {
    /// Extra OCI runtimes: `--add-runtime NAME=PATH`.
    pub runtimes: Vec<(String, PathBuf)>,
    /// `--default-runtime`.
    pub default_runtime: Option<String>,
    /// Keep Docker's default cgroup parent (`/docker`) instead of a private one. Containers then
    /// share `/docker` with every other dockerd; the harness removes it only if it created it
    /// and it is empty.
    pub docker_default_cgroup_parent: bool,
    /// More daemon flags.
    pub extra_args: Vec<String>,
    /// Make crun ([`CRUN`]) available as runtime `crun` (`docker run --runtime crun`).
    ///
    /// crun 1.8.1 refuses a hybrid-cgroup host whose v2 hierarchy still has controllers:
    /// `docker run --runtime crun` fails with "cgroups in hybrid mode not supported, drop all
    /// controllers from cgroupv2", because `/sys/fs/cgroup/unified/cgroup.controllers` lists
    /// `hugetlb`, which no v1 hierarchy mounts. So the daemon starts in a private mount namespace
    /// (`unshare -m --propagation private`) in which every controller still in v2 is first
    /// mounted as a v1 hierarchy under the daemon's temp dir. Controller binding is kernel-wide:
    /// while that mount exists, v2's `cgroup.controllers` is empty (for everyone) and crun runs.
    /// The mount exists only in that namespace: when its last process (dockerd, containerd,
    /// shims, containers) exits, the hierarchy is destroyed and the controllers return to v2
    /// within about 2 s, with no clean-up of ours (if the test is SIGKILLed, once the daemon
    /// left running is stopped, as for any daemon of this harness). `stop`/`Drop` kills
    /// whatever is left in the namespace and waits (bounded) for the controllers to be back.
    pub crun: bool,
}

/// A running private dockerd. Dropping it stops it and removes everything it made.
pub struct Dockerd {
    root: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
    pid: i32,
    docker_cli: PathBuf,
    /// The daemon's default cgroup parent (relative to each hierarchy's root).
    cgroup_parent: String,
    /// Cgroup directories (relative) that did not exist before this daemon started.
    cgroup_dirs_to_remove: Vec<String>,
    image_imported: bool,
    crun: Option<CrunState>,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        Dockerd::start_with(DockerdOptions::default())
    }

    /// A daemon on which `docker run --runtime crun` works (see [`DockerdOptions::crun`]).
    pub fn start_with_crun() -> Dockerd {
        Dockerd::start_with(DockerdOptions {
            crun: true,
            ..DockerdOptions::default()
        })
    }

    /// Start a dockerd and wait (bounded) until `docker info` answers. Panics with the daemon's
    /// log if it does not come up.
    pub fn start_with(options: DockerdOptions) -> Dockerd {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{seq}", std::process::id());
        // Short path: the socket path must fit in sun_path (108 bytes), containerd's too.
        // /tmp is on the root file system here, which overlay2 accepts as a backing fs.
        let root = tempfile::Builder::new()
            .prefix(&format!("sysallow-dockerd-{tag}-"))
            .tempdir_in(std::env::temp_dir())
            .expect("creating the dockerd temp dir")
            .keep();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o711)).expect("chmod temp dir");
        for d in ["data", "exec", "cli"] {
            fs::create_dir(root.join(d)).expect("creating dockerd dirs");
        }
        // An empty config file so that /etc/docker/daemon.json cannot change the daemon.
        fs::write(root.join("daemon.json"), "{}\n").expect("writing daemon.json");
        let socket = root.join("docker.sock");
        let cgroup_parent = if options.docker_default_cgroup_parent {
            "docker".to_owned()
        } else {
            format!("sysallow-test-{tag}")
        };
        let cgroup_dirs_to_remove = [cgroup_parent.clone()]
            .into_iter()
            .filter(|rel| !cgroup_mounts().iter().any(|m| m.join(rel).exists()))
            .collect();
        let dockerd = on_path("dockerd").expect("dockerd not on PATH");
        // The CLI beside dockerd is of the same release (/usr/local/bin may hold another).
        let docker_cli = dockerd
            .parent()
            .map(|d| d.join("docker"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("docker"));

        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![
            format!("--config-file={}", path(&root.join("daemon.json"))),
            format!("--data-root={}", path(&root.join("data"))),
            format!("--exec-root={}", path(&root.join("exec"))),
            format!("--pidfile={}", path(&root.join("docker.pid"))),
            format!("--host=unix://{}", path(&socket)),
            // dockerd starts its own containerd under exec-root/containerd when not given one:
            // each private daemon has its own, and can coexist with the system's.
            "--bridge=none".into(),
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--ip-masq=false".into(),
            "--userland-proxy=false".into(),
            "--storage-driver=overlay2".into(),
            "--exec-opt=native.cgroupdriver=cgroupfs".into(),
            format!("--cgroup-parent=/{cgroup_parent}"),
            "--log-level=warn".into(),
        ];
        for (name, runtime) in &options.runtimes {
            args.push(format!("--add-runtime={name}={}", path(runtime)));
        }
        if options.crun && !options.runtimes.iter().any(|(name, _)| name == "crun") {
            args.push(format!("--add-runtime=crun={CRUN}"));
        }
        if let Some(name) = &options.default_runtime {
            args.push(format!("--default-runtime={name}"));
        }
        args.extend(options.extra_args.iter().cloned());

        let log = fs::File::create(root.join("dockerd.log")).expect("creating dockerd.log");
        let log2 = log.try_clone().expect("dup log");
        let (mut command, mut crun) = if options.crun {
            let (cmd, state) = in_crun_namespace(&root.join("cgroup-v1"), &dockerd);
            (cmd, Some(state))
        } else {
            (Command::new(&dockerd), None)
        };
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = match crun.as_mut() {
            Some(state) => state.spawn(&mut command),
            None => command
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", dockerd.display())),
        };
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        let mut d = Dockerd {
            root,
            socket,
            child: Some(child),
            pid,
            docker_cli,
            cgroup_parent,
            cgroup_dirs_to_remove,
            image_imported: false,
            crun,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "dockerd exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            if self.socket.exists() {
                let out = self.docker_with_timeout(
                    &["info", "--format", "{{.ServerVersion}}"],
                    Duration::from_secs(10),
                );
                if out.status.success() {
                    return;
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                panic!("dockerd not ready after {READY_TIMEOUT:?}:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// For `DOCKER_HOST`: `unix:///.../docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The temp directory holding data root, exec root, socket and log.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The daemon's default cgroup parent (no leading `/`): containers started without
    /// `--cgroup-parent` sit at `<v2 mount>/<this>/<id>`.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Remove the cgroup `rel` (from every hierarchy) when the daemon stops, after its
    /// containers: for a test's own `--cgroup-parent`, so that it goes also when the test
    /// panics before removing it.
    pub fn remove_cgroup_on_stop(&mut self, rel: &str) {
        self.cgroup_dirs_to_remove.push(rel.to_owned());
    }

    /// A `docker` command talking to this daemon (no timeout: prefer `docker_with_timeout`).
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(&self.docker_cli);
        cmd.arg("--host")
            .arg(self.host())
            .env("DOCKER_CONFIG", self.root.join("cli"))
            .stdin(Stdio::null());
        cmd
    }

    /// Run `docker ARGS` with a timeout (the CLI is killed on timeout).
    pub fn docker_with_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        let mut cmd = self.docker();
        cmd.args(args);
        run_with_timeout(cmd, &format!("docker {}", args.join(" ")), timeout, || {})
    }

    /// Like `docker_with_timeout`, panicking with the output unless it succeeds.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker_with_timeout(args, Duration::from_secs(60));
        assert!(out.status.success(), "{out}");
        out.stdout
    }

    /// Build the test image (busybox-static with its applets, and the probe program at
    /// [`PROBE`]) and `docker import` it as [`TEST_IMAGE`]. Returns the image name.
    pub fn import_test_image(&mut self) -> String {
        if self.image_imported {
            return TEST_IMAGE.to_owned();
        }
        let tarball = build_image_tarball(&self.root);
        let mut args = vec!["import"];
        args.extend(IMPORT_CHANGES);
        args.extend([tarball.to_str().expect("UTF-8 temp path"), TEST_IMAGE]);
        self.docker_ok(&args);
        let _ = fs::remove_file(&tarball);
        self.image_imported = true;
        TEST_IMAGE.to_owned()
    }

    /// `docker run --name <unique> ARGS` with a timeout: on timeout the container is killed
    /// (`docker rm -f`) and then the CLI. Returns the output; `out.timed_out` says which.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        let name = self.unique_name();
        let mut cmd = self.docker();
        cmd.args(["run", "--name", &name]).args(args);
        let out = run_with_timeout(
            cmd,
            &format!("docker run --name {name} {}", args.join(" ")),
            timeout,
            || {
                let _ = self.docker_with_timeout(&["rm", "-f", &name], Duration::from_secs(30));
            },
        );
        if !args.contains(&"--rm") {
            let _ = self.docker_with_timeout(&["rm", "-f", &name], Duration::from_secs(30));
        }
        out
    }

    /// `docker run -d --name <unique> ARGS`: a running container. Panics unless it starts.
    pub fn run_detached(&self, args: &[&str]) -> Container {
        let name = self.unique_name();
        let mut full = vec!["run", "-d", "--name", name.as_str()];
        full.extend_from_slice(args);
        let out = self.docker_with_timeout(&full, Duration::from_secs(60));
        if !out.status.success() {
            let _ = self.docker_with_timeout(&["rm", "-f", &name], Duration::from_secs(30));
            panic!("{out}");
        }
        let id = out.stdout.trim().to_owned();
        let pid = self.init_pid(&id);
        Container { id, name, pid }
    }

    /// The host pid of a running container's init (`State.Pid`).
    pub fn init_pid(&self, container: &str) -> u32 {
        self.docker_ok(&["inspect", "--format", "{{.State.Pid}}", container])
            .trim()
            .parse()
            .expect("State.Pid is a number")
    }

    fn unique_name(&self) -> String {
        format!("sysallow-{}", SEQ.fetch_add(1, Ordering::Relaxed))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let problems = self.cleanup();
        for p in problems {
            eprintln!("docker harness: {p}");
        }
    }
}

/// A container started by [`Dockerd::run_detached`] (removed with the daemon, or by hand).
#[derive(Clone, Debug)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// Its init's host pid.
    pub pid: u32,
}
