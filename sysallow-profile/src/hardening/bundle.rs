//! The bundle document: every decision of the run-time layer with its reason, as JSON. Every
//! output (docker, podman, compose, Kubernetes, systemd) is written from it, so they agree;
//! `diff` and `explain` read it back.

use serde::{Deserialize, Serialize};

use super::caps::{CapClass, CapDecision};
use super::nnp::NnpDecision;
use super::pss::{self, PodSecurity};
use super::rootfs::ReadOnlyDecision;
use super::user::UserDecision;
use super::{Hardening, Options, SeccompRef, short_name};

/// The `format` field of every bundle.
pub const FORMAT: &str = "sysallow-bundle";
/// The version this build writes and the highest it reads.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// What was recorded (`container web`, `command nginx`).
    pub source: String,
    /// The compose service and Kubernetes container name.
    pub name: String,
    /// The kernel hook(s) that saw the capability checks.
    pub hook: String,
    pub sees_noaudit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompRef>,
    /// Per capability seen: its class and why; added ones first.
    pub capabilities: Vec<CapDecision>,
    pub no_new_privileges: NnpDecision,
    pub user: UserDecision,
    pub read_only: ReadOnlyDecision,
    /// The Pod Security Standard level the Kubernetes securityContext meets.
    pub pod_security: PodSecurity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A bundle that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a sysallow bundle")]
    Json(#[source] serde_json::Error),
    #[error("format is {0:?}, not {FORMAT:?}")]
    Format(String),
    #[error("bundle version {0} is newer than this sysallow reads ({VERSION})")]
    Version(u32),
}

impl Bundle {
    pub fn new(hardening: Hardening, source: String, options: &Options) -> Bundle {
        let mut bundle = Bundle {
            format: FORMAT.to_owned(),
            version: VERSION,
            source,
            name: options.name.clone().unwrap_or_else(|| "app".to_owned()),
            hook: hardening.hook,
            sees_noaudit: hardening.sees_noaudit,
            seccomp: options.seccomp.clone(),
            capabilities: hardening.capabilities,
            no_new_privileges: hardening.no_new_privileges,
            user: hardening.user,
            read_only: hardening.read_only,
            pod_security: PodSecurity {
                level: pss::PssLevel::Privileged,
                unmet: Vec::new(),
            },
            notes: hardening.notes,
        };
        bundle.pod_security = bundle.assess_pod_security();
        bundle
    }

    /// The capabilities to add, `CAP_` names, sorted.
    pub fn added(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .capabilities
            .iter()
            .filter(|d| d.class.added())
            .map(|d| d.capability.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// Capabilities gained through file capabilities of a binary the workload executes.
    pub fn file_capabilities(&self) -> Vec<&str> {
        self.capabilities
            .iter()
            .filter(|d| {
                d.evidence.iter().any(|e| {
                    e.class == CapClass::Compatibility && e.syscall.as_deref() == Some("execve")
                })
            })
            .map(|d| d.capability.as_str())
            .collect()
    }

    /// The invariant every bundle keeps: a non-root user is never paired with an added
    /// capability it would not have (Docker and Kubernetes give a non-root user added
    /// capabilities only in the bounding set; only a file capability of a binary it executes,
    /// without no-new-privileges, raises one).
    pub fn pairs_non_root_with_unusable_caps(&self) -> bool {
        if !self.user.non_root() || self.user.uid() == Some(0) {
            return false;
        }
        let gained = self.file_capabilities();
        let unusable = self.added().iter().any(|c| !gained.contains(c));
        let needs_exec_gain = !gained.is_empty() && self.added().iter().any(|c| gained.contains(c));
        unusable || (needs_exec_gain && self.no_new_privileges.fits)
    }

    /// Whether the bundle sets no-new-privileges (Kubernetes: allowPrivilegeEscalation false).
    pub fn no_new_privileges(&self) -> bool {
        self.no_new_privileges.fits
    }

    fn assess_pod_security(&self) -> PodSecurity {
        let added: Vec<&str> = self.added().into_iter().map(short_name).collect();
        pss::assess(&pss::Context {
            added: &added,
            drops_all: true,
            allow_privilege_escalation: !self.no_new_privileges(),
            run_as_non_root: self.user.non_root() && self.user.uid() != Some(0),
            // The securityContext always names a profile: the bundle's (Localhost) or the
            // runtime's default.
            seccomp_set: true,
        })
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<Bundle, BundleError> {
        #[derive(Deserialize)]
        struct Head {
            format: String,
            version: u32,
        }
        let head: Head = serde_json::from_str(text).map_err(BundleError::Json)?;
        if head.format != FORMAT {
            return Err(BundleError::Format(head.format));
        }
        if head.version > VERSION {
            return Err(BundleError::Version(head.version));
        }
        serde_json::from_str(text).map_err(BundleError::Json)
    }

    /// Whether `text` is a bundle document (rather than a recording or profile).
    pub fn looks_like(text: &str) -> bool {
        #[derive(Deserialize)]
        struct Head {
            format: String,
        }
        serde_json::from_str::<Head>(text).is_ok_and(|h| h.format == FORMAT)
    }
}
