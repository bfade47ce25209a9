//! A private containerd for tests (root): its own root, state and socket in a temporary
//! directory, its containers run with `ctr run --rootfs` (no image, no registry) and runc's
//! state under that directory too; stopped with everything it started, also on a panic.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::{self, Output};
use super::image;

/// The containerd namespace the tests' containers live in.
pub const NAMESPACE: &str = "sysallow-test";

pub struct Containerd {
    root: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
    pid: i32,
    rootfs: Option<PathBuf>,
    /// Cgroups (relative to each hierarchy's root) its containers were put in, removed last.
    cgroups: Vec<String>,
}

impl crate::macros::Need {
    /// Root, and containerd with ctr (Debian's containerd package has both):
    /// `require!(containerd)`.
    pub fn containerd() -> crate::macros::Need {
        let root = crate::macros::Need::root();
        crate::macros::Need::that(
            format!(
                "{}, containerd and ctr (apt-get install containerd)",
                root.what
            ),
            root.met && super::have("containerd") && super::have("ctr"),
        )
    }
}

impl Containerd {
    pub fn start() -> Containerd {
        // Short: the socket path must fit in sun_path (108 bytes).
        let root = tempfile::Builder::new()
            .prefix("sysallow-ctrd-")
            .tempdir_in("/tmp")
            .expect("creating the containerd temp dir")
            .keep();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o711)).expect("chmod");
        let socket = root.join("c.sock");
        let p = |name: &str| root.join(name).to_string_lossy().into_owned();
        // Only what `ctr run --rootfs` needs: no CRI plugin, no snapshotter in use.
        let config = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            p("root"),
            p("state"),
            p("c.sock"),
            p("c.sock"),
        );
        fs::write(root.join("config.toml"), config).expect("writing config.toml");
        let log = fs::File::create(root.join("containerd.log")).expect("creating the log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(root.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        let pid = child.id() as i32;
        let c = Containerd {
            root,
            socket,
            child: Some(child),
            pid,
            rootfs: None,
            cgroups: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if c.socket.exists()
                && c.ctr(&["version"], Duration::from_secs(10))
                    .status
                    .success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd not ready:\n{}",
                fs::read_to_string(c.root.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// `ctr ARGS` against this daemon, in the tests' namespace, bounded by `timeout`.
    pub fn ctr(&self, args: &[&str], timeout: Duration) -> Output {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", NAMESPACE])
            .args(args);
        harness::run_with_timeout(cmd, &format!("ctr {}", args.join(" ")), timeout, || {})
    }

    /// `ctr run --rm` of the test root file system as container `id` in cgroup `cgroup`, with
    /// `extra` run flags (e.g. `--seccomp`), running `cmd`.
    pub fn run(&mut self, id: &str, cgroup: &str, extra: &[&str], cmd: &[&str]) -> Output {
        let rootfs = self.rootfs();
        let top = cgroup
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !self.cgroups.contains(&top) {
            self.cgroups.push(top);
        }
        let runc_root = self.root.join("runc").to_string_lossy().into_owned();
        let rootfs = rootfs.to_string_lossy().into_owned();
        // No image config: PATH as Docker's import of the same root file system sets it.
        let mut args = vec![
            "run",
            "--rm",
            "--runc-root",
            &runc_root,
            "--cgroup",
            cgroup,
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ];
        args.extend_from_slice(extra);
        args.extend(["--rootfs", &rootfs, id]);
        args.extend_from_slice(cmd);
        self.ctr(&args, Duration::from_secs(60))
    }

    fn rootfs(&mut self) -> PathBuf {
        if let Some(rootfs) = &self.rootfs {
            return rootfs.clone();
        }
        let rootfs = self.root.join("rootfs");
        image::build_rootfs(&rootfs);
        self.rootfs = Some(rootfs.clone());
        rootfs
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its state directory (`SYSALLOW_CONTAINERD_STATE` for the recorder).
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Stop everything now, and report what could not be cleaned.
    pub fn stop(mut self) -> Vec<String> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(mut child) = self.child.take() {
            harness::signal(self.pid, libc::SIGTERM);
            if !harness::wait_child(&mut child, Duration::from_secs(20)) {
                problems.push(format!("containerd {} ignored SIGTERM; killed", self.pid));
                harness::signal(self.pid, libc::SIGKILL);
                let _ = child.wait();
            }
        }
        // Shims and containers outlive containerd: found by our root in their command line,
        // and by our cgroups.
        harness::kill_processes_mentioning(&self.root, &mut problems);
        problems.extend(harness::remove_private_state(&self.root, &self.cgroups));
        problems
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let problems = self.cleanup();
        if !problems.is_empty() {
            eprintln!("containerd clean-up: {problems:?}");
        }
    }
}
