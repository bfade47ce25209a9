//! A read-only root filesystem: the paths a container wrote on its root filesystem, grouped
//! into the fewest tmpfs mounts that cover them, each on a directory the image ships (so
//! that what the workload creates lands in the tmpfs). A tmpfs hides what the image ships in
//! that directory: said as a warning. A file the image ships that the workload changes
//! cannot live on a tmpfs (it would start empty): a volume is proposed there instead.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::privileges::RootFs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadOnlyVerdict {
    /// `--read-only` with the tmpfs mounts (and volumes) below.
    Fits,
    /// The workload writes directly in `/`: no mount can cover that.
    DoesNotFit,
    /// The writes were not recorded (a command, or a layer that could not be read).
    NotRecorded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// An empty, memory-backed tmpfs (`--tmpfs`, an `emptyDir` of medium Memory).
    Tmpfs,
    /// A volume that starts with the image's content (a Docker named volume is filled from
    /// the image on first use).
    Volume,
}

/// One proposed mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    pub path: String,
    pub kind: MountKind,
    /// The written paths it covers.
    pub covers: Vec<String>,
    /// How many entries the image ships directly in `path` (hidden by a tmpfs).
    pub hides: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOnlyDecision {
    pub verdict: ReadOnlyVerdict,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
}

impl ReadOnlyDecision {
    /// Whether the bundle sets a read-only root.
    pub fn read_only(&self) -> bool {
        self.verdict == ReadOnlyVerdict::Fits
    }

    pub fn tmpfs(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter().filter(|m| m.kind == MountKind::Tmpfs)
    }

    pub fn volumes(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter().filter(|m| m.kind == MountKind::Volume)
    }

    /// Whether `path` (a file or directory inside the container) lies on a proposed mount.
    pub fn covered(&self, path: &str) -> bool {
        self.mounts.iter().any(|m| is_under(path, &m.path))
    }
}

/// `/a/b` for `/a/b/c`; None for `/`.
fn parent(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    match trimmed.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&trimmed[..i]),
        None => None,
    }
}

/// `path` is `dir` or below it.
fn is_under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

