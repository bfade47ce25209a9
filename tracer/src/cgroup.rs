//! cgroup v2: finding the hierarchy, and the cgroup a recorded command runs in.
//!
//! The eBPF side identifies targets by cgroup v2 id, which is the inode number of the cgroup's
//! directory (FIELD-NOTES), and follows sub-cgroups by looking at the ancestor at the target's
//! level. The v2 hierarchy is found from mountinfo: it is `/sys/fs/cgroup` on most current
//! distributions but `/sys/fs/cgroup/unified` on hybrid hosts like these.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The directory under the v2 root where sysallow creates the cgroups of recorded commands.
pub const PARENT: &str = "sysallow";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo); sysallow needs one \
         to follow a command and its descendants: mount -t cgroup2 none /sys/fs/cgroup/unified"
    )]
    NoV2Mount,
    #[error("reading /proc/self/mountinfo: {0}")]
    MountInfo(#[source] io::Error),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not under the cgroup v2 hierarchy at {mount}")]
    NotUnderMount { path: PathBuf, mount: PathBuf },
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

/// The mount point of the cgroup v2 hierarchy, from `/proc/self/mountinfo`.
pub fn v2_mount() -> Result<PathBuf, CgroupError> {
    let text = fs::read_to_string("/proc/self/mountinfo").map_err(CgroupError::MountInfo)?;
    parse_v2_mount(&text).ok_or(CgroupError::NoV2Mount)
}

/// mountinfo lines are `id parent major:minor root mountpoint options [optional...] - fstype
/// source superoptions` (proc(5)); the mount point escapes spaces as `\040`.
fn parse_v2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount_point = left.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_octal(mount_point)))
    })
}

fn unescape_octal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let code = rest.get(pos + 1..pos + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[pos + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A cgroup v2 directory.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    id: u64,
    level: u32,
    /// Whether sysallow created it (and so must remove it).
    owned: bool,
    /// Leave the parent directory alone when removing (it is not sysallow's).
    keep_parent: bool,
    /// Kill what is left in it before removing (only for a command sysallow started: a
    /// parent cgroup's containers are the user's, and are never killed).
    kill_leftovers: bool,
}

impl Cgroup {
    /// An existing cgroup directory under `mount`.
    pub fn open(mount: &Path, path: &Path) -> Result<Self, CgroupError> {
        let relative = path
            .strip_prefix(mount)
            .map_err(|_| CgroupError::NotUnderMount {
                path: path.to_owned(),
                mount: mount.to_owned(),
            })?;
        let meta = fs::metadata(path).map_err(io_err("reading", path))?;
        Ok(Cgroup {
            path: path.to_owned(),
            id: meta.ino(),
            level: relative.components().count() as u32,
            owned: false,
            keep_parent: false,
            kill_leftovers: false,
        })
    }

    /// Create a new cgroup for one recorded command: `<mount>/sysallow/<name>`.
    pub fn create_for_command(mount: &Path, name: &str) -> Result<Self, CgroupError> {
        let parent = mount.join(PARENT);
        match fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("creating cgroup", &parent)(e)),
        }
        let path = parent.join(name);
        fs::create_dir(&path).map_err(io_err("creating cgroup", &path))?;
        let mut cgroup = Cgroup::open(mount, &path)?;
        cgroup.owned = true;
        cgroup.kill_leftovers = true;
        Ok(cgroup)
    }

    /// Open `<mount>/<relative>`, creating it (and owning it: removed when dropped, if empty
    /// of processes) when it does not exist.
    pub fn create_or_open(mount: &Path, relative: &Path) -> Result<Self, CgroupError> {
        let path = mount.join(relative);
        match fs::create_dir(&path) {
            Ok(()) => {
                let mut cgroup = Cgroup::open(mount, &path)?;
                cgroup.owned = true;
                cgroup.keep_parent = true;
                Ok(cgroup)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Cgroup::open(mount, &path),
            Err(e) => Err(io_err("creating cgroup", &path)(e)),
        }
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
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let path = self.path.join("cgroup.procs");
        let text = fs::read_to_string(&path).map_err(io_err("reading", &path))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// SIGKILL everything left in the cgroup (the recorded command's own descendants).
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        // cgroup.kill (Linux 5.14) kills the whole subtree atomically, including processes
        // forking at that moment.
        let kill = self.path.join("cgroup.kill");
        match fs::OpenOptions::new().write(true).open(&kill) {
            Ok(mut f) => f.write_all(b"1").map_err(io_err("writing", &kill)),
            Err(_) => {
                for pid in self.pids()? {
                    // SAFETY: kill(2) with a pid read from our own cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
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
        if !self.kill_leftovers && self.populated()? {
            // Someone else's processes (containers started under a parent we created).
            self.owned = false;
            return Err(CgroupError::Busy {
                path: self.path.clone(),
                secs: 0,
            });
        }
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
        if !self.keep_parent
            && let Some(parent) = self.path.parent()
        {
            let _ = fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// Remove a cgroup directory and any sub-cgroups the workload created, deepest first (cgroup
/// directories are removed with rmdir, never by deleting their files).
fn remove_tree(path: &Path) -> Result<(), CgroupError> {
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path())?;
            }
        }
    }
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing cgroup", path)(e)),
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if self.owned
            && let Err(err) = self.remove_now()
        {
            eprintln!("sysallow: warning: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_mount_on_a_hybrid_host() {
        let mountinfo = "\
35 24 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,relatime shared:10 - cgroup2 cgroup2 rw\n\
37 35 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        assert_eq!(
            parse_v2_mount(mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(parse_v2_mount("1 0 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn unescapes_mount_points() {
        let line = "36 35 0:31 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_v2_mount(line), Some(PathBuf::from("/mnt/my cgroups")));
    }
}
