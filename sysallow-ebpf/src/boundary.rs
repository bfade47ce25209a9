//! The runtime boundary, all on `sys_enter`: a container's process is the runtime's until its
//! seccomp filter is in place, and the workload from then on.
//!
//! A process of a boundary target that is not yet the workload and asks to install a filter
//! is noted in `PENDING_FILTER` with its seccomp state at that moment. At its next syscall (on
//! any of its threads) the state is read again: changed means the install succeeded, and the
//! process is armed before that syscall is counted, so the runtime's post-filter syscalls
//! (which the filter must allow) count as the workload's. A filter installed with TSYNC
//! changes every thread's state, so whichever thread enters first arms the process.
//!
//! This used to be read from the install's return value at `sys_exit`, which every task on
//! the machine then ran at every syscall's exit: on a node agent, a second program per syscall
//! for every unrelated process. Here only the tasks of a boundary target that are not yet the
//! workload (a container's runtime set-up) pay anything: one hash lookup.
use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};
use sysallow_common::{ABI_NATIVE, TargetInfo, task_entry};

use crate::config::{
    NR_PRCTL, NR_PRCTL_COMPAT, NR_SECCOMP, NR_SECCOMP_COMPAT, SECCOMP_STATE_MASK,
    SECCOMP_STATE_OFFSET,
};
use crate::maps::{PENDING_FILTER, PendingFilter};
use crate::syscall::Syscall;
use crate::task::{current_tgid, set_current};

/// include/uapi/linux/seccomp.h and prctl.h.
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const PR_SET_SECCOMP: u64 = 22;
const SECCOMP_MODE_FILTER: u64 = 2;

/// The program slot of a syscall by a task of boundary target `target` that is not the
/// workload yet: the target's base slot if the task's process has just been armed (its filter
/// is now in place), else the set-up slot.
#[inline(never)]
pub fn before_workload(syscall: &Syscall<'_>, target: &TargetInfo, abi: u32, nr: u32) -> u32 {
    let tgid = current_tgid();
    // SAFETY: the value is copied out at once.
    if let Some(pending) = unsafe { PENDING_FILTER.get(&tgid) }.copied()
        && seccomp_state() != pending.state_before
    {
        let _ = PENDING_FILTER.remove(&tgid);
        set_current(task_entry(pending.base_slot, true));
        return pending.base_slot;
    }
    if installs_filter(syscall, abi, nr) {
        let pending = PendingFilter {
            base_slot: target.base_slot,
            _pad: 0,
            state_before: seccomp_state(),
        };
        // Full (1024 processes between asking and their next syscall): the process is armed
        // at its exec instead, the fallback boundary.
        let _ = PENDING_FILTER.insert(&tgid, &pending, 0);
    }
    target.setup_slot
}

/// The current task's seccomp state: `task->seccomp.filter` (a new filter is a new pointer,
/// also under a filter already in place), or where the kernel's BTF did not give its offset,
/// the `SYSCALL_WORK_SECCOMP` bit of `thread_info.syscall_work` (load-time configuration).
#[inline(always)]
fn seccomp_state() -> u64 {
    // SAFETY: helper call with no arguments.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    // SAFETY: a probe read of a field of the current task.
    let word = unsafe {
        bpf_probe_read_kernel(task.wrapping_add(SECCOMP_STATE_OFFSET.load() as usize) as *const u64)
    };
    word.unwrap_or(0) & SECCOMP_STATE_MASK.load()
}

/// Whether this syscall asks to install a seccomp filter.
#[inline(always)]
fn installs_filter(syscall: &Syscall<'_>, abi: u32, nr: u32) -> bool {
    let (seccomp, prctl) = if abi == ABI_NATIVE {
        (NR_SECCOMP.load(), NR_PRCTL.load())
    } else {
        (NR_SECCOMP_COMPAT.load(), NR_PRCTL_COMPAT.load())
    };
    if nr != seccomp && nr != prctl {
        return false;
    }
    let (arg0, arg1) = syscall.first_args(abi);
    // i386 arguments are 32-bit.
    let mask = if abi == ABI_NATIVE {
        u64::MAX
    } else {
        0xffff_ffff
    };
    if nr == seccomp {
        arg0 & mask == SECCOMP_SET_MODE_FILTER
    } else {
        arg0 & mask == PR_SET_SECCOMP && arg1 & mask == SECCOMP_MODE_FILTER
    }
}

/// Process `tgid` of the armed cgroup ended: forget a request it never saw through (an
/// install that failed), so that a later process given the same pid does not inherit it.
#[inline(always)]
pub fn forget(tgid: u32) {
    let _ = PENDING_FILTER.remove(&tgid);
}
