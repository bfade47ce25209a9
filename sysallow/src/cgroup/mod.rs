//! cgroup v2: finding the hierarchy, and the cgroup a recorded command runs in.
//!
//! The eBPF side identifies targets by cgroup v2 id, which is the inode number of the cgroup's
//! directory (FIELD-NOTES), and follows sub-cgroups by looking at the ancestor at the target's
//! level. The v2 hierarchy is found from mountinfo: it is `/sys/fs/cgroup` on most current
//! distributions but `/sys/fs/cgroup/unified` on hybrid hosts like these.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

pub mod births;
mod hierarchy;
pub use hierarchy::{
    Cgroup2Mount, CgroupDir, Occupancy, cgroup1_mounts, mountinfo, parse_v2_line, pid_cgroup,
};

/// The directory under the v2 root where sysallow creates the cgroups of recorded commands.
pub const PARENT: &str = "sysallow";

/// What went wrong with the cgroup v2 hierarchy or one of its directories. Knows nothing of
/// targets: `target` builds on this module, never the reverse.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo); sysallow filters \
         by cgroup v2 id: mount one with `mount -t cgroup2 none /sys/fs/cgroup/unified`"
    )]
    NoV2Mount,
    #[error("{path} is not a cgroup v2 directory (cgroup v2 is mounted at {mount}): {reason}")]
    NotACgroup {
        path: PathBuf,
        mount: PathBuf,
        reason: String,
    },
    #[error("no process with pid {pid}")]
    PidNotFound { pid: u32 },
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroup {path} still has processes (after {secs} s); left in place")]
    Busy { path: PathBuf, secs: u64 },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A cgroup v2 directory.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    id: u64,
    level: u32,
    /// Whether sysallow created it for a command it started (and so must remove it, killing
    /// what the command left behind).
    owned: bool,
}

impl Cgroup {
    /// A cgroup sysallow did not create (it is never removed).
    pub fn from_dir(dir: &CgroupDir) -> Self {
        Cgroup {
            path: dir.path.clone(),
            id: dir.id,
            level: dir.level,
            owned: false,
        }
    }

