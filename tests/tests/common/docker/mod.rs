//! A private dockerd for root tests: its own data root, exec root, socket, containerd and
//! default cgroup parent, so that several can run at once beside a system Docker, and nothing
//! is left behind when it is dropped (also when a test panics).
//!
//! ```ignore
//! if !docker::can_run_docker("my_test") { return; }
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

use std::fmt;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::{can_run, have, is_root};

mod cleanup;
mod crun;

pub use crun::{CrunState, in_crun_namespace};

/// The image `import_test_image` makes.
pub const TEST_IMAGE: &str = "sysallow-test:latest";
/// The probe program inside the test image.
pub const PROBE: &str = "/usr/bin/sysallow-probe";

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Where Debian's `crun` package puts crun.
pub const CRUN: &str = "/usr/bin/crun";
/// How long a stopped crun daemon's v1 controllers may take to return to cgroup v2 (the kernel
/// destroys an unmounted hierarchy asynchronously; about 2 s here).
const CONTROLLERS_RETURN_TIMEOUT: Duration = Duration::from_secs(15);
/// crun daemons of this process still running (their controllers are bound to v1 until the
/// last one's mount namespace is gone).
static LIVE_CRUN_DAEMONS: AtomicUsize = AtomicUsize::new(0);

/// What the harness needs on the machine; the packages are Debian's (`cargo xtask setup`).
pub const PACKAGES: &str =
    "docker.io (dockerd, docker, containerd, runc), busybox-static, gcc, tar";

/// Skip (or, in CI, fail) a test that needs root and a Docker engine.
pub fn can_run_docker(test: &str) -> bool {
    let missing = missing(&docker_requirements());
    can_run(
        test,
        &format!(
            "root and a Docker engine (missing: {}; apt-get install -y {PACKAGES})",
            missing.join(", ")
        ),
        missing.is_empty(),
    )
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

/// Skip (or, in CI, fail) a test that needs crun through a private dockerd: root, Docker and
/// [`CRUN`] (Debian's `crun` package), plus `unshare`/`mount` (util-linux) for the hybrid-cgroup
/// workaround described at [`DockerdOptions::crun`].
pub fn can_run_crun(test: &str) -> bool {
    let mut requirements = docker_requirements();
    requirements.extend([
        ("/usr/bin/crun (crun)", Path::new(CRUN).exists()),
        ("unshare (util-linux)", have("unshare")),
        ("mount (util-linux)", have("mount")),
    ]);
    let missing = missing(&requirements);
    can_run(
        test,
        &format!(
            "root, a Docker engine and crun (missing: {}; apt-get install -y crun {PACKAGES})",
            missing.join(", ")
        ),
        missing.is_empty(),
    )
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

/// The result of one `docker` command.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub command: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: {}{}\n--- stdout\n{}--- stderr\n{}",
            self.command,
            self.status,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
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
        let dockerd = which("dockerd").expect("dockerd not on PATH");
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

/// Processes whose mount namespace is `ns` (a `/proc/PID/ns/mnt` link text).
pub fn processes_in_mount_ns(ns: &str) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|l| l.to_string_lossy() == ns)
        })
        .collect()
}

/// Compile the probe (tests/images/probe/probe.c) statically to `out`.
pub fn build_probe(out: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/probe/probe.c");
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).expect("creating the probe's dir");
    }
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(out)
        .arg(&source)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc -static {} failed", source.display());
}

/// The `--change` flags of `docker import` and `podman import` for the test image.
pub const IMPORT_CHANGES: [&str; 4] = [
    "--change",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--change",
    "CMD [\"/bin/sh\"]",
];

/// The test image's root file system as a tarball `dir/image.tar`, for an engine's `import`.
pub fn build_image_tarball(dir: &Path) -> PathBuf {
    let stage = dir.join("image");
    build_rootfs(&stage);
    let tarball = dir.join("image.tar");
    let tar = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&stage)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("running tar");
    assert!(tar.success(), "tar of the test image failed");
    let _ = fs::remove_dir_all(&stage);
    tarball
}

/// The test image's root file system in `stage`: busybox with its applets, the static probe,
/// /etc/passwd and /etc/group, a sticky /tmp. Docker imports it as a tarball; containerd runs
/// it as a plain directory (`ctr run --rootfs`).
pub fn build_rootfs(stage: &Path) {
    for dir in ["bin", "usr/bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        fs::create_dir_all(stage.join(dir)).expect("creating image dirs");
    }
    fs::copy("/bin/busybox", stage.join("bin/busybox")).expect("copying /bin/busybox");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", stage.join("bin").join(applet));
        }
    }
    build_probe(&stage.join(PROBE.trim_start_matches('/')));
    fs::write(
        stage.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("writing /etc/passwd");
    fs::write(stage.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .expect("writing /etc/group");
    fs::set_permissions(stage.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod /tmp");
}

pub fn run_with_timeout(
    mut cmd: Command,
    display: &str,
    timeout: Duration,
    on_timeout: impl FnOnce(),
) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting `{display}`: {e}"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let timed_out = !wait_child(&mut child, timeout);
    if timed_out {
        on_timeout();
        if !wait_child(&mut child, Duration::from_secs(5)) {
            let _ = child.kill();
        }
    }
    let status = child.wait().expect("waiting for docker");
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        timed_out,
        command: display.to_owned(),
    }
}

