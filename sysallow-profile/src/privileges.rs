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
