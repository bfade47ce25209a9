//! What the runtime has said about sandboxes and containers, kept from the moment it was seen
//! (a pod that lived under a second is still named from it), and how a container cgroup is
//! named from it: first the CRI inventory, then containerd's bundle annotations, then the pod
//! UID in the cgroup path (the container named by its id rather than lost).

use std::collections::{BTreeSet, HashMap};

use sysallow_profile::kubernetes::PodRef;

use super::naming::{self, Labels, PodInfo};
use super::select::Selection;

/// containerd's CRI annotations on a task's OCI spec (containerd `pkg/cri/annotations`).
pub const CRI_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
pub const CRI_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
pub const CRI_CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";

/// The runtime's sandboxes and containers as last seen.
#[derive(Default)]
pub struct Inventory {
    /// Sandbox id -> its pod.
    pub sandboxes: HashMap<String, PodInfo>,
    /// Pod UID -> sandbox id.
    pub by_uid: HashMap<String, String>,
    /// Container id -> (sandbox id, container name).
    pub containers: HashMap<String, (String, String)>,
    /// Sandboxes listed at the last refresh: one missing later was removed.
    pub listed: BTreeSet<String>,
    /// Sandboxes that were listed and no longer are.
    pub removed: BTreeSet<String>,
}

/// A container cgroup to name.
pub struct Candidate<'a> {
    /// The container id from the cgroup's name.
    pub id: &'a str,
    /// The pod UID from the pod cgroup's name.
    pub pod_uid: &'a str,
    /// containerd's OCI bundle annotations, when its task was found.
    pub bundle: Option<&'a Labels>,
    /// Long enough since its birth (or already gone) to be named by id when nothing else.
    pub waited: bool,
}

/// How a container is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A pause container, or an unselected pod's.
    Ignore,
    /// A selected pod's container. `by_id`: only its pod was known, its name is its id's
    /// first 12 digits.
    Record {
        pod: PodRef,
        sandbox: Option<String>,
        by_id: bool,
    },
}

impl Inventory {
    /// A sandbox as ListPodSandbox reports it.
    pub fn add_sandbox(&mut self, id: String, pod: PodInfo) {
        self.by_uid.insert(pod.uid.clone(), id.clone());
        self.sandboxes.insert(id, pod);
    }

    /// The sandboxes listed now: those listed before and not now were removed.
    pub fn listed_now(&mut self, listed: BTreeSet<String>) {
        for gone in self.listed.difference(&listed) {
            self.removed.insert(gone.clone());
        }
        self.listed = listed;
    }

    /// Forget removed sandboxes, with their containers.
    pub fn forget(&mut self, sandboxes: &[String]) {
        for sandbox in sandboxes {
            self.removed.remove(sandbox);
            if let Some(pod) = self.sandboxes.remove(sandbox)
                && self.by_uid.get(&pod.uid) == Some(sandbox)
            {
                self.by_uid.remove(&pod.uid);
            }
            self.containers.retain(|_, (s, _)| s != sandbox);
        }
    }

    fn pod_of_uid(&self, uid: &str) -> Option<(&String, &PodInfo)> {
        let sandbox = self.by_uid.get(uid)?;
        Some((sandbox, self.sandboxes.get(sandbox)?))
    }

