//! Capability checks and execs that changed credentials, for the run-time layer (issue 19).
//!
//! One of two programs sees every capability decision: `fexit/cap_capable` where the kernel
//! accepts it (it has `opts`, so advisory NOAUDIT checks are known), else the
//! `capability:cap_capable` tracepoint as `tp_btf` (Linux 6.14+, no `opts`); the collector
//! probes which one loads. Both fire in `cap_capable`, which every capability check reaches
//! (`security_capable` calls it first, and the direct callers such as `cap_vm_enough_memory`
//! call it themselves), granted or denied.
//!
//! Checks are aggregated here by `CapKey` (program slot, capability, outcome, namespace
//! relation, overridden credentials, NOAUDIT, syscall): nothing crosses to user space per
//! check. A task outside every target leaves after the armed-cgroup compare, as on `sys_enter`.
mod config;
pub mod maps;

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_task_btf, bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes},
};
use sysallow_common::{
    Loss, TARGET_BOUNDARY, TargetInfo,
    caps::{
        CapKey, EXEC_SETGID, EXEC_SETUID, NS_CHILD, NS_OTHER, NS_OWN, NS_WALK, cap_flags,
        cred_id_key,
    },
    task_entry_armed, task_entry_slot,
};

use self::config::{
    BPRM_FILE_OFFSET, BPRM_FILENAME_OFFSET, CRED_CAP_AMBIENT_OFFSET, CRED_CAP_PERMITTED_OFFSET,
    CRED_EGID_OFFSET, CRED_EUID_OFFSET, CRED_GID_OFFSET, CRED_UID_OFFSET, CRED_USER_NS_OFFSET,
    FILE_INODE_OFFSET, INODE_MODE_OFFSET, TASK_REAL_CRED_OFFSET, USER_NS_PARENT_OFFSET,
};
use self::maps::{CAP_CHECKS, CRED_IDS, EXEC_SCRATCH, PRIV_EXECS, TARGET_USERNS};
use crate::arch::current_syscall;
use crate::maps::{EEXIST, atomic_add, lose};
use crate::target::current_target;
use crate::task::{current_tgid, task_value};

/// include/linux/security.h: the caller works without the capability (advisory).
const CAP_OPT_NOAUDIT: u32 = 1 << 1;
/// include/uapi/linux/stat.h.
const S_ISUID: u16 = 0o4000;
const S_ISGID: u16 = 0o2000;
const S_IXGRP: u16 = 0o0010;

/// One decision of `cap_capable`, as a hook reports it.
pub struct Check {
    /// The credentials checked (`const struct cred *`).
    pub cred: u64,
    /// The user namespace the capability was asked for.
    pub target_ns: u64,
    pub cap: i32,
    /// `cap_capable`'s result: 0 granted, -EPERM denied.
    pub ret: i32,
    /// The caller's `opts`, where the hook has them (fexit).
    pub opts: Option<u32>,
}

/// A field of kernel memory at `base + offset`, or `default` if it cannot be read. Probe
/// reads keep every value a scalar for the verifier (pointers are compared and stored), at a
/// few nanoseconds each, paid only by the targets' checks.
#[inline(always)]
fn field<T: Copy>(base: u64, offset: u32, default: T) -> T {
    if base == 0 {
        return default;
    }
    // SAFETY: a probe read, which fails cleanly on a bad address.
    unsafe { bpf_probe_read_kernel((base + u64::from(offset)) as *const T) }.unwrap_or(default)
}

/// The current task's objective credentials (`real_cred`): its own, never an override.
#[inline(always)]
fn current_real_cred() -> u64 {
    // SAFETY: helper call with no arguments.
    let task = unsafe { bpf_get_current_task_btf() } as u64;
    field(task, TASK_REAL_CRED_OFFSET.load(), 0u64)
}

#[inline(always)]
pub fn on_cap_check(check: &Check) {
    // The one compare every task on the machine pays.
    let Some(target) = current_target() else {
        return;
    };
    record_check(&target, check);
}

