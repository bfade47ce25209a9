//! Where container runtimes put a container's cgroup, and how to recognise one from its
//! directory name.
//!
//! Sources (cgroupfs driver, then systemd driver):
//! - Docker / moby: `/docker/<id>` (`--cgroup-parent` default "docker", daemon/oci_linux.go)
//!   or `system.slice/docker-<id>.scope` (scope prefix "docker").
//! - Podman: `/libpod_parent/libpod-<id>` or `machine.slice/libpod-<id>.scope`
//!   (libpod/runtime_ctr.go, `libpod-conmon-<id>.scope` is conmon's, not the container's).
//! - containerd CRI (Kubernetes): `kubepods[.slice]/.../<id>` or
//!   `kubepods-...slice/cri-containerd-<id>.scope`.
//! - CRI-O: `kubepods.../crio-<id>.scope` (`crio-conmon-<id>.scope` is conmon's).
//!
//! Ids are 64 lowercase hex digits in all four.

use std::fmt;

/// The engine that runs a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    Docker,
    Podman,
    Containerd,
    CriO,
    /// A Kubernetes pod's container under the cgroupfs driver: containerd or CRI-O cannot be
    /// told apart from the path.
    Kubernetes,
    /// A bare 64-hex-digit directory outside the known parents (e.g. Docker with
    /// `--cgroup-parent`).
    Unknown,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
            Engine::Containerd => "containerd",
            Engine::CriO => "cri-o",
            Engine::Kubernetes => "kubernetes",
            Engine::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scope-unit prefixes of the systemd driver: `<prefix><id>.scope`.
const SCOPES: &[(&str, Engine)] = &[
    ("docker-", Engine::Docker),
    ("libpod-", Engine::Podman),
    ("cri-containerd-", Engine::Containerd),
    ("crio-", Engine::CriO),
];

/// The directory names the conventions above use, for error messages.
pub const DESCRIBED: &str = "docker-<id>.scope, docker/<id>, libpod-<id>[.scope], \
                             cri-containerd-<id>.scope, crio-<id>.scope, kubepods*/<id>";

pub fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Recognise a container's cgroup directory from its name and its ancestors' names (from the
/// hierarchy root down, not including `name`). Returns the runtime and the full id.
pub fn parse_container_dir(ancestors: &[&str], name: &str) -> Option<(Engine, String)> {
    for (prefix, runtime) in SCOPES {
        if let Some(rest) = name.strip_prefix(prefix) {
            // `libpod-<id>` (Podman, cgroupfs) has no `.scope`.
            let id = rest.strip_suffix(".scope").unwrap_or(rest);
            if is_container_id(id) && (rest.ends_with(".scope") || *runtime == Engine::Podman) {
                return Some((*runtime, id.to_owned()));
            }
            // `libpod-conmon-<id>.scope`, `crio-conmon-<id>.scope`: conmon's cgroup.
            return None;
        }
    }
    if !is_container_id(name) {
        return None;
    }
    let runtime = match ancestors.last().copied() {
        Some("docker") => Engine::Docker,
        Some("libpod_parent") => Engine::Podman,
        _ if ancestors.iter().any(|a| a.starts_with("kubepods")) => Engine::Kubernetes,
        _ => Engine::Unknown,
    };
    Some((runtime, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "e64a7bb4136878893bbbf408d1ce0d227748c183a6bac082d7d937a0343cc4b6";

    #[test]
    fn recognises_each_runtime() {
        let scope = |p: &str| format!("{p}{ID}.scope");
        let cases = [
            (vec!["docker"], ID.to_owned(), Engine::Docker),
            (vec!["system.slice"], scope("docker-"), Engine::Docker),
            (vec!["machine.slice"], scope("libpod-"), Engine::Podman),
            (
                vec!["libpod_parent"],
                format!("libpod-{ID}"),
                Engine::Podman,
            ),
            (vec!["libpod_parent"], ID.to_owned(), Engine::Podman),
            (
                vec![
                    "kubepods.slice",
                    "kubepods-besteffort.slice",
                    "kubepods-besteffort-pod1.slice",
                ],
                scope("cri-containerd-"),
                Engine::Containerd,
            ),
            (vec!["kubepods.slice", "x"], scope("crio-"), Engine::CriO),
            (
                vec!["kubepods", "burstable", "podabc"],
                ID.to_owned(),
                Engine::Kubernetes,
            ),
            (vec!["my-parent"], ID.to_owned(), Engine::Unknown),
        ];
        for (ancestors, name, runtime) in cases {
            assert_eq!(
                parse_container_dir(&ancestors, &name),
                Some((runtime, ID.to_owned())),
                "{ancestors:?} {name}"
            );
        }
    }

    #[test]
    fn ignores_conmon_and_other_directories() {
        for name in [
            format!("libpod-conmon-{ID}.scope"),
            format!("crio-conmon-{ID}.scope"),
            format!("docker-{ID}"),
            "docker".to_owned(),
            "system.slice".to_owned(),
            ID[..63].to_owned(),
            ID.to_uppercase(),
        ] {
            assert_eq!(
                parse_container_dir(&["machine.slice"], &name),
                None,
                "{name}"
            );
        }
    }
}