    /// How `c` is named, if that can be told yet (`None`: ask again later).
    pub fn resolve(&self, c: &Candidate<'_>, selection: &Selection) -> Option<Resolution> {
        let decide = |pod: &PodInfo, sandbox: &str, name: &str, by_id: bool| {
            if selection.selects(&pod.namespace, &pod.labels, &pod.annotations) {
                Resolution::Record {
                    pod: naming::pod_ref(pod, name),
                    sandbox: Some(sandbox.to_owned()),
                    by_id,
                }
            } else {
                Resolution::Ignore
            }
        };
        // The pause container: its id is the sandbox's.
        if self.sandboxes.contains_key(c.id) {
            return Some(Resolution::Ignore);
        }
        // The CRI inventory.
        if let Some((sandbox, name)) = self.containers.get(c.id)
            && let Some(pod) = self.sandboxes.get(sandbox)
        {
            return Some(decide(pod, sandbox, name, false));
        }
        // containerd's bundle annotations, while the task runs.
        if let Some(annotations) = c.bundle {
            if annotations.get(CRI_CONTAINER_TYPE).map(String::as_str) == Some("sandbox") {
                return Some(Resolution::Ignore);
            }
            let pod = annotations
                .get(CRI_SANDBOX_ID)
                .and_then(|s| self.sandboxes.get(s).map(|p| (s, p)))
                .or_else(|| self.pod_of_uid(c.pod_uid));
            if let (Some(name), Some((sandbox, pod))) = (annotations.get(CRI_CONTAINER_NAME), pod) {
                return Some(decide(pod, sandbox, name, false));
            }
        }
        // The pod is known by its UID, the container not (yet): give the runtime a moment,
        // then name it by its id rather than lose it.
        if let Some((sandbox, pod)) = self.pod_of_uid(c.pod_uid)
            && c.waited
        {
            let short: String = c.id.chars().take(12).collect();
            return Some(decide(pod, sandbox, &short, true));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "e64a7bb4136878893bbbf408d1ce0d227748c183a6bac082d7d937a0343cc4b6";

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn inventory(annotation: &str) -> Inventory {
        let mut inv = Inventory::default();
        inv.add_sandbox(
            "sb1".to_owned(),
            PodInfo::new(
                "shop",
                "web-6f7-abcde",
                "uid-1",
                labels(&[("pod-template-hash", "6f7")]),
                labels(&[("sysallow.dev/record", annotation)]),
            ),
        );
        inv
    }

    fn selection() -> Selection {
        Selection {
            annotation: "sysallow.dev/record".to_owned(),
            ..Selection::default()
        }
    }

    fn candidate<'a>(id: &'a str, bundle: Option<&'a Labels>, waited: bool) -> Candidate<'a> {
        Candidate {
            id,
            pod_uid: "uid-1",
            bundle,
            waited,
        }
    }

    fn recorded_as(r: Option<Resolution>) -> Option<(String, String, bool)> {
        match r? {
            Resolution::Record { pod, by_id, .. } => {
                Some((pod.workload.name, pod.container, by_id))
            }
            Resolution::Ignore => None,
        }
    }

    #[test]
    fn the_pause_container_and_unselected_pods_are_ignored() {
        let inv = inventory("true");
        assert_eq!(
            inv.resolve(&candidate("sb1", None, false), &selection()),
            Some(Resolution::Ignore)
        );
        let mut unselected = inventory("false");
        unselected
            .containers
            .insert(ID.to_owned(), ("sb1".to_owned(), "server".to_owned()));
        assert_eq!(
            unselected.resolve(&candidate(ID, None, false), &selection()),
            Some(Resolution::Ignore)
        );
        let sandbox = labels(&[(CRI_CONTAINER_TYPE, "sandbox")]);
        assert_eq!(
            inv.resolve(&candidate(ID, Some(&sandbox), false), &selection()),
            Some(Resolution::Ignore)
        );
    }

    #[test]
    fn named_from_cri_then_the_bundle_then_by_id() {
        let mut inv = inventory("true");
        // Nothing known of the container yet, and not waited: ask again later.
        assert_eq!(inv.resolve(&candidate(ID, None, false), &selection()), None);
        // Waited: its pod is known by UID, so it is recorded under its id.
        assert_eq!(
            recorded_as(inv.resolve(&candidate(ID, None, true), &selection())),
            Some(("web".to_owned(), ID[..12].to_owned(), true))
        );
        // containerd's bundle names it.
        let bundle = labels(&[
            (CRI_CONTAINER_TYPE, "container"),
            (CRI_SANDBOX_ID, "sb1"),
            (CRI_CONTAINER_NAME, "sidecar"),
        ]);
        assert_eq!(
            recorded_as(inv.resolve(&candidate(ID, Some(&bundle), false), &selection())),
            Some(("web".to_owned(), "sidecar".to_owned(), false))
        );
        // CRI names it, first.
        inv.containers
            .insert(ID.to_owned(), ("sb1".to_owned(), "server".to_owned()));
        assert_eq!(
            recorded_as(inv.resolve(&candidate(ID, Some(&bundle), true), &selection())),
            Some(("web".to_owned(), "server".to_owned(), false))
        );
        // A pod nothing knows: never named (and so never written).
        let other = "f".repeat(64);
        let stranger = Candidate {
            pod_uid: "uid-2",
            ..candidate(&other, None, true)
        };
        assert_eq!(inv.resolve(&stranger, &selection()), None);
    }

    #[test]
    fn removed_sandboxes_are_forgotten_with_their_containers() {
        let mut inv = inventory("true");
        inv.containers
            .insert(ID.to_owned(), ("sb1".to_owned(), "server".to_owned()));
        inv.listed_now(BTreeSet::from(["sb1".to_owned()]));
        inv.listed_now(BTreeSet::new());
        assert!(inv.removed.contains("sb1"));
        inv.forget(&["sb1".to_owned()]);
        assert!(inv.removed.is_empty() && inv.sandboxes.is_empty());
        assert!(inv.by_uid.is_empty() && inv.containers.is_empty());
    }
}