    /// Create a new cgroup for one recorded command: `<mount>/sysallow/<name>`. It is removed
    /// when dropped, after killing whatever the command left in it.
    pub fn create_for_command(mount: &Cgroup2Mount, name: &str) -> Result<Self, CgroupError> {
        let parent = mount.path.join(PARENT);
        match fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("creating cgroup", &parent)(e)),
        }
        let path = parent.join(name);
        fs::create_dir(&path).map_err(io_err("creating cgroup", &path))?;
        let mut cgroup = Cgroup::from_dir(&mount.open(&path)?);
        cgroup.owned = true;
        Ok(cgroup)
    }

    /// Take over a cgroup sysallow created earlier (a dead recorder's): removing it kills
    /// what is left in it.
    pub fn adopt_owned(mount: &Cgroup2Mount, path: &Path) -> Result<Self, CgroupError> {
        let mut cgroup = Cgroup::from_dir(&mount.open(path)?);
        cgroup.owned = true;
        Ok(cgroup)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup v2 id (what `bpf_get_current_cgroup_id()` returns for its tasks).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Depth below the v2 root (the root is level 0).
    pub fn level(&self) -> u32 {
        self.level
    }

    /// `cgroup.procs`, opened close-on-exec: a forked child writes `0` to it to move itself.
    pub fn procs_file(&self) -> Result<File, CgroupError> {
        let path = self.path.join("cgroup.procs");
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err("opening", &path))
    }

    /// Whether any process is left in the cgroup or below it (`populated` in `cgroup.events`).
    pub fn populated(&self) -> Result<bool, CgroupError> {
        let path = self.path.join("cgroup.events");
        let text = fs::read_to_string(&path).map_err(io_err("reading", &path))?;
        Ok(text.lines().any(|l| l.trim() == "populated 1"))
    }

    /// The pids directly in this cgroup.
    pub fn pids(&self) -> Vec<u32> {
        procs(&self.path)
    }

    /// SIGKILL everything left in the cgroup (the recorded command's own descendants).
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        // cgroup.kill (Linux 5.14) kills the whole subtree atomically, including processes
        // forking at that moment.
        let kill = self.path.join("cgroup.kill");
        match fs::OpenOptions::new().write(true).open(&kill) {
            Ok(mut f) => f.write_all(b"1").map_err(io_err("writing", &kill)),
            Err(_) => {
                for pid in self.pids() {
                    // SAFETY: kill(2) with a pid read from our own cgroup.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                Ok(())
            }
        }
    }

    /// Wait up to `timeout` for the cgroup to have no processes.
    pub fn wait_empty(&self, timeout: Duration) -> Result<bool, CgroupError> {
        let start = Instant::now();
        loop {
            if !self.populated()? {
                return Ok(true);
            }
            if start.elapsed() >= timeout {
                return Ok(false);
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kill what is left, wait for it, and remove the directory (only if sysallow created it).
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.remove_now()
    }

    fn remove_now(&mut self) -> Result<(), CgroupError> {
        if !self.owned {
            return Ok(());
        }
        const WAIT: Duration = Duration::from_secs(10);
        if self.populated()? {
            self.kill_all()?;
            if !self.wait_empty(WAIT)? {
                return Err(CgroupError::Busy {
                    path: self.path.clone(),
                    secs: WAIT.as_secs(),
                });
            }
        }
        remove_tree(&self.path)?;
        self.owned = false;
        // The shared `sysallow` parent: remove it if we were the last user.
        if let Some(parent) = self.path.parent() {
            let _ = fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// Remove a cgroup directory and any sub-cgroups the workload created, deepest first (cgroup
/// directories are removed with rmdir, never by deleting their files).
fn remove_tree(path: &Path) -> Result<(), CgroupError> {
    for dir in tree(path).iter().rev() {
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing cgroup", dir)(e)),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Walking a cgroup tree: cgroups appear and vanish while it is walked, so an unreadable
// directory is skipped, never an error.
// ---------------------------------------------------------------------------------------------

/// The cgroups directly under `dir`, with their cgroup ids (the directories' inode numbers).
pub fn subdirs(dir: &Path) -> Vec<(u64, PathBuf)> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_dir().then(|| (meta.ino(), e.path()))
        })
        .collect()
}

/// `dir` and every cgroup below it, each parent before its children.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    walk(dir, usize::MAX, |path, _| {
        out.push(path.to_owned());
        Visit::Descend
    });
    out
}

/// What [`walk`] does after visiting a cgroup.
pub enum Visit {
    /// Go on into the cgroups below it.
    Descend,
    /// Not below it (e.g. a container's own sub-cgroups are not more containers).
    Prune,
}

/// Visit every cgroup below `dir` (not `dir` itself) down to `max_levels` levels, each parent
/// before its children. `visit` gets the cgroup's path and the directory names from `dir` down
/// to it, its own name last.
pub fn walk(dir: &Path, max_levels: usize, mut visit: impl FnMut(&Path, &[&str]) -> Visit) {
    fn below(
        dir: &Path,
        names: &mut Vec<String>,
        max_levels: usize,
        visit: &mut dyn FnMut(&Path, &[&str]) -> Visit,
    ) {
        if names.len() >= max_levels {
            return;
        }
        for (_, path) in subdirs(dir) {
            let Some(name) = path.file_name() else {
                continue;
            };
            names.push(name.to_string_lossy().into_owned());
            let view: Vec<&str> = names.iter().map(String::as_str).collect();
            if let Visit::Descend = visit(&path, &view) {
                below(&path, names, max_levels, visit);
            }
            names.pop();
        }
    }
    below(dir, &mut Vec::new(), max_levels, &mut visit);
}

/// The processes directly in the cgroup `dir` (its `cgroup.procs`).
pub fn procs(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if self.owned
            && let Err(err) = self.remove_now()
        {
            eprintln!("sysallow: warning: {}", sysallow_profile::error_chain(&err));
        }
    }
}
