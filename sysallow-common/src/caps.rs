//! What the kernel side keeps of capability checks and of execs that changed credentials
//! (`sysallow-ebpf` `capable`), shared with the collector. Aggregated in the kernel: one
//! counter per distinct [`CapKey`], never an event per check.

/// Distinct (slot, capability, outcome, namespace, credentials, syscall) kept at once. A
/// workload makes a few dozen distinct checks (CAPABILITIES.md: `nice` made 3 distinct ones,
/// `true` one); 64 slots times 64 distinct ones each is far more than any real one makes. These
/// are the sizes at `MAX_SLOTS`; a tracer with more slots gets as many more per slot
/// (`slot_map_entries`).
pub const CAP_CHECKS_MAX: u32 = crate::slot_map_entries(maps::CAP_CHECKS, crate::MAX_SLOTS);
/// Distinct privileged execs (target, kind, file capabilities, path) kept at once.
pub const PRIV_EXECS_MAX: u32 = crate::slot_map_entries(maps::PRIV_EXECS, crate::MAX_SLOTS);
/// Distinct effective user and group ids kept at once, over every target.
pub const CRED_IDS_MAX: u32 = crate::slot_map_entries(maps::CRED_IDS, crate::MAX_SLOTS);

/// In [`CapKey::flags`]: the check granted the capability.
pub const CAP_GRANTED: u32 = 1;
/// The check was made against credentials other than the task's own (`real_cred`): an
/// overlayfs mounter's (`override_creds`), a file opener's (`file_ns_capable`).
pub const CAP_OVERRIDE_CREDS: u32 = 2;
/// The hook reports the caller's `opts` (fexit): [`CAP_NOAUDIT`] is meaningful.
pub const CAP_NOAUDIT_KNOWN: u32 = 4;
/// `CAP_OPT_NOAUDIT` was set: an advisory check, the caller works without the capability.
pub const CAP_NOAUDIT: u32 = 8;
/// Bits 4-5: where the checked namespace is, relative to the target's own user namespace.
pub const CAP_NS_SHIFT: u32 = 4;
pub const CAP_NS_MASK: u32 = 3 << CAP_NS_SHIFT;
/// The target's own user namespace (the one its first exec ran in).
pub const NS_OWN: u32 = 0;
/// A user namespace below it (created by the workload), found walking up `parent`.
pub const NS_CHILD: u32 = 1;
/// Any other: an ancestor, an unrelated one, or one deeper than the walk goes.
pub const NS_OTHER: u32 = 2;
/// How many `parent` links the kernel side follows looking for the target's own namespace.
pub const NS_WALK: u32 = 4;

/// [`CapKey::syscall`] outside a syscall (a page fault growing the stack, an interrupt).
pub const NO_SYSCALL: u32 = u32::MAX;

/// Key of the `CAP_CHECKS` map (value: a `u64` count).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CapKey {
    /// The program slot of the checking task (so: its target and program). A container's
    /// checks before the runtime boundary carry the target's set-up slot.
    pub slot: u32,
    /// The capability's number (include/uapi/linux/capability.h).
    pub cap: u32,
    /// `CAP_*` flags and the namespace relation (see [`cap_flags`]).
    pub flags: u32,
    /// `counter_index(abi, nr)` of the syscall the task was in, or [`NO_SYSCALL`].
    pub syscall: u32,
}

/// [`CapKey::flags`] from its parts; `noaudit` is `None` where the hook cannot tell.
#[inline(always)]
pub const fn cap_flags(granted: bool, ns: u32, override_creds: bool, noaudit: Option<bool>) -> u32 {
    let mut flags = (ns << CAP_NS_SHIFT) & CAP_NS_MASK;
    if granted {
        flags |= CAP_GRANTED;
    }
    if override_creds {
        flags |= CAP_OVERRIDE_CREDS;
    }
    if let Some(noaudit) = noaudit {
        flags |= CAP_NOAUDIT_KNOWN;
        if noaudit {
            flags |= CAP_NOAUDIT;
        }
    }
    flags
}

/// The parts of [`CapKey::flags`]: the inverse of [`cap_flags`].
pub const fn cap_flags_parts(flags: u32) -> (bool, u32, bool, Option<bool>) {
    let noaudit = if flags & CAP_NOAUDIT_KNOWN != 0 {
        Some(flags & CAP_NOAUDIT != 0)
    } else {
        None
    };
    (
        flags & CAP_GRANTED != 0,
        (flags & CAP_NS_MASK) >> CAP_NS_SHIFT,
        flags & CAP_OVERRIDE_CREDS != 0,
        noaudit,
    )
}

/// In [`PrivExecKey::kind`]: the exec set the effective user id from a setuid file.
pub const EXEC_SETUID: u32 = 1;
/// The exec set the effective group id from a setgid file.
pub const EXEC_SETGID: u32 = 2;

/// Key of the `PRIV_EXECS` map (value: a `u64` count). Built only for an exec that raised
/// privileges (rare), so its size costs nothing on the hot path.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrivExecKey {
    /// The target's index (its base slot).
    pub target: u32,
    /// `EXEC_SETUID | EXEC_SETGID`.
    pub kind: u32,
    /// Capabilities the exec added to the permitted set from the file's capabilities, a
    /// bit per capability number.
    pub file_caps: u64,
    /// The executable's path as exec'd (`linux_binprm.filename`), NUL-terminated.
    pub path: [u8; crate::PATH_LEN],
}

