//! The Kubernetes Container Runtime Interface, `runtime.v1`: prost messages and the tonic
//! clients of `RuntimeService` and `ImageService`, generated at build time from the vendored
//! `proto/runtime/v1/api.proto` (provenance in `proto/README.md`).
//!
//! containerd 1.6 serves cri-api v0.25's `runtime.v1`; the vendored file is a later revision
//! of the same package. Protobuf keeps field numbers stable, and fields a server does not know
//! are ignored by it (and by prost in answers), so the calls this project makes (Version,
//! ListPodSandbox, PodSandboxStatus, ListContainers, ContainerStatus, and kubelet's
//! RunPodSandbox / CreateContainer / StartContainer / Stop / Remove in the tests) read the same.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("runtime.v1");
}
