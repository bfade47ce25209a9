//! no-new-privileges: an exec can no longer raise privileges (setuid and setgid bits are
//! ignored, file capabilities are not gained: security/commoncap.c keeps the new permitted
//! set within the old one). It fits unless an exec after the boundary did raise them.

use serde::{Deserialize, Serialize};

use crate::privileges::{PrivilegedExec, Privileges};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnpDecision {
    pub fits: bool,
    pub reason: String,
    /// The execs that raised privileges (and would not under no-new-privileges).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocking: Vec<PrivilegedExec>,
}

/// `recorded_under_nnp`: the recording was made with no-new-privileges on already.
pub fn decide(privileges: &Privileges, recorded_under_nnp: bool) -> NnpDecision {
    let blocking: Vec<PrivilegedExec> = privileges
        .privileged_execs
        .iter()
        .filter(|e| e.setuid || e.setgid || !e.file_caps.is_empty())
        .cloned()
        .collect();
    if blocking.is_empty() {
        let reason = if recorded_under_nnp {
            "recorded under no-new-privileges already, and it ran".to_owned()
        } else {
            "no exec after the boundary raised privileges (no setuid or setgid binary changed \
             the user or group, no file capability was gained), so no-new-privileges changes \
             nothing the workload does"
                .to_owned()
        };
        return NnpDecision {
            fits: true,
            reason,
            blocking,
        };
    }
    let what: Vec<String> = blocking.iter().map(describe).collect();
    NnpDecision {
        fits: false,
        reason: format!(
            "{}: under no-new-privileges the exec would not raise them (the setuid/setgid bits \
             are ignored and file capabilities are not gained), so the program would run \
             with the caller's privileges instead",
            what.join("; ")
        ),
        blocking,
    }
}

/// `/usr/bin/passwd is setuid (×2)`.
fn describe(exec: &PrivilegedExec) -> String {
    let mut how = Vec::new();
    if exec.setuid {
        how.push("setuid".to_owned());
    }
    if exec.setgid {
        how.push("setgid".to_owned());
    }
    if !exec.file_caps.is_empty() {
        how.push(format!(
            "gains {} from file capabilities",
            exec.file_caps.join(", ")
        ));
    }
    format!(
        "{} is {} (×{})",
        exec.program,
        how.join(" and "),
        exec.count
    )
}
