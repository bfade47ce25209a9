//! `/proc/self/mountinfo`: the one parser of it, and the one place that finds the cgroup v2
//! mount. The v2 hierarchy may be mounted anywhere (`/sys/fs/cgroup` on most distributions,
//! `/sys/fs/cgroup/unified` on hybrid hosts; FIELD-NOTES), so it is looked up, never assumed.
//!
//! Here, behind the `std` feature, rather than in `sysallow`: `xtask` needs the same lookup
//! and must not depend on `sysallow` (whose build script builds the eBPF object).

extern crate std;

use std::fs;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

/// Where the kernel lists the mounts of the calling process's mount namespace.
pub const PATH: &str = "/proc/self/mountinfo";

/// One mount, with the fields sysallow uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the file system shown at the mount point (`/` unless a sub-tree is
    /// mounted: a bind mount, a cgroup namespace).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The file system type, e.g. `cgroup2`.
    pub fs_type: String,
    /// The per-superblock options, as the file system shows them (overlayfs:
    /// `lowerdir=...,upperdir=...,workdir=...`); not unescaped (each file system escapes its
    /// own separators).
    pub super_options: String,
}

/// Every well-formed line of `mountinfo`, in order. Lines are `id parent major:minor root
/// mountpoint options [optional...] - fstype source superoptions` (proc(5)); paths escape
/// space, tab, newline and backslash as `\ooo`. A malformed line is skipped.
pub fn parse(mountinfo: &str) -> impl Iterator<Item = Mount> + '_ {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let fs_type = right.next()?;
        // After the source.
        let super_options = right.nth(1).unwrap_or_default();
        let mut fields = left.split_whitespace();
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        Some(Mount {
            root: PathBuf::from(unescape_octal(root)),
            mount_point: PathBuf::from(unescape_octal(mount_point)),
            fs_type: String::from(fs_type),
            super_options: String::from(super_options),
        })
    })
}

/// The first cgroup v2 mount listed in `mountinfo`.
pub fn cgroup2(mountinfo: &str) -> Option<Mount> {
    parse(mountinfo).find(|m| m.fs_type == "cgroup2")
}

/// The mount points of the cgroup v1 hierarchies (hybrid hosts).
pub fn cgroup1(mountinfo: &str) -> Vec<PathBuf> {
    parse(mountinfo)
        .filter(|m| m.fs_type == "cgroup")
        .map(|m| m.mount_point)
        .collect()
}

/// The cgroup v2 mount of this process's mount namespace: `Ok(None)` when none is mounted.
pub fn find_cgroup2() -> io::Result<Option<Mount>> {
    Ok(cgroup2(&fs::read_to_string(PATH)?))
}

/// Undo the `\ooo` octal escapes mountinfo (and overlayfs's options) use for space, tab,
/// newline and backslash.
pub fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = s.get(i + 1..i + 4)
            && let Ok(byte) = u8::from_str_radix(code, 8)
        {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_hybrid_v2_mount_and_the_v1_ones() {
        let v2 = cgroup2(HYBRID).unwrap();
        assert_eq!(v2.mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(v2.root, Path::new("/"));
        assert_eq!(cgroup1(HYBRID), [PathBuf::from("/sys/fs/cgroup/cpu")]);
    }

    #[test]
    fn reads_optional_fields_and_escapes() {
        let text = "29 23 0:26 /kubepods/pod1 /sys/fs/cgroup\\040x\\134y rw,nosuid shared:4 \
                    master:1 - cgroup2 cgroup2 rw,nsdelegate\n";
        let mount = cgroup2(text).unwrap();
        assert_eq!(mount.mount_point, Path::new("/sys/fs/cgroup x\\y"));
        assert_eq!(mount.root, Path::new("/kubepods/pod1"));
        assert_eq!(mount.super_options, "rw,nsdelegate");
    }

    #[test]
    fn skips_malformed_lines_and_finds_no_v2_mount() {
        let text = "garbage\n1 2 3 - cgroup2 x\n32 31 0:29 / /c rw - cgroup cgroup rw\n";
        // The second line has a separator but too few fields before it.
        assert_eq!(parse(text).count(), 1);
        assert_eq!(cgroup2(text), None);
        // A backslash not followed by three octal digits is kept as is.
        let text = "1 2 0:1 / /a\\9z rw - cgroup2 c rw\n";
        assert_eq!(cgroup2(text).unwrap().mount_point, Path::new("/a\\9z"));
    }
}