#[inline(never)]
fn record_check(target: &TargetInfo, check: &Check) {
    if check.cap < 0 {
        return;
    }
    // The slot `sys_enter` counts this task's syscalls in, except for a container's runtime:
    // its checks all go to the set-up slot (kept apart, never the workload's). That includes
    // the runtime's tail after it installed the container's filter and before it exec'd the
    // entrypoint (runc drops capabilities there: capset, setgroups, setuid). The tail's
    // syscalls belong in the profile, since they run under the filter, but what it checks
    // is the runtime's own business. A container's process is the workload's once it has
    // exec'd inside it: then its slot is a program's, not the target's base slot.
    let task = task_value(current_tgid());
    let (slot, workload) = if target.flags & TARGET_BOUNDARY == 0 {
        (task.map_or(target.base_slot, task_entry_slot), true)
    } else {
        match task {
            Some(v) if task_entry_armed(v) && task_entry_slot(v) != target.base_slot => {
                (task_entry_slot(v), true)
            }
            _ => (target.setup_slot, false),
        }
    };
    let real_cred = current_real_cred();
    // `cred` is `current->cred` for almost every check. It differs from `real_cred` only when
    // someone else's credentials are checked: `override_creds` is in effect (overlayfs
    // checks the mounter's), or `file_ns_capable` checks a file opener's. `current->cred`
    // would not do as the reference: under `override_creds` it is the override itself.
    let override_creds = real_cred != 0 && check.cred != real_cred;
    let ns = namespace_relation(target, real_cred, check.target_ns);
    let key = CapKey {
        slot,
        cap: check.cap as u32,
        flags: cap_flags(
            check.ret == 0,
            ns,
            override_creds,
            check.opts.map(|o| o & CAP_OPT_NOAUDIT != 0),
        ),
        syscall: current_syscall(),
    };
    if !count(&key) {
        lose(Loss::PrivilegesFull);
    }
    if workload {
        note_ids(target.index, real_cred);
    }
}

/// Where `target_ns` is relative to the target's own user namespace: the same, below it
/// (a namespace the workload created: it holds every capability there without the container
/// granting any), or elsewhere. The target's own is the one its first exec ran in; before
/// any exec (a process adopted when attaching), the task's own.
#[inline(always)]
fn namespace_relation(target: &TargetInfo, real_cred: u64, target_ns: u64) -> u32 {
    let own = match TARGET_USERNS.get(target.index) {
        Some(ns) if *ns != 0 => *ns,
        _ => field(real_cred, CRED_USER_NS_OFFSET.load(), 0u64),
    };
    if target_ns == own {
        return NS_OWN;
    }
    let mut ns = target_ns;
    let mut i = 0;
    while i < NS_WALK {
        ns = field(ns, USER_NS_PARENT_OFFSET.load(), 0u64);
        if ns == 0 {
            break;
        }
        if ns == own {
            return NS_CHILD;
        }
        i += 1;
    }
    NS_OTHER
}

/// Add one to `CAP_CHECKS[key]`, creating it; false if the map is full.
#[inline(always)]
fn count(key: &CapKey) -> bool {
    if let Some(counter) = CAP_CHECKS.get_ptr_mut(key) {
        // SAFETY: a live map value; CPUs share it, hence the atomic add.
        unsafe { atomic_add(counter, 1) };
        return true;
    }
    match CAP_CHECKS.insert(key, &1, u64::from(BPF_NOEXIST)) {
        Ok(()) => true,
        // Another CPU created it first: add to theirs.
        Err(err) if err == -EEXIST => match CAP_CHECKS.get_ptr_mut(key) {
            Some(counter) => {
                // SAFETY: as above.
                unsafe { atomic_add(counter, 1) };
                true
            }
            None => false,
        },
        Err(_) => false,
    }
}

/// Keep the effective user and group id of `cred` for target `index` (a lookup first: the
/// same ids come again and again).
#[inline(always)]
fn note_ids(index: u32, cred: u64) {
    if cred == 0 {
        return;
    }
    let euid = field(cred, CRED_EUID_OFFSET.load(), u32::MAX);
    let egid = field(cred, CRED_EGID_OFFSET.load(), u32::MAX);
    for key in [
        cred_id_key(index, false, euid),
        cred_id_key(index, true, egid),
    ] {
        if CRED_IDS.get_ptr(&key).is_none()
            && let Err(err) = CRED_IDS.insert(&key, &0, u64::from(BPF_NOEXIST))
            && err != -EEXIST
        {
            lose(Loss::PrivilegesFull);
        }
    }
}

