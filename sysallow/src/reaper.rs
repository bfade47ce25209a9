//! What happens when the recorder itself dies (SIGKILL, OOM): the command must not go on
//! running unrecorded, and nothing of the recorder may stay, as `unshare --kill-child` does.
//!
//! - The eBPF programs are attached through file descriptors (raw tracepoint and perf links,
//!   never pinned): the kernel detaches them when the recorder's last fd closes.
//! - A reaper process, started before the command, outside its cgroup, holds the read end of a
//!   pipe. A recorder that ends normally writes `done` and the reaper leaves; a recorder that
//!   dies closes the pipe without it, and the reaper kills everything in the command's cgroup
//!   and removes it.
//! - If the reaper is gone too, the next `sysallow record` removes the cgroups of recorders
//!   that are no longer running ([`clear_stale`]) and says so.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cgroup::Cgroup2Mount;
use crate::cgroup::{Cgroup, CgroupError, PARENT};

/// The hidden subcommand the reaper runs as (`sysallow __reap CGROUP`).
pub const SUBCOMMAND: &str = "__reap";

const DONE: &[u8] = b"done";

/// A running reaper for one command's cgroup.
pub struct Reaper {
    child: Option<Child>,
}

impl Reaper {
    /// Start a reaper for `cgroup` (a directory sysallow created). Where it cannot start,
    /// the recording goes on, with a warning: a recorder that dies would then leave the
    /// command to the next run's clean-up.
    pub fn start(cgroup: &Path) -> Reaper {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(err) => {
                eprintln!(
                    "sysallow: warning: no reaper for {}: {err}",
                    cgroup.display()
                );
                return Reaper { child: None };
            }
        };
        let child = Command::new(exe)
            .arg(SUBCOMMAND)
            .arg(cgroup)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn();
        match child {
            Ok(child) => Reaper { child: Some(child) },
            Err(err) => {
                eprintln!(
                    "sysallow: warning: no reaper for {}: {err}",
                    cgroup.display()
                );
                Reaper { child: None }
            }
        }
    }
}

impl Drop for Reaper {
    /// The recorder ends normally (also on an error it returns): the reaper leaves the
    /// cgroup to the recorder's own clean-up.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(DONE);
            }
            let _ = child.wait();
        }
    }
}

/// The reaper itself: wait for the recorder, and if it died, end what it left in `cgroup`.
pub fn reap(cgroup: &Path) -> Result<(), CgroupError> {
    // Not stopped by the terminal's Ctrl-C that the recorder forwards and survives.
    // SAFETY: setting a signal disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut said = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut said);
    if said == DONE {
        return Ok(());
    }
    if !cgroup.exists() {
        return Ok(());
    }
    let mount = Cgroup2Mount::find()?;
    Cgroup::adopt_owned(&mount, cgroup)?.remove()
}

/// The cgroups of recorders that are no longer running: `<v2>/sysallow/run-PID` whose PID is
/// gone. Each is emptied (its processes killed) and removed, and said on stderr.
pub fn clear_stale(mount: &Cgroup2Mount) -> Vec<PathBuf> {
    let parent = mount.path.join(PARENT);
    let mut cleared = Vec::new();
    for (_, path) in crate::cgroup::subdirs(&parent) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if recorder_alive(pid) {
            continue;
        }
        let removed = Cgroup::adopt_owned(mount, &path).and_then(Cgroup::remove);
        if !path.exists() && removed.is_err() {
            // Another recorder starting at the same moment cleared it first.
            continue;
        }
        match removed {
            Ok(()) => {
                eprintln!(
                    "sysallow: removed {}, left by a recorder (pid {pid}) that is no longer \
                     running, and ended what still ran in it",
                    path.display()
                );
                cleared.push(path);
            }
            Err(err) => eprintln!(
                "sysallow: warning: could not clear {}: {}",
                path.display(),
                sysallow_profile::error_chain(&err)
            ),
        }
    }
    // Give a killed tree a moment to be reaped before a new cgroup is made beside it.
    if !cleared.is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    cleared
}

/// Whether `pid` may still be the recorder: any live process counts (a pid reused by another
/// program keeps a stale cgroup until it is free, which is harmless; clearing a live
/// recording would not be).
fn recorder_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name (proc(5)); Z is a zombie.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim().chars().next());
    state != Some('Z')
}
