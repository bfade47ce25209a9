//! The run-time layer, decided: which capabilities to add, whether no-new-privileges fits,
//! whether the workload can run as a non-root user, and which tmpfs mounts a read-only root
//! needs. Every decision carries a reason a user can read; [`output`] turns the decisions
//! into one consistent bundle (docker, podman, compose, Kubernetes, systemd, JSON).
//!
//! The input is a Recording's `privileges` (what was seen after the set-up boundary, see
//! `privileges.rs`) and the capability-related syscalls in its `abis`. Pure: nothing here
//! reads the system.
//!
//! | decision | module |
//! | --- | --- |
//! | capabilities (required, environment-dependent, kept for compatibility, not added) | [`caps`] |
//! | no-new-privileges | [`nnp`] |
//! | a non-root user | [`user`] |
//! | a read-only root with tmpfs mounts | [`rootfs`] |
//! | the Pod Security Standard level the bundle meets | [`pss`] |
//! | the bundle document (what `diff` and `explain` read) | [`bundle`] |
//! | a change of the run-time layer between two bundles | [`diff`] |
//! | the capability rows `explain` shows | [`explain`] |

pub mod bundle;
pub mod caps;
pub mod diff;
pub mod explain;
pub mod nnp;
pub mod output;
pub mod pss;
pub mod rootfs;
pub mod user;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::privileges::Privileges;
use crate::recording::{Recording, Target};

pub use bundle::Bundle;
pub use caps::{CapClass, CapDecision};
pub use nnp::NnpDecision;
pub use rootfs::ReadOnlyDecision;
pub use user::UserDecision;

/// The uid proposed for a workload that can run as non-root when no user is given: `nobody`,
/// which owns nothing on a usual image.
pub const NOBODY: u32 = 65534;

/// What the caller knows that the recording does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The user to propose where a non-root user fits (the image's `USER`, or one chosen);
    /// [`NOBODY`] when absent. A name or a uid (`1000`, `1000:1000`, `nginx`).
    pub user: Option<String>,
    /// The seccomp profile the bundle goes with, as the outputs should name it.
    pub seccomp: Option<SeccompRef>,
    /// The compose service and Kubernetes container name (default `app`).
    pub name: Option<String>,
}

/// Where the outputs find the seccomp profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompRef {
    /// The file as `docker run --security-opt seccomp=FILE` and compose name it.
    pub path: String,
    /// The profile's name for a kubelet Localhost profile (`profiles/NAME.json`, relative to
    /// the kubelet's seccomp directory).
    pub localhost_profile: String,
}

/// Why no decision can be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HardeningError {
    #[error("no recordings given")]
    NoRecordings,
    #[error(
        "{0} has no run-time layer recorded (no `privileges`: a recording older than version 3, \
         or made without capability recording)"
    )]
    NotRecorded(String),
}

/// Every decision for one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Hardening {
    pub capabilities: Vec<CapDecision>,
    pub no_new_privileges: NnpDecision,
    pub user: UserDecision,
    pub read_only: ReadOnlyDecision,
    /// What the recording says about how the workload handles its own capabilities
    /// (capset, prctl), and other things worth knowing that are no decision.
    pub notes: Vec<String>,
    /// The hook(s) that saw the checks.
    pub hook: String,
    pub sees_noaudit: bool,
}

impl Hardening {
    /// The capabilities to add (`--cap-add`), by name (`CAP_CHOWN`), sorted.
    pub fn added(&self) -> Vec<&str> {
        self.capabilities
            .iter()
            .filter(|d| d.class.added())
            .map(|d| d.capability.as_str())
            .collect()
    }
}

/// Decide the run-time layer for `recordings` (several are runs of the same workload: a
/// capability any of them needed is needed).
pub fn decide(recordings: &[Recording], options: &Options) -> Result<Hardening, HardeningError> {
    if recordings.is_empty() {
        return Err(HardeningError::NoRecordings);
    }
    let mut privileges = Vec::new();
    for rec in recordings {
        let Some(p) = &rec.privileges else {
            return Err(HardeningError::NotRecorded(describe_target(&rec.target)));
        };
        privileges.push(p);
    }
    let merged = merge(&privileges);
    let recorded_under_nnp = recordings.iter().all(|r| {
        matches!(
            r.target,
            Target::Container {
                no_new_privileges: true,
                ..
            }
        )
    });
    let capabilities = caps::decide(&merged);
    let mut notes = caps::own_capability_handling(recordings);
    let no_new_privileges = nnp::decide(&merged, recorded_under_nnp);
    let read_only = rootfs::decide(merged.root_fs.as_ref());
    let user = user::decide(&merged, &capabilities, &read_only, options.user.as_deref());
    if !merged.sees_noaudit {
        notes.push(format!(
            "the hook ({}) does not report the NOAUDIT bit: advisory checks were told apart by \
             capability and syscall (see each capability's reason)",
            merged.hook
        ));
    }
    Ok(Hardening {
        capabilities,
        no_new_privileges,
        user,
        read_only,
        notes,
        hook: merged.hook.clone(),
        sees_noaudit: merged.sees_noaudit,
    })
}

/// One `Privileges` for several runs: checks and execs side by side (decisions sum them),
/// users and writes united. The NOAUDIT bit counts only if every hook saw it.
fn merge(all: &[&Privileges]) -> Privileges {
    let mut hooks = BTreeSet::new();
    let mut merged = Privileges {
        sees_noaudit: true,
        ..Privileges::default()
    };
    for p in all {
        hooks.insert(p.hook.clone());
        merged.sees_noaudit &= p.sees_noaudit;
        merged.checks.extend(p.checks.iter().cloned());
        merged
            .privileged_execs
            .extend(p.privileged_execs.iter().cloned());
        merged.euids.extend(p.euids.iter().copied());
        merged.egids.extend(p.egids.iter().copied());
        if let Some(fs) = &p.root_fs {
            let into = merged.root_fs.get_or_insert_with(Default::default);
            for w in &fs.writes {
                if !into.writes.contains(w) {
                    into.writes.push(w.clone());
                }
            }
            for (dir, n) in &fs.image_entries {
                let e = into.image_entries.entry(dir.clone()).or_insert(0);
                *e = (*e).max(*n);
            }
        }
    }
    merged.hook = hooks.into_iter().collect::<Vec<_>>().join(", ");
    merged
}

/// `container web (docker)`, `command nginx -g ...`, for messages.
pub fn describe_target(target: &Target) -> String {
    match target {
        Target::Command { argv, .. } => format!("command `{}`", argv.join(" ")),
        Target::Container { id, name, .. } => format!(
            "container {}",
            name.clone()
                .unwrap_or_else(|| id.chars().take(12).collect())
        ),
        Target::Cgroup { path, .. } => format!("cgroup {path}"),
    }
}

/// The short name a capability has in Docker, compose and Kubernetes (`CHOWN`).
pub fn short_name(cap: &str) -> &str {
    cap.strip_prefix("CAP_").unwrap_or(cap)
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests;
