//! Proving a run-time layer by running under it (`sysallow prove`): the workload runs once
//! unconfined (the reference), then N times under the whole bundle (capabilities, no-new-
//! privileges, a read-only root with its tmpfs mounts, the user, the seccomp profile), and each
//! run's exit status, stdout and stderr are compared with the reference. Leave-one-out then
//! runs it once per grant with that grant taken away (each added capability, each proposed
//! mount): a grant whose removal changes nothing is *not shown to be needed*.
//!
//! Why not `verify`: `verify` answers "would the seccomp profile deny a syscall", in complain
//! mode, for one command, and cannot say anything about capabilities, no-new-privileges or a
//! read-only root, whose failures are not syscalls a filter sees but ordinary errors (EPERM
//! from `chown`, EROFS from `open`). Only enforcing all of it and comparing the behaviour
//! shows what broke; so it is a subcommand of its own, with a question of its own.
//!
//! Only grants are left out one at a time: no-new-privileges, the read-only root and the
//! seccomp profile are restrictions, and leaving one out can only widen what the workload
//! may do, so it could never show that one "is needed".
//!
//! Where it runs: [`docker`] (a container, through the `docker` CLI) or [`command`] (a command,
//! confined by sysallow itself: the capability bounding set, no-new-privileges and the
//! seccomp profile).

pub mod command;
pub mod docker;
pub mod mask;

use std::io::Read as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use sysallow_profile::hardening::Bundle;

/// Why a proof could not be run (as opposed to a run that differed, which is a result).
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("starting {what}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for {what}")]
    Wait {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading /proc/sys/kernel/cap_last_cap")]
    CapLastCap(#[source] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// What one run did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// The exit status; `None` when a signal ended it (or the timeout did).
    pub status: Option<i32>,
    /// The signal that ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Observed {
    /// `exit 0`, `signal 9`, `timed out`.
    pub fn ending(&self) -> String {
        match (self.timed_out, self.status, self.signal) {
            (true, _, _) => "timed out".to_owned(),
            (_, Some(s), _) => format!("exit {s}"),
            (_, None, Some(sig)) => format!("signal {sig}"),
            _ => "unknown end".to_owned(),
        }
    }

    /// How this run differs from `reference`, in words; `None` when it behaved the same.
    pub fn difference(&self, reference: &Observed) -> Option<String> {
        let mut what = Vec::new();
        if self.ending() != reference.ending() {
            what.push(format!(
                "{} instead of {}",
                self.ending(),
                reference.ending()
            ));
        }
        for (name, mine, theirs) in [
            ("stdout", &self.stdout, &reference.stdout),
            ("stderr", &self.stderr, &reference.stderr),
        ] {
            if mine != theirs {
                what.push(first_difference(name, theirs, mine));
            }
        }
        (!what.is_empty()).then(|| what.join("; "))
    }
}

/// `stderr line 2: "chown: /f: Operation not permitted" instead of ""`.
fn first_difference(name: &str, reference: &str, run: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (reference.lines().collect(), run.lines().collect());
    let line = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    let at = |v: &[&str]| {
        v.get(line)
            .map_or("(nothing)".to_owned(), |l| format!("{l:?}"))
    };
    format!("{name} line {}: {} instead of {}", line + 1, at(&b), at(&a))
}

/// What is taken away from the bundle for one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "without", content = "what", rename_all = "snake_case")]
pub enum Variant {
    /// The whole bundle.
    Full,
    /// The bundle without one added capability (`CAP_CHOWN`).
    Capability(String),
    /// The bundle without one proposed mount of the read-only root (its path).
    Mount(String),
}

impl Variant {
    /// The bundle with this variant's grant taken away.
    pub fn apply(&self, bundle: &Bundle) -> Bundle {
        let mut b = bundle.clone();
        match self {
            Variant::Full => {}
            Variant::Capability(cap) => b.capabilities.retain(|d| &d.capability != cap),
            Variant::Mount(path) => b.read_only.mounts.retain(|m| &m.path != path),
        }
        b
    }

    pub fn describe(&self) -> String {
        match self {
            Variant::Full => "the whole bundle".to_owned(),
            Variant::Capability(cap) => format!("without {cap}"),
            Variant::Mount(path) => format!("without the mount on {path}"),
        }
    }
}

/// The grants of a bundle leave-one-out takes away in turn: each added capability, then each
/// proposed mount of the read-only root.
pub fn grants(bundle: &Bundle) -> Vec<Variant> {
    let mut v: Vec<Variant> = bundle
        .added()
        .into_iter()
        .map(|c| Variant::Capability(c.to_owned()))
        .collect();
    if bundle.read_only.read_only() {
        v.extend(
            bundle
                .read_only
                .mounts
                .iter()
                .map(|m| Variant::Mount(m.path.clone())),
        );
    }
    v
}

/// Where the workload runs: unconfined, or under a bundle.
pub trait Runner {
    /// What it runs, for messages.
    fn describe(&self) -> String;
    /// The unconfined reference run.
    fn reference(&self) -> Result<Observed, ProveError>;
    /// A run under `bundle`.
    fn confined(&self, bundle: &Bundle) -> Result<Observed, ProveError>;
    /// What of the bundle this runner cannot apply (said once in the report).
    fn not_applied(&self, bundle: &Bundle) -> Vec<String>;
}

/// One run under a variant.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub variant: Variant,
    pub observed: Observed,
    /// How it differed from the reference; `None`: the same.
    pub difference: Option<String>,
}

