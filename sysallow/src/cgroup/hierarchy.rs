//! The cgroup v2 hierarchy: where it is mounted, and what a directory in it is (id, level).
//!
//! Facts used here (FIELD-NOTES, "Kernel and cgroups on this kind"):
//! - the v2 hierarchy may be mounted anywhere (`/sys/fs/cgroup` on most distributions,
//!   `/sys/fs/cgroup/unified` on hybrid hosts), so it is found from `/proc/self/mountinfo`;
//! - a cgroup's id (what `bpf_get_current_cgroup_id()` returns) is the inode number of its
//!   directory;
//! - `bpf_get_current_ancestor_cgroup_id(level)` counts levels from the root of the hierarchy
//!   (root = 0), which is not the mount point when a sub-tree is mounted (cgroup namespace, bind
//!   mount): mountinfo's `root` field says where the mount sits in the hierarchy.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};

pub use sysallow_common::mountinfo;

use super::{CgroupError, io_err};

/// `CGROUP2_SUPER_MAGIC` from `include/uapi/linux/magic.h`.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Where the cgroup v2 hierarchy is mounted, and which cgroup the mount shows as its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup2Mount {
    /// The mount point, e.g. `/sys/fs/cgroup/unified`.
    pub path: PathBuf,
    /// The cgroup at the mount point, relative to the hierarchy's root (`/` unless a sub-tree
    /// is mounted).
    pub root: PathBuf,
}

impl Cgroup2Mount {
    /// The first cgroup2 mount in `/proc/self/mountinfo`: the one way sysallow finds the
    /// hierarchy ([`mountinfo::find_cgroup2`]).
    pub fn find() -> Result<Self, CgroupError> {
        mountinfo::find_cgroup2()
            .map_err(io_err("reading", Path::new(mountinfo::PATH)))?
            .map(Self::from)
            .ok_or(CgroupError::NoV2Mount)
    }

    /// The first cgroup2 mount in the text of a mountinfo file.
    pub fn parse(text: &str) -> Option<Self> {
        mountinfo::cgroup2(text).map(Self::from)
    }

    /// The depth of the mount point's own cgroup in the hierarchy (0 for a full mount).
    pub fn root_level(&self) -> u32 {
        depth(&self.root)
    }

    /// The directory of `cgroup` given as in `/proc/PID/cgroup` (`/docker/<id>`: relative to
    /// the hierarchy root as seen from our cgroup namespace, which is the mount's root here).
    pub fn dir_of(&self, cgroup: &str) -> PathBuf {
        let relative = Path::new(cgroup.trim_start_matches('/'));
        let relative = relative.strip_prefix(self.root.strip_prefix("/").unwrap_or(&self.root));
        match relative {
            Ok(rest) => self.path.join(rest),
            Err(_) => self.path.join(cgroup.trim_start_matches('/')),
        }
    }

    /// Open a directory of this hierarchy: it must exist, lie under the mount point, and be on
    /// a cgroup2 file system.
    pub fn open(&self, dir: &Path) -> Result<CgroupDir, CgroupError> {
        let not_a_cgroup = |reason: String| CgroupError::NotACgroup {
            path: dir.to_owned(),
            mount: self.path.clone(),
            reason,
        };
        let canonical = fs::canonicalize(dir).map_err(|e| not_a_cgroup(e.to_string()))?;
        let mount = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let relative = canonical
            .strip_prefix(&mount)
            .map_err(|_| not_a_cgroup("it is outside the cgroup v2 mount".to_owned()))?
            .to_owned();
        let meta = fs::metadata(&canonical).map_err(|e| not_a_cgroup(e.to_string()))?;
        if !meta.is_dir() {
            return Err(not_a_cgroup("it is not a directory".to_owned()));
        }
        if !is_cgroup2_fs(&canonical) {
            return Err(not_a_cgroup(
                "it is not on a cgroup2 file system".to_owned(),
            ));
        }
        Ok(CgroupDir {
            level: self.root_level() + depth(&relative),
            relative: Path::new("/").join(relative),
            path: canonical,
            id: meta.ino(),
        })
    }
}

/// Whether a cgroup, known only by its id, still has processes (see
/// [`Cgroup2Mount::populated_by_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occupancy {
    /// It exists and has a process in it or below it.
    Populated,
    /// It exists and is empty (`populated 0`).
    Empty,
    /// No cgroup has this id any more (removed).
    Gone,
}

