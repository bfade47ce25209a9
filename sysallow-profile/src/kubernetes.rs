//! Kubernetes: what a user applies for a workload container's profile (the kubelet localhost
//! profile, the Security Profiles Operator `SeccompProfile`, the `securityContext` snippet),
//! and where each goes. The pod and workload types are `crate::pod`'s, re-exported here: the
//! Recording names pods with them, and this module needs the formats, which read Recordings.

mod names;
mod outputs;

pub use crate::pod::{
    CONTROLLER_REVISION_HASH, JOB_NAME, LEGACY_JOB_NAME, POD_TEMPLATE_GENERATION,
    POD_TEMPLATE_HASH, PodRef, STATEFULSET_POD_NAME, Workload, WorkloadKind,
};
pub use names::{LOCALHOST_DIR, NameError, check, localhost_path, spo_localhost_path, spo_name};
pub use outputs::{KubeOutputs, SpoApi, outputs, seccomp_profile_yaml};
