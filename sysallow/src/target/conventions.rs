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

/// The engine that runs a container: the Recording's own type, so that what the cgroup's
/// shape says and what is recorded are one concept.
pub use sysallow_profile::container::Engine;

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
                return Some((runtime.clone(), id.to_owned()));
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

    /// Split a cgroup path into its ancestors and its last directory.
    fn parse_path(path: &str) -> Option<(Engine, String)> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let (name, ancestors) = parts.split_last()?;
        parse_container_dir(ancestors, name)
    }

    /// Real paths as the engines write them, from their own sources and documentation (the
    /// systemd cgroup driver is not run end to end here: no systemd on these machines).
    #[test]
    fn real_paths_from_the_engines_sources() {
        let cases: [(&str, &str, Option<Engine>); 11] = [
            // google/cadvisor container/docker/utils/docker_test.go (systemd driver).
            (
                "cadvisor docker_test.go",
                "/system.slice/docker-72e5a5ff5eef3c4222a6551b992b9360a99122f77d2229783f0ee0946dfd800e.scope",
                Some(Engine::Docker),
            ),
            // opencontainers/cgroups utils_test.go (runc libcontainer/cgroups/utils_test.go).
            (
                "opencontainers/cgroups utils_test.go",
                "/system.slice/docker-dc4eaa1a34ec4d593bc0125d31eea823a1d76ae483aeb1409cca80304e34da2e.scope",
                Some(Engine::Docker),
            ),
            // cadvisor cmd/internal/processlist/processlist_test.go (cgroupfs driver).
            (
                "cadvisor processlist_test.go",
                "/docker/09c89cd48b3597db904ab8e6920fef2cbf93588d037d9613ce362e25188f8ec6",
                Some(Engine::Docker),
            ),
            // containers/libpod#507 (a systemd-cgls tree of Podman with systemd): the
            // container's scope, and conmon's, which is not the container.
            (
                "containers/libpod#507",
                "/machine.slice/libpod-0411a2a82311fbc65b137ca550d5f7e6b6863bc734759be2f515b0b67062d49a.scope",
                Some(Engine::Podman),
            ),
            (
                "containers/libpod#507",
                "/machine.slice/libpod-conmon-0411a2a82311fbc65b137ca550d5f7e6b6863bc734759be2f515b0b67062d49a.scope",
                None,
            ),
            // opencontainers/cgroups systemd/v2.go comment (rootless Podman).
            (
                "opencontainers/cgroups systemd/v2.go",
                "/user.slice/user-1001.slice/user@1001.service/user.slice/libpod-132ff0d72245e6f13a3bbc6cdc5376886897b60ac59eaa8dea1df7ab959cbf1c.scope",
                Some(Engine::Podman),
            ),
            // kubernetes pkg/kubelet/stats/cri_stats_provider.go, extractIDFromCgroupPath
            // (containerd, systemd driver; and the cgroupfs driver).
            (
                "kubelet cri_stats_provider.go",
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2fc932ce_fdcc_454b_97bd_aadfdeb4c340.slice/cri-containerd-aaefb9d8feed2d453b543f6d928cede7a4dbefa6a0ae7c9b990dd234c56e93b9.scope",
                Some(Engine::Containerd),
            ),
            (
                "kubelet cri_stats_provider.go",
                "/kubepods/burstable/pod2fc932ce-fdcc-454b-97bd-aadfdeb4c340/9be25294016e2dc0340dd605ce1f57b492039b267a6a618a7ad2a7a58a740f32",
                Some(Engine::Kubernetes),
            ),
            // cri-o/cri-o#4465 (a kubelet log on a CRI-O node, systemd driver).
            (
                "cri-o#4465",
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6212df55_f00e_4c6a_ae35_c7f202889f55.slice/crio-500d6719132d2a1397acacaf2e1192dd543a0d6c6316315020e7f569143202fe.scope",
                Some(Engine::CriO),
            ),
            // cadvisor lib/container/crio/factory_test.go: conmon's cgroup is not a container.
            (
                "cadvisor crio factory_test.go",
                "/kubepods/pod068e8fa0-9213-11e7-a01f-507b9d4141fa/crio-conmon-81e5c2990803c383229c9680ce964738d5e566d97f5bd436ac34808d2ec75d5f",
                None,
            ),
            // cadvisor lib/container/containerd/factory_test.go (cgroupfs, besteffort).
            (
                "cadvisor containerd factory_test.go",
                "/kubepods/besteffort/podd76e26fba3bf2bfd215eb29011d55250/40af7cdcbe507acad47a5a62025743ad3ddc6ab93b77b21363aa1c1d641047c9",
                Some(Engine::Kubernetes),
            ),
        ];
        for (source, path, engine) in cases {
            let found = parse_path(path);
            assert_eq!(
                found.as_ref().map(|(e, _)| e.clone()),
                engine,
                "{source}: {path}"
            );
            if let Some((_, id)) = found {
                assert!(path.contains(&id) && id.len() == 64, "{source}: id {id}");
            }
        }
    }
}