impl Cgroup2Mount {
    /// Whether the cgroup with v2 id `id` still has processes, found by its id alone: cgroupfs
    /// takes the id as a file handle (kernfs `FILEID_KERNFS`, the 8-byte id), so no path, which
    /// a caller could get wrong or a new cgroup could reuse, is involved. A removed cgroup's
    /// handle is stale. Needs CAP_DAC_READ_SEARCH (open_by_handle_at(2)).
    pub fn populated_by_id(&self, id: u64) -> Result<Occupancy, CgroupError> {
        /// include/linux/exportfs.h: `FILEID_KERNFS`.
        const FILEID_KERNFS: i32 = 0xfe;
        #[repr(C)]
        struct Handle {
            handle_bytes: u32,
            handle_type: i32,
            id: [u8; 8],
        }
        let mount = File::open(&self.path).map_err(io_err("opening", &self.path))?;
        let mut handle = Handle {
            handle_bytes: 8,
            handle_type: FILEID_KERNFS,
            id: id.to_ne_bytes(),
        };
        // SAFETY: `handle` is a `struct file_handle` with its 8 bytes of handle, alive for the
        // call; the kernel returns a new descriptor or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                mount.as_raw_fd(),
                &mut handle as *mut Handle,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        let by_id = PathBuf::from(format!("(cgroup id {id})"));
        if fd < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ESTALE | libc::ENOENT) => Ok(Occupancy::Gone),
                _ => Err(io_err("opening by id", &by_id)(err)),
            };
        }
        let fd = i32::try_from(fd).map_err(|_| {
            io_err("opening by id", &by_id)(io::Error::other("descriptor out of range"))
        })?;
        // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
        let dir = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let events = PathBuf::from(format!("/proc/self/fd/{}/cgroup.events", dir.as_raw_fd()));
        let text = fs::read_to_string(&events).map_err(io_err("reading", &by_id))?;
        Ok(if text.lines().any(|l| l.trim() == "populated 1") {
            Occupancy::Populated
        } else {
            Occupancy::Empty
        })
    }
}

impl From<mountinfo::Mount> for Cgroup2Mount {
    fn from(mount: mountinfo::Mount) -> Self {
        Cgroup2Mount {
            path: mount.mount_point,
            root: mount.root,
        }
    }
}

/// One cgroup v2 directory, as the recorder arms it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CgroupDir {
    /// The directory, e.g. `/sys/fs/cgroup/unified/docker/<id>`.
    pub path: PathBuf,
    /// Its path below the mount point, as in `/proc/PID/cgroup`: `/docker/<id>`.
    pub relative: PathBuf,
    /// The cgroup id: the directory's inode number (= `bpf_get_current_cgroup_id()`).
    pub id: u64,
    /// Its level in the v2 hierarchy (root = 0): the argument of
    /// `bpf_get_current_ancestor_cgroup_id()` that yields `id` for tasks in it or below it.
    pub level: u32,
}

/// Whether `path` is on a cgroup2 file system (statfs(2) `f_type`).
fn is_cgroup2_fs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `buf` is a
    // writable `struct statfs` that the kernel fills on success.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: statfs returned 0, so it initialised `buf`.
    let buf = unsafe { buf.assume_init() };
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type's integer type differs between architectures"
    )]
    let f_type = buf.f_type as i64;
    f_type == CGROUP2_SUPER_MAGIC
}

fn depth(path: &Path) -> u32 {
    let n = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The v2 cgroup of a process: the `0::/path` line of `/proc/PID/cgroup` (cgroups(7)).
/// `None` when the process has no v2 entry (a v1-only host).
pub fn pid_cgroup(pid: u32) -> Result<Option<String>, CgroupError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => {
            return Err(CgroupError::PidNotFound { pid });
        }
        Err(source) => return Err(io_err("reading", &file)(source)),
    };
    Ok(parse_v2_line(&text))
}

pub fn parse_v2_line(proc_cgroup: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let path = line.strip_prefix("0::")?;
        // A cgroup removed while the process still names it reads "/x (deleted)".
        Some(path.trim_end_matches(" (deleted)").to_owned())
    })
}

/// The mount points of the cgroup v1 hierarchies (hybrid hosts), for clean-up of directories
/// a runtime mirrors there; none when mountinfo cannot be read.
pub fn cgroup1_mounts() -> Vec<PathBuf> {
    fs::read_to_string(mountinfo::PATH)
        .map(|text| mountinfo::cgroup1(&text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_hybrid_v2_mount() {
        let mount = Cgroup2Mount::parse(HYBRID).unwrap();
        assert_eq!(mount.path, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(mount.root_level(), 0);
    }

    #[test]
    fn finds_a_unified_mount_with_optional_fields_and_escapes() {
        let text = "29 23 0:26 /kubepods/pod1 /sys/fs/cgroup\\040x rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n";
        let mount = Cgroup2Mount::parse(text).unwrap();
        assert_eq!(mount.path, Path::new("/sys/fs/cgroup x"));
        assert_eq!(mount.root, Path::new("/kubepods/pod1"));
        assert_eq!(mount.root_level(), 2);
        assert_eq!(
            mount.dir_of("/kubepods/pod1/abc"),
            Path::new("/sys/fs/cgroup x/abc")
        );
    }

    #[test]
    fn no_v2_mount() {
        assert_eq!(
            Cgroup2Mount::parse("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"),
            None
        );
    }

    #[test]
    fn reads_the_v2_line_of_proc_pid_cgroup() {
        let text = "1:cpu:/docker/abc\n0::/docker/abc\n";
        assert_eq!(parse_v2_line(text).as_deref(), Some("/docker/abc"));
        assert_eq!(parse_v2_line("0::/x (deleted)\n").as_deref(), Some("/x"));
        assert_eq!(parse_v2_line("1:cpu:/\n"), None);
    }
}
