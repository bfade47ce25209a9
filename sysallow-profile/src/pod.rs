//! A container's place in Kubernetes, from the CRI labels kubelet sets on the pod sandbox and
//! the container (`io.kubernetes.pod.{namespace,name,uid}`, `io.kubernetes.container.name`,
//! the pod's own labels). Owner references are not passed to the runtime, so a workload is
//! known from labels (`pod-template-hash`, `controller-revision-hash`, `job-name`) and the
//! pod's name.
//!
//! A leaf: the Recording names a container's pod with these types, and the Kubernetes outputs
//! (`crate::kubernetes`, which re-exports them) build on them and on the formats.

mod workload;

use serde::{Deserialize, Serialize};

pub use workload::{
    CONTROLLER_REVISION_HASH, JOB_NAME, LEGACY_JOB_NAME, POD_TEMPLATE_GENERATION,
    POD_TEMPLATE_HASH, STATEFULSET_POD_NAME,
};

/// The pod and container a recording belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodRef {
    pub namespace: String,
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
    /// The container's name in the pod spec.
    pub container: String,
    /// The workload the pod is a replica of: recordings of one workload's replicas merge.
    pub workload: Workload,
}

/// A workload: what owns a pod, as told by its labels and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    /// A pod nothing owns (or whose owner its labels do not tell): its own workload.
    Pod,
}
