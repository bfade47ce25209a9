//! Naming a recorded container in Kubernetes' terms, from the CRI labels kubelet sets: its pod
//! (`io.kubernetes.pod.{namespace,name,uid}`), its container name
//! (`io.kubernetes.container.name`), and the workload the pod is a replica of (from the pod's
//! own labels and name, `Workload::from_pod`: owner references never reach the runtime).

use std::collections::BTreeMap;

use sysallow_profile::kubernetes::{PodRef, Workload};

/// CRI labels kubelet sets on every sandbox and container (kubelet `types/labels.go`).
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// Labels (or annotations) as the runtime reports them.
pub type Labels = BTreeMap<String, String>;

/// What is known of a pod: from its sandbox's CRI metadata and labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub annotations: Labels,
}

impl PodInfo {
    /// A pod from its sandbox's metadata (kubelet fills both; the labels win where they are
    /// set, as they are what kubelet itself reads back).
    pub fn new(
        namespace: &str,
        name: &str,
        uid: &str,
        labels: Labels,
        annotations: Labels,
    ) -> Self {
        let pick = |label: &str, meta: &str| {
            labels
                .get(label)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| meta.to_owned())
        };
        PodInfo {
            namespace: pick(POD_NAMESPACE, namespace),
            name: pick(POD_NAME, name),
            uid: pick(POD_UID, uid),
            labels,
            annotations,
        }
    }
}

/// The pod and container a recording belongs to. `container` is the container's name in the
/// pod spec, or, where nothing named it, its id (so its counts are still written).
pub fn pod_ref(pod: &PodInfo, container: &str) -> PodRef {
    PodRef {
        namespace: pod.namespace.clone(),
        pod: pod.name.clone(),
        uid: pod.uid.clone(),
        container: container.to_owned(),
        workload: Workload::from_pod(&pod.name, &pod.labels),
    }
}

/// A name made safe as one path component: Kubernetes names are DNS labels already, but the
/// runtime passes whatever it was given, and nothing it says may climb out of a directory.
pub fn path_component(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.as_str() {
        "" | "." | ".." => format!("_{safe}"),
        _ => safe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pod_ref_prefers_kubelets_labels() {
        let pod = PodInfo::new(
            "meta-ns",
            "meta-name",
            "meta-uid",
            labels(&[
                (POD_NAMESPACE, "shop"),
                (POD_NAME, "cart-6f7-abcde"),
                (POD_UID, "1234-5678"),
                ("pod-template-hash", "6f7"),
            ]),
            Labels::new(),
        );
        let r = pod_ref(&pod, "server");
        assert_eq!(
            (r.namespace.as_str(), r.pod.as_str(), r.uid.as_str()),
            ("shop", "cart-6f7-abcde", "1234-5678")
        );
        assert_eq!(r.container, "server");
        assert_eq!(
            r.workload,
            Workload {
                kind: sysallow_profile::kubernetes::WorkloadKind::Deployment,
                name: "cart".to_owned()
            }
        );
        let bare = PodInfo::new("ns", "p", "u", Labels::new(), Labels::new());
        assert_eq!((bare.namespace.as_str(), bare.name.as_str()), ("ns", "p"));
    }

    #[test]
    fn path_components_stay_in_their_directory() {
        assert_eq!(path_component("web-1.x"), "web-1.x");
        assert_eq!(path_component("../etc"), ".._etc");
        assert_eq!(path_component(".."), "_..");
        assert_eq!(path_component(""), "_");
        assert_eq!(path_component("a/b c"), "a_b_c");
    }
}