/// What leave-one-out says about one grant.
#[derive(Clone, Debug, Serialize)]
pub struct Necessity {
    pub variant: Variant,
    /// Its removal changed the behaviour.
    pub needed: bool,
    /// How (when needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<String>,
}

/// The whole result.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workload: String,
    pub source: String,
    /// The layer proved: the capabilities added (`CAP_CHOWN`), no-new-privileges, the user,
    /// the read-only root's mounts (`None`: the root stays writable).
    pub added: Vec<String>,
    pub no_new_privileges: bool,
    pub user: Option<String>,
    pub read_only_mounts: Option<Vec<String>>,
    pub reference: Observed,
    /// The runs under the whole bundle.
    pub runs: Vec<Trial>,
    /// How many of them behaved as the reference.
    pub matched: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leave_one_out: Vec<Necessity>,
    /// What of the bundle was not applied here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<String>,
}

impl Report {
    pub fn proved(&self) -> bool {
        self.matched == self.runs.len()
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Run the proof: the reference, `runs` runs under the bundle, then (when `leave_one_out`)
/// one run per grant without it. `tell` hears a line per step as it happens.
pub fn prove(
    runner: &dyn Runner,
    bundle: &Bundle,
    runs: u32,
    leave_one_out: bool,
    tell: &dyn Fn(&str),
) -> Result<Report, ProveError> {
    let not_applied = runner.not_applied(bundle);
    for what in &not_applied {
        tell(&format!("not applied here: {what}"));
    }
    let reference = runner.reference()?;
    tell(&format!(
        "reference run (unconfined): {}, {} line(s) of stdout, {} of stderr",
        reference.ending(),
        reference.stdout.lines().count(),
        reference.stderr.lines().count()
    ));
    let mut trials = Vec::new();
    for i in 1..=runs {
        let observed = runner.confined(bundle)?;
        let difference = observed.difference(&reference);
        tell(&format!(
            "run {i}/{runs} under the bundle: {}",
            difference.as_deref().unwrap_or("the same as the reference")
        ));
        trials.push(Trial {
            variant: Variant::Full,
            observed,
            difference,
        });
    }
    let matched = trials.iter().filter(|t| t.difference.is_none()).count();
    let mut necessity = Vec::new();
    if leave_one_out {
        for variant in grants(bundle) {
            let observed = runner.confined(&variant.apply(bundle))?;
            let difference = observed.difference(&reference);
            tell(&format!(
                "leave-one-out, {}: {}",
                variant.describe(),
                match &difference {
                    Some(d) => format!("needed ({d})"),
                    None => "not shown to be needed (the run was the same)".to_owned(),
                }
            ));
            necessity.push(Necessity {
                variant,
                needed: difference.is_some(),
                difference,
            });
        }
    }
    Ok(Report {
        workload: runner.describe(),
        source: bundle.source.clone(),
        added: bundle.added().into_iter().map(str::to_owned).collect(),
        no_new_privileges: bundle.no_new_privileges(),
        user: bundle.user.user.clone(),
        read_only_mounts: bundle.read_only.read_only().then(|| {
            bundle
                .read_only
                .mounts
                .iter()
                .map(|m| m.path.clone())
                .collect()
        }),
        reference,
        runs: trials,
        matched,
        leave_one_out: necessity,
        not_applied,
    })
}

/// Wait for `child` (stdout and stderr piped) at most `timeout`; on timeout `on_timeout` runs
/// (e.g. removing a container) and the child is killed. Output is read on threads so that a
/// full pipe never blocks the child.
pub(crate) fn collect(
    mut child: Child,
    what: &str,
    timeout: Duration,
    on_timeout: impl FnOnce(),
) -> Result<Observed, ProveError> {
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let wait_err = |source| ProveError::Wait {
        what: what.to_owned(),
        source,
    };
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(wait_err)? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            on_timeout();
            // Our own child, by its pid.
            let _ = child.kill();
            break child.wait().map_err(wait_err)?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    use std::os::unix::process::ExitStatusExt as _;
    Ok(Observed {
        status: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Spawn `cmd` with stdin closed and stdout/stderr piped.
pub(crate) fn spawn(cmd: &mut std::process::Command, what: &str) -> Result<Child, ProveError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProveError::Spawn {
            what: what.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests;
