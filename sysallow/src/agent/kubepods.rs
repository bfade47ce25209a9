//! Kubelet's cgroup layout (kubelet `cm/cgroup_manager_linux.go`, `cm/qos_container_manager`):
//! where `kubepods` is, and what each directory below it is.
//!
//! | QoS | cgroupfs driver | systemd driver |
//! | --- | --- | --- |
//! | Guaranteed | `kubepods/pod<UID>` | `kubepods.slice/kubepods-pod<UID_>.slice` |
//! | Burstable | `kubepods/burstable/pod<UID>` | `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID_>.slice` |
//! | BestEffort | `kubepods/besteffort/pod<UID>` | `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<UID_>.slice` |
//!
//! A container is a directory in its pod's: `<id>` (containerd, cgroupfs),
//! `cri-containerd-<id>.scope` (containerd, systemd), `crio-<id>[.scope]` (CRI-O, whose
//! `crio-conmon-<id>.scope` beside it is its monitor's). The pause container has one too.

use std::path::{Path, PathBuf};

use crate::target::conventions;

/// The names kubelet gives its top cgroup, cgroupfs driver then systemd's.
pub const ROOT_NAMES: [&str; 2] = ["kubepods", "kubepods.slice"];

/// Where kubelet's pods are: `<v2 mount>/kubepods` or `<v2 mount>/kubepods.slice`, also one
/// level down (kubelet's `--cgroup-root`, e.g. kind's `kubelet.slice/kubelet-kubepods.slice`
/// is found by its own name ending in `kubepods.slice`). `explicit` is `--cgroup-root`: a path
/// below the mount.
pub fn find_root(mount: &Path, explicit: Option<&str>) -> Option<PathBuf> {
    if let Some(name) = explicit {
        let dir = mount.join(name.trim_start_matches('/'));
        return dir.is_dir().then_some(dir);
    }
    for name in ROOT_NAMES {
        let dir = mount.join(name);
        if dir.is_dir() {
            return Some(dir);
        }
    }
    let entries = std::fs::read_dir(mount).ok()?;
    for entry in entries.flatten() {
        let below = entry.path();
        if !below.is_dir() {
            continue;
        }
        let Ok(inner) = std::fs::read_dir(&below) else {
            continue;
        };
        for e in inner.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if (name == "kubepods" || name.ends_with("kubepods.slice")) && e.path().is_dir() {
                return Some(e.path());
            }
        }
    }
    None
}

/// What a directory below `kubepods` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A QoS class's directory (`besteffort`, `kubepods-burstable.slice`).
    Qos,
    /// A pod's cgroup, with the pod's UID.
    Pod { uid: String },
    /// A container's cgroup in a pod (or its pause container's: the id tells which).
    Container { pod_uid: String, id: String },
    /// A runtime's helper (CRI-O's conmon), or something kubelet does not make.
    Other,
}

/// Classify a directory from its names below `kubepods` (outermost first, its own last).
pub fn classify(names: &[&str]) -> Place {
    let Some((own, above)) = names.split_last() else {
        return Place::Other;
    };
    if let Some(uid) = pod_uid(own) {
        return Place::Pod { uid };
    }
    if above.is_empty() && is_qos(own) {
        return Place::Qos;
    }
    let Some(pod) = above.last().and_then(|p| pod_uid(p)) else {
        return Place::Other;
    };
    // The ancestors' names tell conventions that this is a Kubernetes cgroup.
    let mut ancestors = vec!["kubepods"];
    ancestors.extend_from_slice(above);
    match conventions::parse_container_dir(&ancestors, own) {
        Some((_, id)) => Place::Container { pod_uid: pod, id },
        None => Place::Other,
    }
}

fn is_qos(name: &str) -> bool {
    matches!(name, "besteffort" | "burstable")
        || matches!(
            name,
            "kubepods-besteffort.slice" | "kubepods-burstable.slice"
        )
}

/// The pod UID in a pod cgroup's name: `pod<UID>` (cgroupfs) or `...-pod<UID_>.slice`
/// (systemd, `-` in the UID written `_`).
fn pod_uid(name: &str) -> Option<String> {
    if let Some(slice) = name.strip_suffix(".slice") {
        let (_, uid) = slice.rsplit_once("-pod")?;
        return (!uid.is_empty()).then(|| uid.replace('_', "-"));
    }
    let uid = name.strip_prefix("pod")?;
    (!uid.is_empty() && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
        .then(|| uid.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "e64a7bb4136878893bbbf408d1ce0d227748c183a6bac082d7d937a0343cc4b6";
    const UID: &str = "0f3c2a4e-8a55-4b8e-9d5d-2f1e5b7c9a10";

    #[test]
    fn cgroupfs_layout() {
        let pod = format!("pod{UID}");
        assert_eq!(classify(&["besteffort"]), Place::Qos);
        assert_eq!(
            classify(&["besteffort", &pod]),
            Place::Pod {
                uid: UID.to_owned()
            }
        );
        assert_eq!(
            classify(&[&pod]),
            Place::Pod {
                uid: UID.to_owned()
            },
            "Guaranteed pods sit right under kubepods"
        );
        let container = Place::Container {
            pod_uid: UID.to_owned(),
            id: ID.to_owned(),
        };
        assert_eq!(classify(&["burstable", &pod, ID]), container);
        assert_eq!(classify(&[&pod, ID]), container);
        assert_eq!(classify(&["besteffort", &pod, "not-an-id"]), Place::Other);
        assert_eq!(classify(&["besteffort", &pod, ID, "sub"]), Place::Other);
    }

    #[test]
    fn systemd_layout() {
        let uid_ = UID.replace('-', "_");
        let pod = format!("kubepods-besteffort-pod{uid_}.slice");
        assert_eq!(classify(&["kubepods-besteffort.slice"]), Place::Qos);
        assert_eq!(
            classify(&["kubepods-besteffort.slice", &pod]),
            Place::Pod {
                uid: UID.to_owned()
            }
        );
        let container = Place::Container {
            pod_uid: UID.to_owned(),
            id: ID.to_owned(),
        };
        let scope = format!("cri-containerd-{ID}.scope");
        assert_eq!(
            classify(&["kubepods-besteffort.slice", &pod, &scope]),
            container
        );
        let crio = format!("crio-{ID}.scope");
        assert_eq!(
            classify(&["kubepods-besteffort.slice", &pod, &crio]),
            container
        );
        let conmon = format!("crio-conmon-{ID}.scope");
        assert_eq!(
            classify(&["kubepods-besteffort.slice", &pod, &conmon]),
            Place::Other
        );
        let guaranteed = format!("kubepods-pod{uid_}.slice");
        assert_eq!(classify(&[&guaranteed, &scope]), container);
    }

    #[test]
    fn finds_the_root_by_either_name_and_below_a_cgroup_root() {
        let Ok(mount) = tempfile::tempdir() else {
            return;
        };
        assert_eq!(find_root(mount.path(), None), None);
        let nested = mount.path().join("kubelet.slice/kubelet-kubepods.slice");
        assert!(std::fs::create_dir_all(&nested).is_ok());
        assert_eq!(find_root(mount.path(), None), Some(nested.clone()));
        let plain = mount.path().join("kubepods");
        assert!(std::fs::create_dir(&plain).is_ok());
        assert_eq!(find_root(mount.path(), None), Some(plain));
        assert_eq!(
            find_root(mount.path(), Some("/kubelet.slice/kubelet-kubepods.slice")),
            Some(nested)
        );
        assert_eq!(find_root(mount.path(), Some("absent")), None);
    }
}
