//! Where a workload container's profile goes: its kubelet localhost path and its Security
//! Profiles Operator resource name. Both are built from names the API server validated
//! (namespace and container: DNS-1123 labels; workload: a DNS-1123 subdomain), so anything
//! else is refused rather than escaped: a name with `/`, `..` or upper case did not come from
//! kubelet, and an escaped name could meet another workload's.

use super::{PodRef, WorkloadKind};

/// The folder under kubelet's seccomp directory (`<kubelet root>/seccomp`, by default
/// `/var/lib/kubelet/seccomp`) that sysallow writes localhost profiles into. SPO owns
/// `operator/` beside it.
pub const LOCALHOST_DIR: &str = "profiles/sysallow";

/// Longest Kubernetes object name (a DNS-1123 subdomain) and label (namespace, container).
const MAX_SUBDOMAIN: usize = 253;
const MAX_LABEL: usize = 63;
/// Longest file name on the filesystems kubelet's directory lives on (ext4, xfs, btrfs).
const MAX_FILE_NAME: usize = 255;

/// A pod or container name that cannot be a Kubernetes name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{what} {name:?} is not a Kubernetes name (a DNS-1123 {shape}: lowercase letters, digits \
         and '-'{dots}, at most {max} characters, starting and ending with a letter or digit)"
    )]
    Invalid {
        what: &'static str,
        name: String,
        shape: &'static str,
        dots: &'static str,
        max: usize,
    },
}

impl WorkloadKind {
    /// The kind's lowercase name, as `kubectl get <kind>` takes it; in paths and names.
    pub fn token(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::Job => "job",
            WorkloadKind::CronJob => "cronjob",
            WorkloadKind::Pod => "pod",
        }
    }
}

/// `<kind>-<name>`, e.g. `deployment-web`: a Deployment and a StatefulSet (or a bare pod) may
/// share a name in one namespace, and kind tokens have no `-`, so this never meets another.
fn workload_token(pod: &PodRef) -> String {
    format!("{}-{}", pod.workload.kind.token(), pod.workload.name)
}

/// Checks every name [`localhost_path`] and [`spo_name`] are built from.
pub fn check(pod: &PodRef) -> Result<(), NameError> {
    check_label("namespace", &pod.namespace)?;
    check_label("container", &pod.container)?;
    check_subdomain("workload", &pod.workload.name)?;
    let file = workload_token(pod);
    if file.len() > MAX_FILE_NAME {
        return Err(invalid_subdomain("workload", &pod.workload.name));
    }
    Ok(())
}

/// The profile's path relative to kubelet's seccomp directory, as `localhostProfile` takes it:
/// `profiles/sysallow/<namespace>/<kind>-<workload>/<container>.json`.
pub fn localhost_path(pod: &PodRef) -> Result<String, NameError> {
    check(pod)?;
    Ok(format!(
        "{LOCALHOST_DIR}/{}/{}/{}.json",
        pod.namespace,
        workload_token(pod),
        pod.container
    ))
}

/// The SPO `SeccompProfile`'s `metadata.name`: `<namespace>.<kind>-<workload>.<container>`.
/// SeccompProfiles are cluster-scoped since SPO v0.9, so the namespace is part of the name.
/// Namespace and container have no `.`, so the name is one workload container's alone;
/// the two cases where it could still meet another are given a hash of the parts instead:
/// - longer than 253 characters (cut, with the hash);
/// - ending in `.json` (container `json`): SPO stores `<name>.json` but keeps a name that
///   already ends so, which `<namespace>.<kind>-<a.b>.json` and `<namespace>.<kind>-<a>.b`
///   would then share.
pub fn spo_name(pod: &PodRef) -> Result<String, NameError> {
    check(pod)?;
    let name = format!(
        "{}.{}.{}",
        pod.namespace,
        workload_token(pod),
        pod.container
    );
    if name.len() <= MAX_SUBDOMAIN && !name.ends_with(".json") {
        return Ok(name);
    }
    let hash = format!("{:016x}", fnv1a(name.as_bytes()));
    let keep = (MAX_SUBDOMAIN - hash.len() - 1).min(name.len());
    // Names are ASCII (checked above), so any byte index is a char boundary.
    let head = name[..keep].trim_end_matches(['-', '.']);
    Ok(format!("{head}-{hash}"))
}

/// The path SPO's daemon writes a cluster-scoped SeccompProfile to, relative to kubelet's
/// seccomp directory (SPO `GetProfilePath`: `operator/<namespace>/<name>.json`, where the
/// namespace of a cluster-scoped object is empty, so `operator/<name>.json`; the workload
/// annotator matches `operator/%s.json`). SPO before v0.9 (namespaced) wrote
/// `operator/<namespace>/<name>.json`.
pub fn spo_localhost_path(spo_name: &str) -> String {
    if spo_name.ends_with(".json") {
        format!("operator/{spo_name}")
    } else {
        format!("operator/{spo_name}.json")
    }
}

