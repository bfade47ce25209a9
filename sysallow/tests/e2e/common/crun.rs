//! crun under a test engine (Docker, Podman) on this hybrid host: the v2 controllers that
//! must be bound to v1 for crun to start containers, and waiting for them to come back.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::harness::{cgroup2_mount, cmdline, pid_alive, processes_in_mount_ns, signal};

/// Where Debian's `crun` package puts crun.
pub const CRUN: &str = "/usr/bin/crun";
/// How long a stopped crun daemon's v1 controllers may take to return to cgroup v2 (the kernel
/// destroys an unmounted hierarchy asynchronously; about 2 s here).
const CONTROLLERS_RETURN_TIMEOUT: Duration = Duration::from_secs(15);
/// crun daemons of this process still running (their controllers are bound to v1 until the
/// last one's mount namespace is gone).
static LIVE_CRUN_DAEMONS: AtomicUsize = AtomicUsize::new(0);

/// What a crun daemon changed and must undo.
pub struct CrunState {
    /// The daemon's private mount namespace (`/proc/PID/ns/mnt` link, `mnt:[inode]`).
    pub mnt_ns: Option<String>,
    /// Controllers moved from v2 to v1 in that namespace (mounted at `<root>/cgroup-v1/<ctrl>`,
    /// visible only in it).
    pub moved: Vec<String>,
}

/// A command that runs `program` in a private mount namespace where every controller still in
/// v2 is mounted as v1 under `v1_dir` (see [`super::docker::DockerdOptions::crun`]); spawn it with
/// [`CrunState::spawn`]. `program` keeps the pid (unshare and sh exec).
pub fn in_crun_namespace(v1_dir: &Path, program: &Path) -> (Command, CrunState) {
    let moved = v2_controllers_on_hybrid_host();
    // sh -c SCRIPT sh V1_DIR CONTROLLERS... -- PROGRAM ARGS...
    let script = r#"set -e; d="$1"; shift
        while [ "$1" != -- ]; do
            mkdir -p "$d/$1"; mount -t cgroup -o "$1" cgroup "$d/$1"; shift
        done
        shift; exec "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(v1_dir)
        .args(&moved)
        .arg("--")
        .arg(program);
    (
        cmd,
        CrunState {
            mnt_ns: None,
            moved,
        },
    )
}

impl CrunState {
    /// Spawn `cmd` (from [`in_crun_namespace`]), count it as live, and note its namespace
    /// (read once unshare has switched): what is in it is ours, and is killed in the clean-up.
    pub fn spawn(&mut self, cmd: &mut Command) -> Child {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        LIVE_CRUN_DAEMONS.fetch_add(1, Ordering::SeqCst);
        let pid = child.id();
        let own = fs::read_link("/proc/self/ns/mnt").ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.mnt_ns.is_none() && Instant::now() < deadline {
            let ns = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
            if ns.is_some() && ns != own {
                self.mnt_ns = ns.map(|p| p.to_string_lossy().into_owned());
            } else {
                thread::sleep(Duration::from_millis(10));
            }
        }
        child
    }

    /// Kill what is left in the namespace (but `strays`, already killed): it keeps the v1
    /// mount, and the controllers out of v2.
    pub fn kill_leftovers(&self, strays: &[i32]) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(ns) = &self.mnt_ns {
            for pid in processes_in_mount_ns(ns) {
                if pid_alive(pid) && !strays.contains(&pid) {
                    problems.push(format!(
                        "killing leftover process {pid} in the crun namespace ({})",
                        cmdline(pid)
                    ));
                }
                signal(pid, libc::SIGKILL);
            }
        }
        problems
    }

    /// Once the last crun namespace of this process is gone, wait for the controllers to be
    /// back in v2.
    pub fn end(self) -> Vec<String> {
        let mut problems = Vec::new();
        let last = LIVE_CRUN_DAEMONS.fetch_sub(1, Ordering::SeqCst) == 1;
        if last && !self.moved.is_empty() {
            problems.extend(wait_controllers_in_v2(&self.moved, self.mnt_ns.as_deref()));
        }
        problems
    }
}

/// On a hybrid host (v2 mounted apart from `/sys/fs/cgroup`), the controllers v2 still has
/// (`hugetlb` here): those crun wants bound to v1. Empty on a pure v1 or v2 host.
fn v2_controllers_on_hybrid_host() -> Vec<String> {
    match cgroup2_mount() {
        Some(v2) if v2 != Path::new("/sys/fs/cgroup") => v2_controllers(&v2),
        _ => Vec::new(),
    }
}

fn v2_controllers(v2: &Path) -> Vec<String> {
    fs::read_to_string(v2.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Wait (bounded) until every controller of `moved` is listed in v2 again.
fn wait_controllers_in_v2(moved: &[String], mnt_ns: Option<&str>) -> Vec<String> {
    let Some(v2) = cgroup2_mount() else {
        return vec!["no cgroup v2 mount to return the controllers to".to_owned()];
    };
    let start = Instant::now();
    loop {
        let now = v2_controllers(&v2);
        let missing: Vec<&String> = moved.iter().filter(|c| !now.contains(c)).collect();
        if missing.is_empty() {
            return Vec::new();
        }
        if start.elapsed() > CONTROLLERS_RETURN_TIMEOUT {
            let holders = mnt_ns.map(processes_in_mount_ns).unwrap_or_default();
            return vec![format!(
                "controllers {missing:?} not back in {} after {CONTROLLERS_RETURN_TIMEOUT:?} \
                 (processes left in the daemon's mount namespace: {holders:?}; another \
                 namespace may mount them as v1)",
                v2.display()
            )];
        }
        thread::sleep(Duration::from_millis(100));
    }
}
