//! The test harness's view of the machine, for every test: running a command with a timeout,
//! processes, signals, mounts and cgroups, and removing what a private engine (Docker, Podman,
//! containerd) left. It reads `/proc` itself rather than use the code under test.

use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The result of one command run by [`run_with_timeout`] (`docker`, `podman`, `ctr`).
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

/// Run `cmd` (shown as `display`), capturing its output; after `timeout`, call `on_timeout`
/// (which should make it end), then kill it if it still runs.
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
    let status = child.wait().expect("waiting for the command");
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

/// Send `sig` to `pid` (nothing for pid 0 or below: never a process group).
pub fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) on a pid we started (or that runs in our private cgroup).
        unsafe { libc::kill(pid, sig) };
    }
}

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

/// The first `program` on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The command line of `pid`, arguments joined by spaces (empty once it is gone).
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
