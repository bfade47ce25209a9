//! What a container wrote on its root filesystem (`Privileges::root_fs`), read from its
//! overlay writable layer (the upper directory), for a read-only root's tmpfs proposals.
//!
//! Where the layers come from: the container's root mount in `/proc/PID/mountinfo` of one of
//! its processes, while it runs (overlayfs shows `lowerdir=`, `upperdir=`). That is the same
//! for every engine that mounts an overlay root (Docker's overlay2, Podman's overlay,
//! containerd's and CRI-O's overlayfs snapshotters) and needs no engine API. Docker's overlay2
//! may give relative lowerdirs (`l/ABC`, when the absolute ones would not fit in a page: it
//! mounts from its overlay2 directory): they are resolved against the upper directory's
//! grandparent (`<data-root>/overlay2/<id>/diff` -> `<data-root>/overlay2`). The same mountinfo
//! names every mount over the root (volumes, tmpfs, /proc, /dev, /sys, the runtime's
//! /etc/hosts, /etc/resolv.conf and /etc/hostname bind mounts): what lies on them is not on
//! the root filesystem and is left out, as are the directories a runtime created in the upper
//! layer only to hold such a mount point.
//!
//! When: the upper layer is scanned at every look while the container runs (the recorder's
//! loop, [`LOOK_EVERY`]), and once more when the recording ends if the layer still exists (a
//! container not removed with `--rm`). Writes are united over the scans.
//!
//! What a scan can miss: a file created and removed between two scans leaves nothing in the
//! upper layer (no whiteout: the image never had it), and a container that ends before the
//! first look has its layer read only if it still exists then and was seen once. Such a write
//! is not proposed a mount; `sysallow prove` catches it, because under `--read-only` the
//! creation fails (EROFS) and the run differs from the unconfined one.
//!
//! Reading the layer: a plain entry in the upper layer was created or changed (copied up);
//! it is `in_image` when a lower layer has it. A whiteout (a character device 0:0) is the
//! removal of what a lower layer ships. An opaque directory (`trusted.overlay.opaque=y`) was
//! removed and made again: it is a write of the directory, and nothing below it is from the
//! image. A directory copied up only because something below it changed is not itself a
//! write. Below a directory the workload created, everything is new: the directory is
//! recorded and not walked (what decides the mounts needs only it). Lower layers are looked
//! up top to bottom, a whiteout or an opaque directory in a higher one hiding the rest; a
//! whiteout of an *ancestor* in a higher lower layer is not followed (images rarely remove a
//! directory and ship a path below it again).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sysallow_common::mountinfo::unescape_octal;
use sysallow_profile::privileges::{RootFs, RootWrite};

/// How often a running container's upper layer is scanned.
pub const LOOK_EVERY: Duration = Duration::from_millis(250);
/// The most entries one scan visits (a workload that unpacks a tree into a directory it
/// created is recorded as that directory; this bounds a pathological layer).
const MAX_ENTRIES: usize = 20_000;

/// The mount points every engine puts over a container's root, whether or not its inspect
/// lists them (runc's and crun's defaults from the OCI spec Docker and Podman write: /proc,
/// /dev with /dev/pts, /dev/shm and /dev/mqueue, /sys with its cgroup mount; the engine's
/// bind mounts of /etc/hosts, /etc/hostname and /etc/resolv.conf).
pub const RUNTIME_MOUNTS: &[&str] = &[
    "/proc",
    "/dev",
    "/sys",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
];

/// A container's overlay layers, as its root mount names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layers {
    pub upper: PathBuf,
    /// Top first.
    pub lowers: Vec<PathBuf>,
}

/// The root mount's layers and every other mount point, from a container process's
/// mountinfo; `None` unless its root is an overlay with an upper layer.
pub fn from_mountinfo(text: &str) -> Option<(Layers, BTreeSet<String>)> {
    let mut root = None;
    let mut mounts = BTreeSet::new();
    for m in sysallow_common::mountinfo::parse(text) {
        let point = m.mount_point.display().to_string();
        if point == "/" {
            // The last mount on / is what the process sees.
            root = Some(m);
        } else {
            mounts.insert(point);
        }
    }
    let root = root?;
    if root.fs_type != "overlay" {
        return None;
    }
    let (mut upper, mut lowers) = (None, Vec::new());
    for option in root.super_options.split(',') {
        if let Some(dir) = option.strip_prefix("upperdir=") {
            upper = Some(PathBuf::from(unescape_octal(dir)));
        } else if let Some(dirs) = option.strip_prefix("lowerdir=") {
            // `:` separates layers (an escaped one is `\072`); `::` before data-only layers.
            lowers.extend(
                dirs.split(':')
                    .filter(|d| !d.is_empty())
                    .map(|d| PathBuf::from(unescape_octal(d))),
            );
        }
    }
    let upper = upper?;
    // Docker's relative `l/ABC`: from its overlay2 directory, the upper's grandparent.
    let base = upper.parent().and_then(Path::parent).map(Path::to_owned);
    let lowers = lowers
        .into_iter()
        .map(|l| match (&base, l.is_relative()) {
            (Some(base), true) => base.join(l),
            _ => l,
        })
        .collect();
    Some((Layers { upper, lowers }, mounts))
}

