//! The bundle's outputs, each written from the one [`Bundle`] so they agree: `docker run`
//! flags (two forms), Podman's, a compose service, a Kubernetes securityContext (with the
//! volumes a read-only root needs), systemd unit lines. Each is a function returning a
//! string or a serde value, so tests (and validators) can read it back.

mod compose;
mod docker;
mod kubernetes;
mod systemd;

pub use compose::{compose_service, compose_yaml};
pub use docker::{DockerForm, docker_args, docker_command, podman_args, podman_command};
pub use kubernetes::{kubernetes_pod_spec, kubernetes_security_context, kubernetes_yaml};
pub use systemd::systemd_lines;

use super::Bundle;

/// The placeholder for the image in command lines.
pub const IMAGE: &str = "IMAGE";

/// The files `generate --bundle DIR` writes, and what goes in each.
pub fn files(bundle: &Bundle) -> Vec<(&'static str, String)> {
    vec![
        ("bundle.json", bundle.to_json()),
        (
            "docker.sh",
            format!(
                "# sysallow run-time layer for {}: one of these (the same container).\n\
                 # Every capability dropped, then the needed ones added:\n{}\n\
                 # As drops from Docker's 14 default capabilities:\n{}\n",
                bundle.source,
                docker_command(bundle, DockerForm::DropAll),
                docker_command(bundle, DockerForm::FromDefaults)
            ),
        ),
        (
            "podman.sh",
            format!(
                "# sysallow run-time layer for {}\n{}\n",
                bundle.source,
                podman_command(bundle)
            ),
        ),
        ("compose.yaml", compose_yaml(bundle)),
        ("kubernetes.yaml", kubernetes_yaml(bundle)),
        ("systemd.conf", systemd_lines(bundle)),
    ]
}

/// A volume's name for a mount at `path`: `NAME-var-cache-nginx` (a DNS label: lower-case
/// letters, digits and `-`, at most 63 characters), as Docker volumes and Kubernetes
/// volumes accept it.
pub(crate) fn volume_name(prefix: &str, path: &str) -> String {
    let mut name = String::new();
    for c in format!("{prefix}-{path}").chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let mut name = name.trim_matches('-').to_owned();
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests;