impl PrivExecKey {
    pub const fn zeroed() -> Self {
        Self {
            target: 0,
            kind: 0,
            file_caps: 0,
            path: [0; crate::PATH_LEN],
        }
    }

    /// The path's bytes, up to its NUL.
    pub fn path_bytes(&self) -> &[u8] {
        let len = self
            .path
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.path.len());
        &self.path[..len]
    }
}

/// Key of the `CRED_IDS` map (value unused): an effective user id (`gid` false) or group id
/// a target's task ran with.
#[inline(always)]
pub const fn cred_id_key(target: u32, gid: bool, id: u32) -> u64 {
    ((target as u64) << 33) | ((gid as u64) << 32) | id as u64
}

/// The (target, gid?, id) of a `CRED_IDS` key: the inverse of [`cred_id_key`].
pub const fn cred_id_parts(key: u64) -> (u32, bool, u32) {
    ((key >> 33) as u32, (key >> 32) & 1 != 0, key as u32)
}

/// Which hook saw the checks: the collector loads one of the two programs.
pub mod hooks {
    /// `fexit/cap_capable`: sees `opts` (NOAUDIT) and the result.
    pub const FEXIT: &str = "fexit/cap_capable";
    /// `tp_btf/cap_capable` (the `capability:cap_capable` tracepoint, Linux 6.14+): no `opts`.
    pub const TP_BTF: &str = "tp_btf/cap_capable";
}

/// Map names.
pub mod maps {
    pub const CAP_CHECKS: &str = "CAP_CHECKS";
    pub const PRIV_EXECS: &str = "PRIV_EXECS";
    pub const CRED_IDS: &str = "CRED_IDS";
    pub const TARGET_USERNS: &str = "TARGET_USERNS";
    pub const EXEC_SCRATCH: &str = "EXEC_SCRATCH";
}

/// Program names (the entry points in `sysallow-ebpf`'s `main.rs`).
pub mod programs {
    pub const CAP_CAPABLE_FEXIT: &str = "cap_capable_fexit";
    pub const CAP_CAPABLE_TP: &str = "cap_capable_tp";
    pub const EXEC_CREDS: &str = "exec_creds";
}

/// Load-time globals: struct field offsets read from the kernel's BTF, never assumed.
pub mod globals {
    pub const TASK_REAL_CRED_OFFSET: &str = "TASK_REAL_CRED_OFFSET";
    pub const CRED_UID_OFFSET: &str = "CRED_UID_OFFSET";
    pub const CRED_GID_OFFSET: &str = "CRED_GID_OFFSET";
    pub const CRED_EUID_OFFSET: &str = "CRED_EUID_OFFSET";
    pub const CRED_EGID_OFFSET: &str = "CRED_EGID_OFFSET";
    pub const CRED_CAP_PERMITTED_OFFSET: &str = "CRED_CAP_PERMITTED_OFFSET";
    pub const CRED_CAP_AMBIENT_OFFSET: &str = "CRED_CAP_AMBIENT_OFFSET";
    pub const CRED_USER_NS_OFFSET: &str = "CRED_USER_NS_OFFSET";
    pub const USER_NS_PARENT_OFFSET: &str = "USER_NS_PARENT_OFFSET";
    pub const BPRM_FILE_OFFSET: &str = "BPRM_FILE_OFFSET";
    pub const BPRM_FILENAME_OFFSET: &str = "BPRM_FILENAME_OFFSET";
    pub const FILE_INODE_OFFSET: &str = "FILE_INODE_OFFSET";
    pub const INODE_MODE_OFFSET: &str = "INODE_MODE_OFFSET";
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: four `u32`: no padding, no pointers.
    unsafe impl aya::Pod for super::CapKey {}
    // SAFETY: two `u32`, a `u64`, then a byte array (272 bytes, 8-aligned): no padding.
    unsafe impl aya::Pod for super::PrivExecKey {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_flags_round_trip() {
        for granted in [false, true] {
            for ns in [NS_OWN, NS_CHILD, NS_OTHER] {
                for over in [false, true] {
                    for noaudit in [None, Some(false), Some(true)] {
                        let flags = cap_flags(granted, ns, over, noaudit);
                        assert_eq!(cap_flags_parts(flags), (granted, ns, over, noaudit));
                    }
                }
            }
        }
    }

    #[test]
    fn cred_id_key_round_trips() {
        for target in [0, 1, crate::MAX_SLOTS - 1] {
            for gid in [false, true] {
                for id in [0, 65534, u32::MAX] {
                    assert_eq!(
                        cred_id_parts(cred_id_key(target, gid, id)),
                        (target, gid, id)
                    );
                }
            }
        }
    }

    #[test]
    fn keys_have_no_padding() {
        assert_eq!(core::mem::size_of::<CapKey>(), 16);
        assert_eq!(core::mem::size_of::<PrivExecKey>(), 16 + crate::PATH_LEN);
    }
}
