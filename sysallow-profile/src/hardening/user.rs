//! A non-root user: feasible or not, and why.
//!
//! Docker and Kubernetes put `--cap-add` capabilities of a non-root user only in the bounding
//! set (moby: "Do not set Effective and Permitted capabilities for non-root users"), so a
//! non-root user with an added capability does not have it at run time. The one way such a
//! user gets one is a binary with that file capability, executed without
//! no-new-privileges: the bounding set must hold it, and the exec grants it. A bundle
//! therefore proposes a non-root user only when every capability it adds comes that way.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::caps::CapDecision;
use super::rootfs::ReadOnlyDecision;
use crate::privileges::Privileges;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserVerdict {
    /// It ran as a non-root user already: keep that user.
    AlreadyNonRoot,
    /// It ran as root and can run as the proposed user.
    Feasible,
    /// It needs root (a capability, a user switch of its own, files only root may write).
    NotFeasible,
    /// No user was recorded.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDecision {
    pub verdict: UserVerdict,
    /// The user the bundle sets (`--user`), where it sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub reasons: Vec<String>,
}

impl UserDecision {
    /// Whether the bundle runs the workload as a non-root user.
    pub fn non_root(&self) -> bool {
        self.user.is_some()
    }

    /// The numeric uid of the bundle's user, where it is numeric (`1000` or `1000:1000`).
    pub fn uid(&self) -> Option<u32> {
        self.user
            .as_deref()
            .and_then(|u| u.split(':').next())
            .and_then(|u| u.parse().ok())
    }

    /// The numeric gid of the bundle's user, where one is given (`1000:1000`).
    pub fn gid(&self) -> Option<u32> {
        self.user
            .as_deref()
            .and_then(|u| u.split_once(':'))
            .and_then(|(_, g)| g.parse().ok())
    }
}

/// The capabilities a non-root user gets anyway: file capabilities of binaries it executes.
fn file_caps(privileges: &Privileges) -> BTreeSet<String> {
    privileges
        .privileged_execs
        .iter()
        .flat_map(|e| e.file_caps.iter().map(|c| crate::caps::normalize(c)))
        .collect()
}

pub fn decide(
    privileges: &Privileges,
    caps: &[CapDecision],
    read_only: &ReadOnlyDecision,
    proposed: Option<&str>,
) -> UserDecision {
    let gained = file_caps(privileges);
    let blocking: Vec<&CapDecision> = caps
        .iter()
        .filter(|d| d.class.added() && !gained.contains(&d.capability))
        .collect();
    let mut reasons = Vec::new();
    if !blocking.is_empty() {
        let names: Vec<String> = blocking
            .iter()
            .map(|d| format!("{} ({})", d.capability, d.class.name()))
            .collect();
        reasons.push(format!(
            "it needs {}: Docker and Kubernetes put the added capabilities of a non-root user \
             only in the bounding set (moby: \"Do not set Effective and Permitted capabilities \
             for non-root users\"), so as non-root it would not have them",
            names.join(", ")
        ));
    }
    let euids = &privileges.euids;
    if euids.is_empty() {
        reasons.push("no effective user id was recorded".to_owned());
        return UserDecision {
            verdict: UserVerdict::Unknown,
            user: None,
            reasons,
        };
    }
    let root = euids.contains(&0);
    if !root {
        let list: Vec<String> = euids.iter().map(u32::to_string).collect();
        if !blocking.is_empty() {
            return UserDecision {
                verdict: UserVerdict::NotFeasible,
                user: None,
                reasons,
            };
        }
        // One user: keep it. Several non-root users: it switched between them itself, which
        // needed CAP_SETUID (decided above); the user it starts as is not known.
        let user = (euids.len() == 1).then(|| list.join(""));
        reasons.push(format!(
            "it ran as non-root (uid {}) already{}",
            list.join(", "),
            if user.is_some() {
                ""
            } else {
                "; which one it starts as is not recorded, so no user is set"
            }
        ));
        if !gained.is_empty() {
            reasons.push(format!(
                "its capabilities ({}) come from file capabilities of binaries it executes: \
                 the bounding set keeps them (--cap-add) and the exec grants them, which needs \
                 no-new-privileges off",
                gained.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        return UserDecision {
            verdict: UserVerdict::AlreadyNonRoot,
            user,
            reasons,
        };
    }
    // Every reason from here on is one it cannot run as another user.
    let before = reasons.len();
    if euids.len() > 1 {
        reasons.push(format!(
            "it switches users itself (effective uids {}): it starts as root to do so",
            euids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(fs) = &privileges.root_fs {
        let changed: Vec<&str> = fs
            .writes
            .iter()
            .filter(|w| w.in_image && !w.dir)
            .map(|w| w.path.as_str())
            .collect();
        if !changed.is_empty() {
            reasons.push(format!(
                "it changes files the image ships ({}), which belong to the image's owner \
                 (root in most images): another user can write them only if the image gives \
                 them to it",
                changed.join(", ")
            ));
        }
        let uncovered: Vec<&str> = fs
            .writes
            .iter()
            .filter(|w| !read_only.covered(&w.path))
            .map(|w| w.path.as_str())
            .collect();
        if !uncovered.is_empty() && changed.is_empty() {
            reasons.push(format!(
                "it writes in directories of the image ({}) that no proposed tmpfs covers: \
                 as another user it may not",
                uncovered.join(", ")
            ));
        }
    }
    if !blocking.is_empty() || reasons.len() > before {
        return UserDecision {
            verdict: UserVerdict::NotFeasible,
            user: None,
            reasons,
        };
    }
    let user = proposed.map_or_else(|| super::NOBODY.to_string(), str::to_owned);
    let writes = if privileges.root_fs.is_some() {
        " and writes only where the proposed mounts are (a tmpfs is writable by every user)"
    } else {
        ""
    };
    reasons.push(format!(
        "it ran as root but needs no capability{writes}: user {user} fits. What the recording \
         cannot see: as root it read root-owned files as their owner, without a capability \
         check; verify under the bundle shows a file the new user may not read"
    ));
    if privileges.root_fs.is_none() {
        reasons.push(
            "its writes were not recorded (a command): files it writes must be writable by \
             that user"
                .to_owned(),
        );
    }
    UserDecision {
        verdict: UserVerdict::Feasible,
        user: Some(user),
        reasons,
    }
}
