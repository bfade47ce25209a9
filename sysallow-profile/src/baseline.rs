//! The vendored default profiles sysallow measures against: Docker's (the ceiling, the risk
//! classes) and Podman's (reference data for format and diff tests). Plain text here; `risk`
//! reads them into policies.

/// Docker's default seccomp profile, moby/profiles `seccomp/default.json` at commit cd3bed8
/// (Apache-2.0); see `data/README.md`.
pub const DOCKER_DEFAULT_JSON: &str = include_str!("../data/docker-default.json");

/// Podman's and CRI-O's default seccomp profile, containers/common `pkg/seccomp/seccomp.json`
/// (Apache-2.0); see `data/README.md`. Reference data for format and diff tests.
pub const PODMAN_DEFAULT_JSON: &str = include_str!("../data/containers-common-default.json");
