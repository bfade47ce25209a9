//! `sys_exit`, attached only when a target has a runtime boundary: a successful seccomp filter
//! install arms the whole process, and syscalls that failed with EPERM or ENOSYS are counted
//! (`ExitFacts`), apart for those a filter in place denied before entry.
use aya_ebpf::bindings::BPF_NOEXIST;
use sysallow_common::{
    ABI_NATIVE, ExitFacts, Loss, MAX_NR, SLOT_COUNTERS, TARGET_BOUNDARY, arg_set_key,
    counter_index, first_seen_key, task_entry, task_entry_armed, task_entry_slot,
};

use crate::arch::current_abi;
use crate::config::{NR_PRCTL, NR_PRCTL_COMPAT, NR_SECCOMP, NR_SECCOMP_COMPAT};
use crate::maps::{EEXIST, EXIT_FACTS, FIRST_SEEN, PENDING_FILTER, atomic_add, lose};
use crate::syscall::SyscallExit;
use crate::target::{current_target, in_armed_cgroup};
use crate::task::{current_tgid, current_tid, set_current, task_value};

/// include/uapi/asm-generic/errno-base.h and errno.h.
const EPERM: i64 = 1;
const ENOSYS: i64 = 38;

#[inline(always)]
pub fn on_sys_exit(exit: &SyscallExit<'_>) {
    // Every task on the host runs this program at every syscall's exit (a node agent's
    // unrelated processes too): leave after the armed-cgroup compare, as `sys_enter` does,
    // before any map lookup. `PENDING_FILTER` only holds tasks of targets, which are in the
    // armed cgroup at the exit of the syscall they entered there.
    if !in_armed_cgroup() {
        return;
    }
    // Only a seccomp or prctl call can have a pending filter install (`enter` inserts one
    // only for those): every other syscall of a target leaves without the hash lookup.
    if !may_install_filter(exit.id()) {
        let ret = exit.ret();
        if ret == -EPERM || ret == -ENOSYS {
            exit_facts(exit, ret == -EPERM);
        }
        return;
    }
    let tid = current_tid();
    // SAFETY: the value is copied out at once.
    let Some(base_slot) = (unsafe { PENDING_FILTER.get(&tid) }).copied() else {
        let ret = exit.ret();
        if ret == -EPERM || ret == -ENOSYS {
            exit_facts(exit, ret == -EPERM);
        }
        return;
    };
    let _ = PENDING_FILTER.remove(&tid);
    if exit.ret() < 0 {
        return;
    }
    // Only a process that is not yet the workload gets here, so the one that installed the
    // container's filter is the runtime: its tail counts as the runtime's, whatever program
    // slot an exec from a file descriptor gave it (runc 1.1.5+deb12u1, with the CVE-2024-21626
    // fix, re-executes itself from /dev/fd/N inside the container's cgroup).
    set_current(task_entry(base_slot, true));
}

/// Whether syscall number `id` is seccomp or prctl, in either ABI (a native number that is the
/// other ABI's seccomp or prctl only costs that syscall the lookup).
#[inline(always)]
fn may_install_filter(id: i64) -> bool {
    [
        NR_SECCOMP.load(),
        NR_PRCTL.load(),
        NR_SECCOMP_COMPAT.load(),
        NR_PRCTL_COMPAT.load(),
    ]
    .iter()
    .any(|nr| i64::from(*nr) == id)
}

/// Count a syscall of the workload that failed with EPERM (`eperm`) or ENOSYS, apart for one
/// this program never entered: a filter in place denied it before entry.
#[inline(never)]
fn exit_facts(exit: &SyscallExit<'_>, eperm: bool) {
    let Some(target) = current_target() else {
        return;
    };
    let slot = match task_value(current_tgid()) {
        Some(v) if task_entry_armed(v) => task_entry_slot(v),
        // Not yet the workload (the runtime's set-up), or a task not followed.
        _ if target.flags & TARGET_BOUNDARY != 0 => return,
        Some(v) => v,
        None => target.base_slot,
    };
    let id = exit.id();
    if id < 0 || id >= i64::from(MAX_NR) {
        return;
    }
    let abi = current_abi().unwrap_or(ABI_NATIVE);
    let counter = counter_index(abi, id as u32) & (SLOT_COUNTERS - 1);
    // SAFETY: only checks presence.
    let entered = unsafe { FIRST_SEEN.get(&first_seen_key(slot, counter)) }.is_some();
    let key = arg_set_key(target.index, counter as u32);
    if let Some(facts) = EXIT_FACTS.get_ptr_mut(&key) {
        // SAFETY: a live map value; CPUs count in it with atomic adds.
        let facts = unsafe { &mut *facts };
        let count = match (entered, eperm) {
            (true, true) => &mut facts.entered_eperm,
            (true, false) => &mut facts.entered_enosys,
            (false, true) => &mut facts.denied_eperm,
            (false, false) => &mut facts.denied_enosys,
        };
        // SAFETY: a field of the live map value above.
        unsafe { atomic_add(count, 1) };
        return;
    }
    let mut first = ExitFacts::default();
    match (entered, eperm) {
        (true, true) => first.entered_eperm = 1,
        (true, false) => first.entered_enosys = 1,
        (false, true) => first.denied_eperm = 1,
        (false, false) => first.denied_enosys = 1,
    }
    // A racing CPU may insert first: its count stands, this one is lost (rare, and only a
    // count of failures, never whether the syscall was seen).
    if let Err(err) = EXIT_FACTS.insert(&key, &first, u64::from(BPF_NOEXIST))
        && err != -EEXIST
    {
        lose(Loss::ArgMapFull);
    }
}