/// `sched_process_exec` (as `tp_btf`, with the `linux_binprm`): the new credentials are
/// committed. Note the target's own user namespace at its first exec, the effective ids, and
/// whether this exec raised privileges.
#[inline(always)]
pub fn on_exec(bprm: u64) {
    let Some(target) = current_target() else {
        return;
    };
    record_exec(&target, bprm);
}

#[inline(never)]
fn record_exec(target: &TargetInfo, bprm: u64) {
    let Some(key) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: the per-CPU scratch entry is ours for the duration of this program.
    let key = unsafe { &mut *key };
    key.path = [0; sysallow_common::PATH_LEN];
    let filename = field(bprm, BPRM_FILENAME_OFFSET.load(), 0u64);
    if filename != 0 {
        // SAFETY: reads at most `key.path.len()` bytes into our buffer.
        let _ = unsafe { bpf_probe_read_kernel_str_bytes(filename as *const u8, &mut key.path) };
    }
    // The runtime re-executing itself from a memfd (runc 1.1) is set-up, not the workload
    // (see `program::on_exec`).
    if key.path.starts_with(b"/dev/fd/") || key.path.starts_with(b"/proc/self/fd/") {
        return;
    }
    let cred = current_real_cred();
    if cred == 0 {
        return;
    }
    if let Some(own) = TARGET_USERNS.get_ptr_mut(target.index) {
        // SAFETY: a live array element. The first exec wins; two first execs of one target
        // racing on two CPUs are in the same namespace anyway.
        unsafe {
            if *own == 0 {
                *own = field(cred, CRED_USER_NS_OFFSET.load(), 0u64);
            }
        }
    }
    note_ids(target.index, cred);

    let uid = field(cred, CRED_UID_OFFSET.load(), 0u32);
    let gid = field(cred, CRED_GID_OFFSET.load(), 0u32);
    let euid = field(cred, CRED_EUID_OFFSET.load(), 0u32);
    let egid = field(cred, CRED_EGID_OFFSET.load(), 0u32);
    let file = field(bprm, BPRM_FILE_OFFSET.load(), 0u64);
    let inode = field(file, FILE_INODE_OFFSET.load(), 0u64);
    let mode = field(inode, INODE_MODE_OFFSET.load(), 0u16);
    // A setuid exec: the file is setuid and the exec left the effective id differing from
    // the real one. An id that already differed before a plain exec is not this exec's doing
    // (the file is not setuid); under no-new-privileges the kernel keeps the ids, so nothing
    // is counted (fs/exec.c, bprm_fill_uid).
    let mut kind = 0;
    if mode & S_ISUID != 0 && euid != uid {
        kind |= EXEC_SETUID;
    }
    if mode & (S_ISGID | S_IXGRP) == (S_ISGID | S_IXGRP) && egid != gid {
        kind |= EXEC_SETGID;
    }
    // File capabilities: for a task that is not root after the exec, a plain exec leaves the
    // permitted set equal to the ambient one (security/commoncap.c,
    // cap_bprm_creds_from_file: pP' = (pI & fI) | (fP & bset) | pA', with fI = fP = 0 for a
    // file without capabilities). Whatever is permitted beyond the ambient set came from the
    // file. Root gets its full set whatever the file says, so nothing is told for it; under
    // no-new-privileges the kernel masks the file's capabilities off, so nothing is counted.
    let file_caps = if euid != 0 && uid != 0 {
        let permitted = field(cred, CRED_CAP_PERMITTED_OFFSET.load(), 0u64);
        let ambient = field(cred, CRED_CAP_AMBIENT_OFFSET.load(), 0u64);
        permitted & !ambient
    } else {
        0
    };
    if kind == 0 && file_caps == 0 {
        return;
    }
    key.target = target.index;
    key.kind = kind;
    key.file_caps = file_caps;
    if let Some(counter) = PRIV_EXECS.get_ptr_mut(&*key) {
        // SAFETY: a live map value.
        unsafe { atomic_add(counter, 1) };
        return;
    }
    match PRIV_EXECS.insert(&*key, &1, u64::from(BPF_NOEXIST)) {
        Ok(()) => {}
        Err(err) if err == -EEXIST => {
            if let Some(counter) = PRIV_EXECS.get_ptr_mut(&*key) {
                // SAFETY: a live map value.
                unsafe { atomic_add(counter, 1) };
            }
        }
        Err(_) => lose(Loss::PrivilegesFull),
    }
}
