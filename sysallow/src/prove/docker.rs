//! A container workload, run through the `docker` CLI: the reference with `docker run`'s
//! defaults (what the recording ran under), each confined run with the bundle's own `docker
//! run` flags (`hardening::output::docker_args`, drop-all form), so what is proved is what a
//! user pastes.
//!
//! One change to the bundle's flags: a proposed volume is mounted as an anonymous volume
//! (`--volume /path`) rather than the bundle's named one. Docker fills both from the image on
//! first use, but a named volume outlives the container and would carry one run's writes into
//! the next; an anonymous one goes with `--rm`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sysallow_profile::hardening::Bundle;
use sysallow_profile::hardening::output::{DockerForm, docker_args};

use super::{Observed, ProveError, Runner, collect, spawn};

/// Numbers each container this process starts, for unique names.
static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct DockerRunner {
    /// The `docker` CLI (it reads `DOCKER_HOST` as usual).
    pub cli: PathBuf,
    pub image: String,
    /// The command, when not the image's own.
    pub command: Vec<OsString>,
    /// More `docker run` flags for every run, the reference included (`--runtime crun`,
    /// `--network none`, `-e X=1`).
    pub run_args: Vec<String>,
    /// `docker run` flags for the reference only: how the workload was recorded, where that
    /// was more than Docker's defaults (`--cap-add SYS_NICE`). Not given to the confined runs:
    /// Docker unites every `--cap-add`, so the bundle's `--cap-drop ALL` would not take it away.
    pub reference_args: Vec<String>,
    pub timeout: Duration,
}

impl DockerRunner {
    fn run(&self, flags: &[String]) -> Result<Observed, ProveError> {
        let name = format!(
            "sysallow-prove-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = std::process::Command::new(&self.cli);
        cmd.args(["run", "--rm", "--name", &name])
            .args(&self.run_args)
            .args(flags)
            .arg(&self.image)
            .args(&self.command);
        let what = format!("{} run {}", self.cli.display(), self.image);
        let child = spawn(&mut cmd, &what)?;
        let cli = self.cli.clone();
        collect(child, &what, self.timeout, || {
            // The container outlives its CLI: remove it first.
            let _ = std::process::Command::new(&cli)
                .args(["rm", "-f", &name])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        })
    }
}

/// The bundle's `docker run` flags, with named volumes made anonymous (see the module).
pub fn flags(bundle: &Bundle) -> Vec<String> {
    let mut args = docker_args(bundle, DockerForm::DropAll);
    let volumes: Vec<&str> = bundle
        .read_only
        .volumes()
        .map(|m| m.path.as_str())
        .collect();
    let mut i = 0;
    while i + 1 < args.len() {
        if args[i] == "--volume"
            && let Some((_, path)) = args[i + 1].split_once(':')
            && volumes.contains(&path)
        {
            args[i + 1] = path.to_owned();
        }
        i += 1;
    }
    args
}

impl Runner for DockerRunner {
    fn describe(&self) -> String {
        let mut s = format!("docker run {}", self.image);
        for a in &self.command {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    fn reference(&self) -> Result<Observed, ProveError> {
        self.run(&self.reference_args)
    }

    fn confined(&self, bundle: &Bundle) -> Result<Observed, ProveError> {
        self.run(&flags(bundle))
    }

    fn not_applied(&self, bundle: &Bundle) -> Vec<String> {
        let mut v = Vec::new();
        if bundle.seccomp.is_none() {
            v.push(
                "no seccomp profile given: Docker's default profile applies to every run"
                    .to_owned(),
            );
        }
        v
    }
}
