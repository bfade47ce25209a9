//! `sys_enter`, the hot path: count the syscall in its program slot's counters, note when it
//! was first made, capture its argument if asked; before a container's workload, its runtime's
//! set-up is counted apart (`boundary`).
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
};
use sysallow_common::{
    ABI_NATIVE, Loss, MAX_NR, SLOT_COUNTERS, TARGET_BOUNDARY, counter_index, counts_index,
    first_seen_key, task_entry_armed, task_entry_slot,
};

use crate::arch::current_abi;
use crate::boundary::before_workload;
use crate::capture::capture;
use crate::config::{COUNTER_SHARDS, SLOT_LIMIT};
use crate::maps::{CAPTURE, COUNTS, EEXIST, FIRST_SEEN, atomic_add, lose};
use crate::syscall::Syscall;
use crate::target::current_target;
use crate::task::{current_tgid, task_value};

#[inline(always)]
pub fn on_sys_enter(syscall: &Syscall<'_>) {
    let Some(target) = current_target() else {
        return;
    };
    let id = syscall.id();
    if id < 0 || id >= i64::from(MAX_NR) {
        lose(Loss::NrOutOfRange);
        return;
    }
    let nr = id as u32;
    let task = task_value(current_tgid());
    let abi = match current_abi() {
        Some(abi) => abi,
        None => {
            lose(Loss::AbiUnknown);
            ABI_NATIVE
        }
    };
    let slot = if target.flags & TARGET_BOUNDARY == 0 {
        task.map_or(target.base_slot, task_entry_slot)
    } else {
        match task {
            Some(v) if task_entry_armed(v) => task_entry_slot(v),
            _ => before_workload(syscall, &target, abi, nr),
        }
    };
    // SAFETY: helper call with no arguments.
    let shard = unsafe { bpf_get_smp_processor_id() } & (COUNTER_SHARDS.load() - 1);
    match COUNTS.get_ptr_mut(counts_index(shard, slot, SLOT_LIMIT.load())) {
        Some(counters) => {
            // The mask keeps the index provably in bounds for the verifier (abi < 2 and
            // nr < MAX_NR already hold, and SLOT_COUNTERS is a power of two).
            let i = counter_index(abi, nr) & (SLOT_COUNTERS - 1);
            // SAFETY: in bounds (above) of a live map value.
            let counter = unsafe { (*counters).as_mut_ptr().add(i) };
            // SAFETY: as above; a racing CPU of the shard may also see 0 (first_seen keeps the
            // first insert).
            if unsafe { core::ptr::read_volatile(counter) } == 0 {
                first_seen(first_seen_key(slot, i));
            }
            // SAFETY: as above.
            unsafe { atomic_add(counter, 1) };
            // 0 (not captured) is tested here, the kind decoded in `capture`, off the hot path.
            if let Some(entry) = CAPTURE.get(i as u32).copied()
                && entry != 0
            {
                capture(syscall, target.index, abi, i as u32, entry);
            }
        }
        None => lose(Loss::CounterMissing),
    }
}

/// Keep when the counter `key` first moved (on any CPU: the first insert wins).
#[inline(never)]
fn first_seen(key: u32) {
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Err(err) = FIRST_SEEN.insert(&key, &now, u64::from(BPF_NOEXIST)) {
        // Another CPU was first (EEXIST): its time is the earlier one. Anything else: full.
        if err != -EEXIST {
            lose(Loss::FirstSeenFull);
        }
    }
}
