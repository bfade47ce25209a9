//! `sys_exit`, attached only when failures are recorded (`Root::exit_facts`): syscalls that
//! failed with EPERM or ENOSYS are counted (`ExitFacts`), apart for those a filter in place
//! denied before entry (only an exit sees those: the filter runs before `sys_enter`).
use aya_ebpf::bindings::BPF_NOEXIST;
use sysallow_common::{
    ABI_NATIVE, ExitFacts, Loss, MAX_NR, SLOT_COUNTERS, TARGET_BOUNDARY, arg_set_key,
    counter_index, first_seen_key, task_entry_armed, task_entry_slot,
};

use crate::arch::current_abi;
use crate::maps::{EEXIST, EXIT_FACTS, FIRST_SEEN, atomic_add, lose};
use crate::syscall::SyscallExit;
use crate::target::{current_target, in_armed_cgroup};
use crate::task::{current_tgid, task_value};

/// include/uapi/asm-generic/errno-base.h and errno.h.
const EPERM: i64 = 1;
const ENOSYS: i64 = 38;

#[inline(always)]
pub fn on_sys_exit(exit: &SyscallExit<'_>) {
    // Every task on the host runs this program at every syscall's exit: leave after the
    // armed-cgroup compare, as `sys_enter` does, before any map lookup.
    if !in_armed_cgroup() {
        return;
    }
    let ret = exit.ret();
    if ret == -EPERM || ret == -ENOSYS {
        exit_facts(exit, ret == -EPERM);
    }
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
