//! Which Pod Security Standard level a bundle's Kubernetes securityContext meets
//! (kubernetes.io/docs/concepts/security/pod-security-standards). Only the controls a
//! securityContext from this bundle touches are judged; the pod's own fields (host
//! namespaces, hostPath volumes, ...) are the user's.
//!
//! - Baseline: "Adding additional capabilities beyond those listed below must be disallowed":
//!   AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE,
//!   SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT; seccomp must not be Unconfined.
//! - Restricted: baseline, and capabilities must drop ALL and may add only NET_BIND_SERVICE,
//!   allowPrivilegeEscalation false, runAsNonRoot true (runAsUser not 0), seccomp
//!   RuntimeDefault or Localhost.

use serde::{Deserialize, Serialize};

/// The capabilities the baseline level lets a container add.
pub const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The capabilities the restricted level lets a container add.
pub const RESTRICTED_CAPABILITIES: &[&str] = &["NET_BIND_SERVICE"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PssLevel {
    Privileged,
    Baseline,
    Restricted,
}

impl PssLevel {
    pub fn name(self) -> &'static str {
        match self {
            PssLevel::Privileged => "privileged",
            PssLevel::Baseline => "baseline",
            PssLevel::Restricted => "restricted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSecurity {
    /// The highest level the securityContext meets.
    pub level: PssLevel,
    /// Why it does not meet the next level(s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
}

/// What the securityContext sets, as the levels read it.
pub struct Context<'a> {
    /// Added capabilities, short names (`CHOWN`).
    pub added: &'a [&'a str],
    pub drops_all: bool,
    pub allow_privilege_escalation: bool,
    pub run_as_non_root: bool,
    /// seccompProfile is RuntimeDefault or Localhost.
    pub seccomp_set: bool,
}

pub fn assess(ctx: &Context) -> PodSecurity {
    let mut baseline = Vec::new();
    let beyond: Vec<&str> = ctx
        .added
        .iter()
        .copied()
        .filter(|c| !BASELINE_CAPABILITIES.contains(c))
        .collect();
    if !beyond.is_empty() {
        baseline.push(format!(
            "baseline: adds {} beyond the baseline list",
            beyond.join(", ")
        ));
    }
    let mut restricted = Vec::new();
    let beyond: Vec<&str> = ctx
        .added
        .iter()
        .copied()
        .filter(|c| !RESTRICTED_CAPABILITIES.contains(c))
        .collect();
    if !beyond.is_empty() {
        restricted.push(format!(
            "restricted: adds {} (only NET_BIND_SERVICE may be added)",
            beyond.join(", ")
        ));
    }
    if !ctx.drops_all {
        restricted.push("restricted: capabilities must drop ALL".to_owned());
    }
    if ctx.allow_privilege_escalation {
        restricted.push(
            "restricted: allowPrivilegeEscalation must be false (no-new-privileges does not fit)"
                .to_owned(),
        );
    }
    if !ctx.run_as_non_root {
        restricted.push(
            "restricted: runAsNonRoot must be true (a non-root user does not fit)".to_owned(),
        );
    }
    if !ctx.seccomp_set {
        restricted
            .push("restricted: seccompProfile must be RuntimeDefault or Localhost".to_owned());
    }
    let level = if !baseline.is_empty() {
        PssLevel::Privileged
    } else if !restricted.is_empty() {
        PssLevel::Baseline
    } else {
        PssLevel::Restricted
    };
    baseline.extend(restricted);
    PodSecurity {
        level,
        unmet: baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(added: &'a [&'a str], ape: bool, non_root: bool) -> Context<'a> {
        Context {
            added,
            drops_all: true,
            allow_privilege_escalation: ape,
            run_as_non_root: non_root,
            seccomp_set: true,
        }
    }

    #[test]
    fn levels_follow_the_standard() {
        assert_eq!(assess(&ctx(&[], false, true)).level, PssLevel::Restricted);
        assert_eq!(
            assess(&ctx(&["NET_BIND_SERVICE"], false, true)).level,
            PssLevel::Restricted
        );
        let chown = assess(&ctx(&["CHOWN"], false, true));
        assert_eq!(chown.level, PssLevel::Baseline);
        assert!(chown.unmet[0].contains("CHOWN"), "{:?}", chown.unmet);
        assert_eq!(assess(&ctx(&[], true, true)).level, PssLevel::Baseline);
        assert_eq!(assess(&ctx(&[], false, false)).level, PssLevel::Baseline);
        let admin = assess(&ctx(&["SYS_ADMIN"], false, true));
        assert_eq!(admin.level, PssLevel::Privileged);
        assert!(admin.unmet.iter().any(|u| u.starts_with("baseline")));
        // NET_RAW, in Docker's defaults, is not in the baseline list.
        assert_eq!(
            assess(&ctx(&["NET_RAW"], false, true)).level,
            PssLevel::Privileged
        );
    }
}