/// The layers and mounts an engine's inspect gives, with the runtime's own mount points.
pub fn from_inspect(
    json: &crate::target::engine::ContainerJson,
) -> Option<(Layers, BTreeSet<String>)> {
    let (upper, lowers) = json.layers.as_ref()?;
    let mut mounts: BTreeSet<String> = json.mounts.iter().cloned().collect();
    mounts.extend(RUNTIME_MOUNTS.iter().map(|m| (*m).to_owned()));
    Some((
        Layers {
            upper: PathBuf::from(upper),
            lowers: lowers.iter().map(PathBuf::from).collect(),
        },
        mounts,
    ))
}

/// `path` is `dir` or below it.
fn is_under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `dir/name` for container paths.
fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `/a/b` inside `layer`.
fn inside(layer: &Path, path: &str) -> PathBuf {
    layer.join(path.trim_start_matches('/'))
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// `trusted.overlay.opaque` (or `user.overlay.opaque` for a userxattr mount) is `y`.
fn is_opaque(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| {
            let Ok(name) = CString::new(*name) else {
                return false;
            };
            let mut value = [0u8; 4];
            // SAFETY: NUL-terminated path and name, a buffer of the length given.
            let n = unsafe {
                libc::lgetxattr(
                    path.as_ptr(),
                    name.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            n >= 1 && value[0] == b'y'
        })
}

/// What the lower layers show at `path`: `Some(is_dir)` when it is in the image.
fn in_image(lowers: &[PathBuf], path: &str) -> Option<bool> {
    for layer in lowers {
        if let Ok(meta) = std::fs::symlink_metadata(inside(layer, path)) {
            if is_whiteout(&meta) {
                return None;
            }
            return Some(meta.is_dir());
        }
    }
    None
}

/// The entries the lower layers ship directly in `dir`.
fn shipped_entries(lowers: &[PathBuf], dir: &str) -> u32 {
    let mut shown = BTreeSet::new();
    let mut hidden = BTreeSet::new();
    for layer in lowers {
        let here = inside(layer, dir);
        let Ok(entries) = std::fs::read_dir(&here) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let whiteout = entry.metadata().is_ok_and(|m| is_whiteout(&m));
            if whiteout {
                hidden.insert(name);
            } else if !hidden.contains(&name) {
                shown.insert(name);
            }
        }
        if is_opaque(&here) {
            break;
        }
    }
    u32::try_from(shown.len()).unwrap_or(u32::MAX)
}

/// A container's root filesystem writes, united over the looks at it.
#[derive(Debug, Default)]
pub struct RootFsWatch {
    layers: Option<Layers>,
    mounts: BTreeSet<String>,
    writes: BTreeMap<String, RootWrite>,
    image_entries: BTreeMap<String, u32>,
    last_look: Option<Instant>,
    /// Its last process was seen gone (and the layer scanned then).
    ended: bool,
    /// The container's id and engine (`None`: any that inspects), to ask for its layers.
    engine: Option<(String, Option<crate::target::Engine>)>,
    engine_attempts: u32,
}

impl RootFsWatch {
    pub fn new() -> RootFsWatch {
        RootFsWatch::default()
    }

    /// Look at the container in cgroup `dir`: learn its layers and mounts from one of its
    /// processes until they are known, then scan at most every [`LOOK_EVERY`]; and at once
    /// when its last process is gone (before an engine's `--rm` removes the layer).
    pub fn look(&mut self, dir: &Path) {
        self.ask_engine();
        let pids: Vec<u32> = crate::cgroup::tree(dir)
            .iter()
            .flat_map(|d| crate::cgroup::procs(d))
            .collect();
        if pids.is_empty() {
            if !self.ended {
                self.ended = true;
                self.scan();
            }
            return;
        }
        self.ended = false;
        if self.layers.is_some() && self.last_look.is_some_and(|t| t.elapsed() < LOOK_EVERY) {
            return;
        }
        self.last_look = Some(Instant::now());
        // Any process whose root is the container's overlay: a runtime's process before its
        // pivot_root still shows the host's root and is passed over.
        for pid in pids {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
                continue;
            };
            if let Some((layers, mounts)) = from_mountinfo(&text) {
                if self.layers.as_ref().is_none_or(|l| l.upper == layers.upper) {
                    self.layers = Some(layers);
                    self.mounts.extend(mounts);
                }
                break;
            }
        }
        self.scan();
    }

    /// A watch of `target`, with its layers from its engine where that can tell (Docker and
    /// Podman inspect: `GraphDriver.Data`), so that a container that ends before the first
    /// look at its processes is still read: its layer lives until it is removed.
    pub fn for_target(target: &sysallow_profile::recording::Target) -> RootFsWatch {
        use crate::target::Engine;
        let mut watch = RootFsWatch::new();
        // An engine not yet known (the container was named at its cgroup's birth, before the
        // engine answered) is any engine that can inspect: asked by id, one of them knows it.
        if let sysallow_profile::recording::Target::Container { id, engine, .. } = target
            && matches!(engine, None | Some(Engine::Docker | Engine::Podman))
        {
            watch.engine = Some((id.clone(), engine.clone()));
            watch.ask_engine();
        }
        watch
    }

    /// Ask the engine for the layers, while they are unknown (an engine busy creating the
    /// container may not answer the first time; asked again at each look, a few times).
    fn ask_engine(&mut self) {
        const ATTEMPTS: u32 = 20;
        let Some((id, engine)) = &self.engine else {
            return;
        };
        if self.layers.is_some() || self.engine_attempts >= ATTEMPTS {
            return;
        }
        self.engine_attempts += 1;
        let found = crate::target::EngineSocket::from_env()
            .into_iter()
            .filter(|s| engine.as_ref().is_none_or(|e| &s.engine == e))
            .find_map(|s| s.inspect(id).ok());
        if let Some((layers, mounts)) = found.as_ref().and_then(from_inspect) {
            self.layers = Some(layers);
            self.mounts.extend(mounts);
        }
    }

    /// A watch of known layers and mounts over the root (for a layer read by hand).
    pub fn with_layers(layers: Layers, mounts: BTreeSet<String>) -> RootFsWatch {
        RootFsWatch {
            layers: Some(layers),
            mounts,
            ..RootFsWatch::default()
        }
    }

    /// The layers, once seen (for a last scan by hand, and tests).
    pub fn layers(&self) -> Option<&Layers> {
        self.layers.as_ref()
    }

    /// The writes: after one last scan if the layer still exists; `None` when the layers were
    /// never seen.
    pub fn finish(mut self) -> Option<RootFs> {
        self.scan();
        self.layers.as_ref()?;
        Some(RootFs {
            writes: self.writes.into_values().collect(),
            image_entries: self.image_entries,
        })
    }

    /// Walk the upper layer (when it exists) and unite what it holds with what was seen.
    pub fn scan(&mut self) {
        let Some(layers) = self.layers.clone() else {
            return;
        };
        if !layers.upper.is_dir() {
            return;
        }
        let mut budget = MAX_ENTRIES;
        let mut stack = vec!["/".to_owned()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(inside(&layers.upper, &dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                if budget == 0 {
                    return;
                }
                budget -= 1;
                let path = join(&dir, &entry.file_name().to_string_lossy());
                if self.mounts.iter().any(|m| is_under(&path, m)) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                let holds_mount_point = self.mounts.iter().any(|m| is_under(m, &path));
                let shipped = in_image(&layers.lowers, &path);
                if is_whiteout(&meta) {
                    // A removal: of something the image ships (else overlayfs leaves no whiteout).
                    self.note(&layers, &path, true, shipped.unwrap_or(false));
                    continue;
                }
                if !meta.is_dir() {
                    self.note(&layers, &path, shipped.is_some(), false);
                    continue;
                }
                let opaque = shipped.is_some() && is_opaque(&entry.path());
                match (shipped, opaque, holds_mount_point) {
                    // The runtime's directory for a mount point (or above one): walk on, it
                    // is not the workload's.
                    (_, _, true) => stack.push(path),
                    // Copied up because something below changed.
                    (Some(true), false, false) => stack.push(path),
                    // Removed and made again, or made by the workload: a write of the whole.
                    (Some(true), true, false) => self.note(&layers, &path, true, true),
                    // A directory where the image has a file, or none: created.
                    _ => self.note(&layers, &path, false, true),
                }
            }
        }
    }

    fn note(&mut self, layers: &Layers, path: &str, in_image: bool, dir: bool) {
        let write = RootWrite {
            path: path.to_owned(),
            in_image,
            dir,
        };
        // The first sight keeps its facts (a later whiteout of a created file is no removal
        // of the image's: overlayfs leaves none, so a path is seen one way).
        self.writes.entry(path.to_owned()).or_insert(write);
        // What a tmpfs would hide, in every directory above the write (and a shipped
        // directory written as a whole).
        let mut dirs: Vec<String> = Vec::new();
        if dir && in_image {
            dirs.push(path.to_owned());
        }
        let mut p = path.to_owned();
        while let Some(i) = p.rfind('/') {
            p.truncate(i.max(1));
            dirs.push(p.clone());
            if p == "/" {
                break;
            }
        }
        for d in dirs {
            if let std::collections::btree_map::Entry::Vacant(e) = self.image_entries.entry(d) {
                let n = shipped_entries(&layers.lowers, e.key());
                e.insert(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "\
712 580 0:62 / / rw,relatime master:301 - overlay overlay rw,lowerdir=l/ABC:l/DEF,upperdir=/var/lib/docker/overlay2/0123/diff,workdir=/var/lib/docker/overlay2/0123/work,nouserxattr
713 712 0:65 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
714 712 0:66 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
720 712 8:1 /var/lib/docker/containers/0123/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/sda1 rw
721 712 8:1 /var/lib/docker/volumes/v/_data /data\\040x rw,relatime - ext4 /dev/sda1 rw
";

    #[test]
    fn docker_relative_lowerdirs_resolve_against_the_overlay2_directory() {
        let (layers, mounts) = from_mountinfo(DOCKER).unwrap();
        assert_eq!(
            layers.upper,
            Path::new("/var/lib/docker/overlay2/0123/diff")
        );
        assert_eq!(
            layers.lowers,
            [
                PathBuf::from("/var/lib/docker/overlay2/l/ABC"),
                PathBuf::from("/var/lib/docker/overlay2/l/DEF")
            ]
        );
        assert_eq!(
            mounts.into_iter().collect::<Vec<_>>(),
            ["/data x", "/dev", "/etc/resolv.conf", "/proc"]
        );
    }

    #[test]
    fn absolute_escaped_and_data_only_lowerdirs_and_a_root_that_is_no_overlay() {
        let text =
            "1 0 0:1 / / rw - overlay overlay rw,lowerdir=/a\\072b:/c::/d,upperdir=/u/x/diff\n";
        let (layers, _) = from_mountinfo(text).unwrap();
        assert_eq!(
            layers.lowers,
            [
                PathBuf::from("/a:b"),
                PathBuf::from("/c"),
                PathBuf::from("/d")
            ]
        );
        // No upper layer (a read-only overlay), or no overlay: nothing to read.
        assert!(from_mountinfo("1 0 0:1 / / rw - overlay overlay rw,lowerdir=/a\n").is_none());
        assert!(from_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n").is_none());
    }

    /// An image and a container's layer made by hand: a file created, a shipped file changed,
    /// a created directory with content, a file under a volume's mount point.
    #[test]
    fn scans_a_layer_into_writes_with_image_entries() {
        let t = tempfile::tempdir().unwrap();
        let (upper, lower) = (t.path().join("upper"), t.path().join("lower"));
        for d in [
            "lower/etc/app",
            "lower/run",
            "lower/var/cache",
            "upper/etc/app",
            "upper/run",
            "upper/var/cache/made/sub",
            "upper/data",
        ] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        for f in [
            "lower/etc/app/app.conf",
            "lower/etc/app/other",
            "lower/etc/passwd",
            "lower/var/cache/kept",
            "upper/etc/app/app.conf",
            "upper/run/app.pid",
            "upper/var/cache/made/sub/f",
            "upper/data/on-a-volume",
        ] {
            std::fs::write(t.path().join(f), "x").unwrap();
        }
        let mut watch = RootFsWatch::new();
        watch.layers = Some(Layers {
            upper,
            lowers: vec![lower],
        });
        watch.mounts.insert("/data".to_owned());
        let fs = watch.finish().unwrap();
        let writes: Vec<(&str, bool, bool)> = fs
            .writes
            .iter()
            .map(|w| (w.path.as_str(), w.in_image, w.dir))
            .collect();
        assert_eq!(
            writes,
            [
                ("/etc/app/app.conf", true, false),
                ("/run/app.pid", false, false),
                ("/var/cache/made", false, true),
            ]
        );
        assert_eq!(fs.image_entries.get("/etc/app"), Some(&2));
        assert_eq!(fs.image_entries.get("/run"), Some(&0));
        assert_eq!(fs.image_entries.get("/var/cache"), Some(&1));
        assert_eq!(fs.image_entries.get("/"), Some(&3));
        assert!(!fs.image_entries.contains_key("/data"));
    }

    #[test]
    fn a_container_never_seen_has_no_root_fs() {
        assert_eq!(RootFsWatch::new().finish(), None);
    }
}