/// FNV-1a, 64 bits: a stable hash to keep cut names apart (not for security: the inputs are
/// the cluster's own names).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Lowercase letters, digits and `-`, starting and ending with a letter or digit.
fn is_dns_part(part: &str) -> bool {
    let bytes = part.as_bytes();
    bytes
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn is_label(name: &str) -> bool {
    name.len() <= MAX_LABEL && is_dns_part(name)
}

fn check_label(what: &'static str, name: &str) -> Result<(), NameError> {
    if is_label(name) {
        Ok(())
    } else {
        Err(NameError::Invalid {
            what,
            name: name.to_owned(),
            shape: "label",
            dots: "",
            max: MAX_LABEL,
        })
    }
}

fn invalid_subdomain(what: &'static str, name: &str) -> NameError {
    NameError::Invalid {
        what,
        name: name.to_owned(),
        shape: "subdomain",
        dots: " and '.'",
        max: MAX_SUBDOMAIN,
    }
}

/// A DNS-1123 subdomain: dot-separated labels (each part as a label, without its length
/// limit), at most 253 characters. This excludes `.`, `..`, `/` and empty names.
fn check_subdomain(what: &'static str, name: &str) -> Result<(), NameError> {
    let ok = name.len() <= MAX_SUBDOMAIN && name.split('.').all(is_dns_part);
    if ok {
        Ok(())
    } else {
        Err(invalid_subdomain(what, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::Workload;

    fn pod(namespace: &str, kind: WorkloadKind, workload: &str, container: &str) -> PodRef {
        PodRef {
            namespace: namespace.to_owned(),
            pod: format!("{workload}-7d4b9c8f5-x2x7k"),
            uid: "0b5b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            container: container.to_owned(),
            workload: Workload {
                kind,
                name: workload.to_owned(),
            },
        }
    }

    #[test]
    fn paths_and_names_of_a_deployment_container() {
        let p = pod("shop", WorkloadKind::Deployment, "web-frontend", "nginx");
        assert_eq!(
            localhost_path(&p).unwrap(),
            "profiles/sysallow/shop/deployment-web-frontend/nginx.json"
        );
        assert_eq!(spo_name(&p).unwrap(), "shop.deployment-web-frontend.nginx");
        assert_eq!(
            spo_localhost_path(&spo_name(&p).unwrap()),
            "operator/shop.deployment-web-frontend.nginx.json"
        );
    }

    #[test]
    fn two_kinds_of_one_name_do_not_meet() {
        let a = pod("shop", WorkloadKind::Deployment, "web", "app");
        let b = pod("shop", WorkloadKind::StatefulSet, "web", "app");
        assert_ne!(localhost_path(&a).unwrap(), localhost_path(&b).unwrap());
        assert_ne!(spo_name(&a).unwrap(), spo_name(&b).unwrap());
    }

    #[test]
    fn names_that_kubelet_cannot_have_given_are_refused() {
        for (ns, workload, container) in [
            ("..", "web", "app"),
            ("shop", "../../etc", "app"),
            ("shop", "web/x", "app"),
            ("shop", ".", "app"),
            ("shop", "web", "App"),
            ("shop", "web", "a.b"),
            ("Shop", "web", "app"),
            ("", "web", "app"),
            ("shop", "", "app"),
            ("shop", "web-", "app"),
            ("shop", "web..x", "app"),
        ] {
            let p = pod(ns, WorkloadKind::Deployment, workload, container);
            assert!(
                localhost_path(&p).is_err() && spo_name(&p).is_err(),
                "{ns}/{workload}/{container}"
            );
        }
        // Dots are allowed in a workload (a DNS subdomain), never as a whole part.
        let dotted = pod("shop", WorkloadKind::Deployment, "api.v2", "app");
        assert_eq!(
            localhost_path(&dotted).unwrap(),
            "profiles/sysallow/shop/deployment-api.v2/app.json"
        );
    }

    #[test]
    fn names_spo_would_store_alike_get_a_hash() {
        // SPO keeps a name ending in `.json` as its file name, and adds `.json` to others:
        // without the hash these two would share operator/shop.deployment-a.b.json.
        let a = pod("shop", WorkloadKind::Deployment, "a.b", "json");
        let b = pod("shop", WorkloadKind::Deployment, "a", "b");
        let (na, nb) = (spo_name(&a).unwrap(), spo_name(&b).unwrap());
        assert!(!na.ends_with(".json"), "{na}");
        assert_ne!(spo_localhost_path(&na), spo_localhost_path(&nb));
    }

    #[test]
    fn long_names_are_cut_to_253_and_stay_apart() {
        let long = |tail: &str| {
            format!(
                "{}{tail}",
                "a".repeat(62) + "." + &"b".repeat(62) + "." + &"c".repeat(62) + ".d"
            )
        };
        let a = pod(&"n".repeat(63), WorkloadKind::Deployment, &long("1"), "app");
        let b = pod(&"n".repeat(63), WorkloadKind::Deployment, &long("2"), "app");
        let (na, nb) = (spo_name(&a).unwrap(), spo_name(&b).unwrap());
        assert!(
            na.len() <= 253 && nb.len() <= 253,
            "{} {}",
            na.len(),
            nb.len()
        );
        assert_ne!(na, nb);
        assert!(na.split('.').all(is_dns_part), "{na}");
    }
}
