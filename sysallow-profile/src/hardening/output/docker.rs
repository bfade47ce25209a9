//! `docker run` and `podman run` flags.

use super::super::{Bundle, short_name};
use super::{IMAGE, volume_name};

/// How the capabilities are written for Docker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DockerForm {
    /// `--cap-drop ALL --cap-add ...`: the same whatever the engine's defaults.
    DropAll,
    /// `--cap-drop` of each of Docker's 14 defaults not needed, `--cap-add` of each needed
    /// one beyond them: the smallest change from `docker run`'s default.
    FromDefaults,
}

/// The capability flags.
fn cap_args(bundle: &Bundle, form: DockerForm) -> Vec<String> {
    let added = bundle.added();
    let mut args = Vec::new();
    match form {
        DockerForm::DropAll => {
            args.extend(["--cap-drop".to_owned(), "ALL".to_owned()]);
            for cap in &added {
                args.extend(["--cap-add".to_owned(), short_name(cap).to_owned()]);
            }
        }
        DockerForm::FromDefaults => {
            for cap in crate::caps::docker_defaults() {
                if !added.contains(&cap) {
                    args.extend(["--cap-drop".to_owned(), short_name(cap).to_owned()]);
                }
            }
            for cap in added.iter().filter(|c| !crate::caps::docker_default(c)) {
                args.extend(["--cap-add".to_owned(), short_name(cap).to_owned()]);
            }
        }
    }
    args
}

/// Everything but the capabilities, the same for Docker and Podman.
fn common_args(bundle: &Bundle) -> Vec<String> {
    let mut args = Vec::new();
    if bundle.no_new_privileges() {
        args.extend(["--security-opt".to_owned(), "no-new-privileges".to_owned()]);
    }
    if let Some(seccomp) = &bundle.seccomp {
        args.extend([
            "--security-opt".to_owned(),
            format!("seccomp={}", seccomp.path),
        ]);
    }
    if bundle.read_only.read_only() {
        args.push("--read-only".to_owned());
        for m in bundle.read_only.tmpfs() {
            args.extend(["--tmpfs".to_owned(), m.path.clone()]);
        }
        for m in bundle.read_only.volumes() {
            args.extend([
                "--volume".to_owned(),
                format!("{}:{}", volume_name(&bundle.name, &m.path), m.path),
            ]);
        }
    }
    if let Some(user) = &bundle.user.user {
        args.extend(["--user".to_owned(), user.clone()]);
    }
    args
}

/// `docker run`'s flags for the bundle.
pub fn docker_args(bundle: &Bundle, form: DockerForm) -> Vec<String> {
    let mut args = cap_args(bundle, form);
    args.extend(common_args(bundle));
    args
}

/// `podman run`'s flags: the drop-all form (Podman's default set is not Docker's), and
/// `--read-only-tmpfs=false` with `--read-only`, since Podman otherwise mounts its own tmpfs
/// on /run, /tmp and /var/tmp, hiding what the image ships there and differing from Docker.
pub fn podman_args(bundle: &Bundle) -> Vec<String> {
    let mut args = cap_args(bundle, DockerForm::DropAll);
    let common = common_args(bundle);
    for arg in common {
        let read_only = arg == "--read-only";
        args.push(arg);
        if read_only {
            args.push("--read-only-tmpfs=false".to_owned());
        }
    }
    args
}

/// A shell word: quoted when it holds anything but safe characters.
fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_=:/.,@%+".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn command(program: &str, args: &[String]) -> String {
    let mut line = format!("{program} run");
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    line.push(' ');
    line.push_str(IMAGE);
    line
}

/// `docker run FLAGS IMAGE`.
pub fn docker_command(bundle: &Bundle, form: DockerForm) -> String {
    command("docker", &docker_args(bundle, form))
}

/// `podman run FLAGS IMAGE`.
pub fn podman_command(bundle: &Bundle) -> String {
    command("podman", &podman_args(bundle))
}
