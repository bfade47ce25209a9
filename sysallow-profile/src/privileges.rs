//! The run-time layer as recorded: capability checks, execs that changed credentials, the
//! users the workload ran as and what it wrote on a container's root filesystem. Only what
//! happened after the set-up boundary is here: the runtime's own capset, setgroups and mounts
//! are not the workload's.
//!
//! This is what was *seen*. What it means for `--cap-add`, no-new-privileges, `--read-only`
//! and the user is decided elsewhere, with a reason per decision.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::abi::Abi;

/// Everything the run-time layer depends on, for one recording.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privileges {
    /// The kernel hook that saw the checks, e.g. `fexit/cap_capable` or `tp_btf/cap_capable`.
    pub hook: String,
    /// The hook reports the NOAUDIT bit (advisory checks); the tracepoint does not, so
    /// advisory checks are then told apart by call site and syscall.
    pub sees_noaudit: bool,
    /// Capability checks, aggregated in the kernel by every field but `count`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CapCheck>,
    /// Execs after the boundary that raised privileges (setuid, setgid, file capabilities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileged_execs: Vec<PrivilegedExec>,
    /// The effective user ids the workload's processes ran with (seen at exec and at
    /// capability checks).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub euids: BTreeSet<u32>,
    /// The effective group ids likewise.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub egids: BTreeSet<u32>,
    /// For a container: what it wrote on its root filesystem (its writable layer). Absent for
    /// a command, or where the layer could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_fs: Option<RootFs>,
}

impl Privileges {
    /// Add `other` (another run of the same workload) to this: counts of the same check or
    /// exec summed, ids and root-filesystem writes united. `sees_noaudit` holds only if it
    /// held for both. A differing hook is the caller's to report.
    pub fn absorb(&mut self, other: &Privileges) {
        self.sees_noaudit &= other.sees_noaudit;
        let mut checks: BTreeMap<CapCheck, u64> = BTreeMap::new();
        for c in self.checks.iter().chain(&other.checks) {
            *checks
                .entry(CapCheck {
                    count: 0,
                    ..c.clone()
                })
                .or_default() += c.count;
        }
        self.checks = checks
            .into_iter()
            .map(|(c, count)| CapCheck { count, ..c })
            .collect();
        let mut execs: BTreeMap<PrivilegedExec, u64> = BTreeMap::new();
        for e in self.privileged_execs.iter().chain(&other.privileged_execs) {
            *execs
                .entry(PrivilegedExec {
                    count: 0,
                    ..e.clone()
                })
                .or_default() += e.count;
        }
        self.privileged_execs = execs
            .into_iter()
            .map(|(e, count)| PrivilegedExec { count, ..e })
            .collect();
        self.euids.extend(&other.euids);
        self.egids.extend(&other.egids);
        match (&mut self.root_fs, &other.root_fs) {
            (Some(mine), Some(theirs)) => {
                let writes: BTreeSet<RootWrite> =
                    mine.writes.iter().chain(&theirs.writes).cloned().collect();
                mine.writes = writes.into_iter().collect();
                for (dir, n) in &theirs.image_entries {
                    let entry = mine.image_entries.entry(dir.clone()).or_insert(*n);
                    *entry = (*entry).max(*n);
                }
            }
            (None, Some(theirs)) => self.root_fs = Some(theirs.clone()),
            _ => {}
        }
    }
}

/// Where the checked capability was looked for, relative to the checking task's own user
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapNamespace {
    /// The task's own user namespace (for a container without user namespaces: the host's).
    Own,
    /// A user namespace below the task's own: one the workload created (`unshare -U`), where
    /// it holds every capability without the container granting any.
    Child,
    /// Any other (an ancestor, or an unrelated one).
    Other,
}

/// One aggregated capability check.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapCheck {
    /// `CAP_CHOWN`; a number the table does not know is `cap_<n>`.
    pub capability: String,
    pub granted: bool,
    pub namespace: CapNamespace,
    /// Checked against credentials other than the task's own (overlayfs checks the
    /// mounter's; `file_ns_capable` a file's opener's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_creds: bool,
    /// The caller's NOAUDIT bit (advisory: the caller works without the capability), where
    /// the hook reports it (`Privileges::sees_noaudit`); `None` where it cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noaudit: Option<bool>,
    /// The ABI and name of the syscall the task was in; `None` outside a syscall (a page
    /// fault, a kernel worker on the task's behalf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<(Abi, String)>,
    /// The program (executable path) that made it, as in `SyscallRecord::programs`.
    pub program: String,
    pub count: u64,
}

/// An exec after the boundary that changed credentials.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivilegedExec {
    /// The executable's path.
    pub program: String,
    /// The effective user id changed (a setuid binary).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub setuid: bool,
    /// The effective group id changed (a setgid binary).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub setgid: bool,
    /// Capabilities the exec added to the permitted set through file capabilities, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_caps: Vec<String>,
    pub count: u64,
}

/// What a container wrote on its root filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootFs {
    /// Paths (absolute, inside the container) created, changed or removed on the root
    /// filesystem, excluding mounts over it (volumes, tmpfs, /proc, /dev, /sys, the
    /// runtime's /etc/hosts and friends).
    pub writes: Vec<RootWrite>,
    /// For each directory above a written path: how many entries the image ships in it
    /// (directly). A tmpfs mounted there would hide them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub image_entries: BTreeMap<String, u32>,
}

/// One path written on the root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootWrite {
    pub path: String,
    /// The image ships this path (the workload changed or removed it), rather than the
    /// workload creating it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_image: bool,
    /// It is a directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dir: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cap: &str, granted: bool, count: u64) -> CapCheck {
        CapCheck {
            capability: cap.to_owned(),
            granted,
            namespace: CapNamespace::Own,
            override_creds: false,
            noaudit: None,
            syscall: None,
            program: "/bin/x".to_owned(),
            count,
        }
    }

    #[test]
    fn absorbing_a_run_sums_the_same_checks_and_unites_the_rest() {
        let mut a = Privileges {
            hook: "tp_btf/cap_capable".to_owned(),
            sees_noaudit: false,
            checks: vec![check("CAP_CHOWN", true, 2)],
            euids: [0].into(),
            ..Privileges::default()
        };
        let b = Privileges {
            hook: "tp_btf/cap_capable".to_owned(),
            sees_noaudit: false,
            checks: vec![check("CAP_CHOWN", true, 3), check("CAP_CHOWN", false, 1)],
            euids: [1000].into(),
            privileged_execs: vec![PrivilegedExec {
                program: "/bin/su".to_owned(),
                setuid: true,
                setgid: false,
                file_caps: Vec::new(),
                count: 1,
            }],
            ..Privileges::default()
        };
        a.absorb(&b);
        assert_eq!(
            a.checks,
            vec![check("CAP_CHOWN", false, 1), check("CAP_CHOWN", true, 5)]
        );
        assert_eq!(a.euids, [0, 1000].into());
        assert_eq!(a.privileged_execs.len(), 1);
    }
}