pub fn decide(root_fs: Option<&RootFs>) -> ReadOnlyDecision {
    let Some(fs) = root_fs else {
        return ReadOnlyDecision {
            verdict: ReadOnlyVerdict::NotRecorded,
            reason: "the writes on the root filesystem were not recorded (they are for a \
                     container whose writable layer could be read): no --read-only proposed"
                .to_owned(),
            mounts: Vec::new(),
        };
    };
    // Directories the workload created: not in the image, so a mount cannot sit there
    // before the workload runs; the mount goes on the nearest directory above that the image
    // ships.
    let created: BTreeSet<&str> = fs
        .writes
        .iter()
        .filter(|w| w.dir && !w.in_image)
        .map(|w| w.path.as_str())
        .collect();
    let mut candidates: BTreeMap<String, (MountKind, Vec<String>)> = BTreeMap::new();
    let mut in_root: Vec<String> = Vec::new();
    for w in &fs.writes {
        // A directory the image ships and the workload changed (entries in it created or
        // removed) can itself be the mount point; anything else goes on a directory above.
        let start = if w.dir && w.in_image {
            Some(w.path.as_str())
        } else {
            parent(&w.path)
        };
        let mut dir = start;
        while let Some(d) = dir {
            if !created.contains(d) {
                break;
            }
            dir = parent(d);
        }
        let Some(dir) = dir else { continue };
        if dir == "/" {
            in_root.push(w.path.clone());
            continue;
        }
        // A file the image ships, changed: a tmpfs would hide the original.
        let kind = if w.in_image && !w.dir {
            MountKind::Volume
        } else {
            MountKind::Tmpfs
        };
        let entry = candidates
            .entry(dir.to_owned())
            .or_insert((MountKind::Tmpfs, Vec::new()));
        if kind == MountKind::Volume {
            entry.0 = MountKind::Volume;
        }
        entry.1.push(w.path.clone());
    }
    if !in_root.is_empty() {
        return ReadOnlyDecision {
            verdict: ReadOnlyVerdict::DoesNotFit,
            reason: format!(
                "it writes directly in / ({}): no mount can cover that, so the root cannot be \
                 read-only unless the program writes elsewhere",
                in_root.join(", ")
            ),
            mounts: Vec::new(),
        };
    }
    // The smallest set: a candidate below another is covered by it (and makes it a volume
    // if it needed one).
    let paths: Vec<String> = candidates.keys().cloned().collect();
    for path in &paths {
        let ancestor = paths
            .iter()
            .filter(|a| *a != path && is_under(path, a))
            .min_by_key(|a| a.len())
            .cloned();
        if let Some(ancestor) = ancestor
            && let Some((kind, covers)) = candidates.remove(path)
            && let Some(into) = candidates.get_mut(&ancestor)
        {
            if kind == MountKind::Volume {
                into.0 = MountKind::Volume;
            }
            into.1.extend(covers);
        }
    }
    let mounts: Vec<Mount> = candidates
        .into_iter()
        .map(|(path, (kind, mut covers))| {
            covers.sort();
            covers.dedup();
            let hides = fs.image_entries.get(&path).copied().unwrap_or(0);
            let warning = match kind {
                MountKind::Volume => Some(format!(
                    "it changes files the image ships here ({}): a tmpfs would start empty and \
                     hide them, so a volume is proposed (Docker fills an empty named volume \
                     with the image's content on first use; a Kubernetes emptyDir starts empty: \
                     copy them in with an init container)",
                    covers.join(", ")
                )),
                MountKind::Tmpfs if hides > 0 => Some(format!(
                    "the image ships {hides} entr{} in {path}: a tmpfs there hides {}; if the \
                     workload reads {}, mount a volume instead",
                    if hides == 1 { "y" } else { "ies" },
                    if hides == 1 { "it" } else { "them" },
                    if hides == 1 { "it" } else { "them" },
                )),
                MountKind::Tmpfs => None,
            };
            Mount {
                path,
                kind,
                covers,
                hides,
                warning,
            }
        })
        .collect();
    let reason = if mounts.is_empty() {
        "it wrote nothing on the root filesystem: it runs read-only as it is".to_owned()
    } else {
        let list: Vec<String> = mounts
            .iter()
            .map(|m| {
                format!(
                    "{} ({})",
                    m.path,
                    match m.kind {
                        MountKind::Tmpfs => "tmpfs",
                        MountKind::Volume => "volume",
                    }
                )
            })
            .collect();
        format!(
            "every path it wrote lies on one of {}: the rest of the root can be read-only",
            list.join(", ")
        )
    };
    ReadOnlyDecision {
        verdict: ReadOnlyVerdict::Fits,
        reason,
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privileges::RootWrite;

    fn write(path: &str, in_image: bool, dir: bool) -> RootWrite {
        RootWrite {
            path: path.to_owned(),
            in_image,
            dir,
        }
    }

    #[test]
    fn parents_and_prefixes() {
        assert_eq!(parent("/a/b/c"), Some("/a/b"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert!(is_under("/var/cache/nginx/x", "/var/cache/nginx"));
        assert!(!is_under("/var/cache/nginxx", "/var/cache/nginx"));
        assert!(is_under("/anything", "/"));
    }

    /// nginx's writes (the official image, measured paths): its cache directories created
    /// under /var/cache/nginx, its pid file in /run, the entrypoint's rewrite of a shipped
    /// config file.
    #[test]
    fn nginx_writes_become_tmpfs_mounts_and_a_volume() {
        let fs = RootFs {
            writes: vec![
                write("/var/cache/nginx/client_temp", false, true),
                write("/var/cache/nginx/proxy_temp", false, true),
                write("/var/cache/nginx/proxy_temp/1/00/0000000001", false, false),
                write("/run/nginx.pid", false, false),
                write("/etc/nginx/conf.d/default.conf", true, false),
                write("/tmp/x", false, false),
            ],
            image_entries: BTreeMap::from([
                ("/var/cache/nginx".to_owned(), 0),
                ("/var/cache".to_owned(), 2),
                ("/run".to_owned(), 1),
                ("/etc/nginx/conf.d".to_owned(), 1),
                ("/tmp".to_owned(), 0),
            ]),
        };
        let d = decide(Some(&fs));
        assert_eq!(d.verdict, ReadOnlyVerdict::Fits);
        let paths: Vec<(&str, MountKind)> =
            d.mounts.iter().map(|m| (m.path.as_str(), m.kind)).collect();
        assert_eq!(
            paths,
            vec![
                ("/etc/nginx/conf.d", MountKind::Volume),
                ("/run", MountKind::Tmpfs),
                ("/tmp", MountKind::Tmpfs),
                ("/var/cache/nginx", MountKind::Tmpfs),
            ]
        );
        let cache = &d.mounts[3];
        assert_eq!(cache.covers.len(), 3);
        assert_eq!(cache.warning, None, "the image ships nothing there");
        let run = &d.mounts[1];
        assert_eq!(run.hides, 1);
        assert!(run.warning.as_deref().is_some_and(|w| w.contains("hides")));
        assert!(d.covered("/var/cache/nginx/proxy_temp/1"));
        assert!(!d.covered("/var/cache/other"));
    }

    #[test]
    fn a_mount_below_another_is_merged_into_it() {
        let fs = RootFs {
            writes: vec![
                write("/data/a", false, false),
                write("/data/sub/b", true, false),
            ],
            image_entries: BTreeMap::from([("/data".to_owned(), 1), ("/data/sub".to_owned(), 1)]),
        };
        let d = decide(Some(&fs));
        assert_eq!(d.mounts.len(), 1);
        assert_eq!(d.mounts[0].path, "/data");
        assert_eq!(
            d.mounts[0].kind,
            MountKind::Volume,
            "it hides a changed file"
        );
        assert_eq!(d.mounts[0].covers, vec!["/data/a", "/data/sub/b"]);
    }

    #[test]
    fn writes_in_root_do_not_fit_and_nothing_written_fits_as_is() {
        let fs = RootFs {
            writes: vec![write("/marker", false, false)],
            image_entries: BTreeMap::new(),
        };
        assert_eq!(decide(Some(&fs)).verdict, ReadOnlyVerdict::DoesNotFit);
        // A directory created in / and written below: still nothing above it but /.
        let fs = RootFs {
            writes: vec![write("/work", false, true), write("/work/f", false, false)],
            image_entries: BTreeMap::new(),
        };
        assert_eq!(decide(Some(&fs)).verdict, ReadOnlyVerdict::DoesNotFit);
        let empty = decide(Some(&RootFs::default()));
        assert_eq!(empty.verdict, ReadOnlyVerdict::Fits);
        assert!(empty.mounts.is_empty());
        assert_eq!(decide(None).verdict, ReadOnlyVerdict::NotRecorded);
    }
}