/// Wait up to `timeout` for `child`; true if it exited.
pub fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if start.elapsed() < timeout => thread::sleep(Duration::from_millis(50)),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

pub fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) on a pid we started (or that runs in our private cgroup).
        unsafe { libc::kill(pid, sig) };
    }
}

/// Whether a process with this pid exists (zombies included).
/// Whether `pid` is a live process. A zombie has exited: it only waits to be reaped, and an
/// orphan's reaper (PID 1) may be slow to do it (this sandbox's init is), so it counts as gone.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name (proc(5)).
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// Processes whose command line contains `needle` (our temp root: a containerd or shim).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| u32::try_from(pid).is_ok_and(|p| p != me))
        .filter(|&pid| cmdline(pid).contains(needle))
        .collect()
}

fn mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

/// Mount points at or under `root`, in mount order.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    mountinfo()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(root))
        .collect()
}

/// The cgroup v2 mount point (the harness reads mountinfo itself rather than use the code under
/// test).
pub fn cgroup2_mount() -> Option<PathBuf> {
    mountinfo().lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        Some(PathBuf::from(left.split_whitespace().nth(4)?))
    })
}

/// Every cgroup mount point: v2 and each v1 hierarchy.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    mountinfo()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            if !matches!(right.split_whitespace().next()?, "cgroup" | "cgroup2") {
                return None;
            }
            Some(PathBuf::from(left.split_whitespace().nth(4)?))
        })
        .collect()
}

/// Kill every process in the v2 cgroups below `dir` (cgroup.kill, Linux 5.14). Only for a
/// directory that is ours alone.
pub fn kill_cgroup_tree(dir: &Path, ours: bool) {
    if !ours || !dir.is_dir() {
        return;
    }
    let _ = fs::write(dir.join("cgroup.kill"), "1");
}

/// Unmount (detached) every mount at or under `root`, innermost first; what failed.
pub fn unmount_all_under(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for mount in mounts_under(root).into_iter().rev() {
        let c = std::ffi::CString::new(mount.to_string_lossy().as_bytes()).expect("no NUL");
        // SAFETY: a valid NUL-terminated path; MNT_DETACH cannot block on a busy mount.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            problems.push(format!(
                "umount {}: {}",
                mount.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    problems
}

/// Kill what a private engine rooted at `root` left running: the processes naming `root` in
/// their command line (shims, monitors, containers' runtimes). Their pids, and a problem each.
pub fn kill_processes_mentioning(root: &Path, problems: &mut Vec<String>) -> Vec<i32> {
    let strays = processes_mentioning(&root.to_string_lossy());
    for &pid in &strays {
        problems.push(format!("killing leftover process {pid} ({})", cmdline(pid)));
        signal(pid, libc::SIGKILL);
    }
    strays
}

/// After a private engine's processes are gone: kill what is left in its `cgroups` (relative,
/// ours alone), unmount what is under `root`, remove the cgroups everywhere and `root`.
pub fn remove_private_state(root: &Path, cgroups: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(v2) = cgroup2_mount() {
        for rel in cgroups {
            kill_cgroup_tree(&v2.join(rel), true);
        }
    }
    problems.extend(unmount_all_under(root));
    for rel in cgroups {
        problems.extend(remove_cgroup_everywhere(rel));
    }
    if let Err(e) = fs::remove_dir_all(root)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        problems.push(format!("removing {}: {e}", root.display()));
    }
    problems
}

/// Remove cgroup `rel` (ours alone) and its sub-cgroups from v2 and every v1 hierarchy; what
/// is still busy.
pub fn remove_cgroup_everywhere(rel: &str) -> Vec<String> {
    cgroup_mounts()
        .into_iter()
        .map(|mount| mount.join(rel))
        .filter(|dir| dir.exists() && !remove_cgroup_tree(dir))
        .map(|dir| format!("cgroup {} is still busy", dir.display()))
        .collect()
}

/// rmdir a cgroup directory and its sub-cgroups, deepest first, retrying while processes die.
fn remove_cgroup_tree(dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        remove_subdirs(dir);
        match fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            Err(_) => return false,
        }
    }
}

fn remove_subdirs(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_subdirs(&e.path());
            let _ = fs::remove_dir(e.path());
        }
    }
}
