//! Which processes are followed, and under which program slot: `TASK_SLOT` by tgid, kept
//! current at fork (`task_newtask`) and exit (`sched_process_exit`), read on the hot path
//! through a per-CPU cache.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, programs::TracePointContext};
use sysallow_common::Loss;

use crate::config::{EXIT_GROUP_DEAD_OFFSET, NEWTASK_FLAGS_OFFSET, NEWTASK_PID_OFFSET};
use crate::maps::{TASK_CACHE, TASK_GEN, TASK_SLOT, TaskCache, cache_generation, lose};

/// A cached "no entry" (slot values are small, with at most `TASK_ARMED` set).
const NO_TASK: u32 = u32::MAX;

/// include/uapi/linux/sched.h.
const CLONE_THREAD: u64 = 0x0001_0000;

#[inline(always)]
pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// `TASK_SLOT[tgid]`, through the per-CPU cache.
#[inline(always)]
pub fn task_value(tgid: u32) -> Option<u32> {
    let Some(generation) = cache_generation() else {
        // SAFETY: the value is copied out at once.
        return unsafe { TASK_SLOT.get(&tgid) }.copied();
    };
    let Some(cache) = TASK_CACHE.get_ptr_mut(0) else {
        // SAFETY: the value is copied out at once.
        return unsafe { TASK_SLOT.get(&tgid) }.copied();
    };
    // SAFETY: this CPU's cache entry; this program does not nest with itself on one CPU.
    let cache = unsafe { &mut *cache };
    if cache.tgid == tgid && cache.generation == generation {
        return (cache.value != NO_TASK).then_some(cache.value);
    }
    // SAFETY: the value is copied out at once.
    let value = unsafe { TASK_SLOT.get(&tgid) }.copied();
    *cache = TaskCache {
        generation,
        tgid,
        value: value.unwrap_or(NO_TASK),
    };
    value
}

/// After changing `TASK_SLOT`: invalidate every CPU's cached entry.
#[inline(always)]
pub fn task_slots_changed() {
    if let Some(g) = TASK_GEN.get_ptr_mut(0) {
        // SAFETY: a live array element. Racing bumps may lose an increment, but the value
        // still changes, which is all a reader compares.
        unsafe { *g += 1 };
    }
}

/// Set the current process's `TASK_SLOT` entry.
#[inline(always)]
pub fn set_current(entry: u32) {
    if TASK_SLOT.insert(&current_tgid(), &entry, 0).is_err() {
        lose(Loss::TaskMapFull);
    }
    task_slots_changed();
}

/// `task:task_newtask`, run in the parent (kernel/fork.c, copy_process): a new process forked
/// by a followed task inherits its program slot. A new thread needs no entry of its own:
/// tasks are looked up by their process (tgid), so `CLONE_THREAD` children are skipped.
#[inline(always)]
pub fn on_task_newtask(ctx: &TracePointContext) {
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let Ok(flags) = (unsafe { ctx.read_at::<u64>(NEWTASK_FLAGS_OFFSET.load() as usize) }) else {
        return;
    };
    if flags & CLONE_THREAD != 0 {
        return;
    }
    // SAFETY: the value is copied out at once.
    let Some(slot) = (unsafe { TASK_SLOT.get(&current_tgid()) }).copied() else {
        return;
    };
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let Ok(child) = (unsafe { ctx.read_at::<i32>(NEWTASK_PID_OFFSET.load() as usize) }) else {
        return;
    };
    if TASK_SLOT.insert(&(child as u32), &slot, 0).is_err() {
        lose(Loss::TaskMapFull);
    }
    // A CPU may hold a cached "no entry" for this pid from an earlier process that had it.
    task_slots_changed();
}

/// `sched:sched_process_exit`: forget a process that ends, so the task map only holds live
/// ones. Its tgid if the process ended (its last thread did).
#[inline(always)]
pub fn on_process_exit(ctx: &TracePointContext) -> Option<u32> {
    // Threads have no entry of their own (see `on_task_newtask`): the process's goes with the
    // last of its threads, whichever that is (`group_dead`). Not only with the leader: when a
    // Go program exits, another thread is often the last, and an entry kept past that would
    // wrongly describe the next process given the same pid (pid_max is 32768 here; Podman's
    // runc containers then had their runtime set-up counted as workload, measured).
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let group_dead = unsafe { ctx.read_at::<u8>(EXIT_GROUP_DEAD_OFFSET.load() as usize) };
    if !matches!(group_dead, Ok(1)) {
        return None;
    }
    let tgid = current_tgid();
    if TASK_SLOT.remove(&tgid).is_ok() {
        task_slots_changed();
    }
    Some(tgid)
}
