//! Program slots: one per distinct (target, executable path), given to a process at exec.
use aya_ebpf::{
    EbpfContext, bindings::BPF_NOEXIST, helpers::bpf_probe_read_kernel_str_bytes,
    programs::TracePointContext,
};
use sysallow_common::{Loss, PATH_LEN, TARGET_BOUNDARY, TargetInfo, task_entry};

use crate::config::EXEC_FILENAME_OFFSET;
use crate::maps::{PROGRAM_SLOTS, SCRATCH, TASK_SLOT, lose};
use crate::slots::{claim_slot, free_slot};
use crate::target::current_target;
use crate::task::{current_tgid, set_current};

/// `sched:sched_process_exec`: the current task now runs a new program. Give it the slot of
/// that program within its target, assigning a new slot for a path not seen before.
#[inline(always)]
pub fn on_exec(ctx: &TracePointContext) {
    let Some(target) = current_target() else {
        return;
    };
    let slot = program_slot(ctx, &target).unwrap_or(target.base_slot);
    // Past an exec, a container's process runs its entrypoint: the workload (also the
    // fallback boundary when the container runs without a filter). An exec from a file
    // descriptor is not an entrypoint: it is the runtime re-executing itself (runc 1.1 copies
    // its binary to a memfd and fexecve()s it early in `runc init`, libcontainer/nsenter/
    // cloned_binary.c), so it keeps the process's state.
    // SAFETY: the value is copied out at once.
    let armed = unsafe { TASK_SLOT.get(&current_tgid()) }
        .is_some_and(|v| sysallow_common::task_entry_armed(*v));
    set_current(task_entry(
        slot,
        target.flags & TARGET_BOUNDARY != 0 && (armed || !exec_from_fd()),
    ));
}

/// Whether the path just exec'd (left in the scratch key by `program_slot`) names a file
/// descriptor: `fexecve`/`execveat(fd, "", AT_EMPTY_PATH)` execs show as `/dev/fd/N`
/// (fs/exec.c, alloc_bprm), and `/proc/self/fd/N` is the other way to spell it.
fn exec_from_fd() -> bool {
    let Some(key) = SCRATCH.get_ptr(0) else {
        return false;
    };
    // SAFETY: the per-CPU scratch entry, filled by `program_slot` in this same program run.
    let path = unsafe { &(*key).path };
    path.starts_with(b"/dev/fd/") || path.starts_with(b"/proc/self/fd/")
}

fn program_slot(ctx: &TracePointContext, target: &TargetInfo) -> Option<u32> {
    let key = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: the per-CPU scratch entry is ours for the duration of this program.
    let key = unsafe { &mut *key };
    key.target = target.index;
    key.path = [0; PATH_LEN];
    // `__data_loc char[] filename`: the low 16 bits are the offset of the string from the start
    // of the record, the high 16 bits its length (include/linux/trace_events.h).
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let loc: u32 = unsafe { ctx.read_at(EXEC_FILENAME_OFFSET.load() as usize) }.ok()?;
    let (offset, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
    if len > key.path.len() {
        lose(Loss::PathTruncated);
    }
    // SAFETY: the string lies inside the tracepoint record.
    let src = unsafe { (ctx.as_ptr() as *const u8).add(offset) };
    // SAFETY: reads at most `key.path.len()` bytes into our buffer.
    unsafe { bpf_probe_read_kernel_str_bytes(src, &mut key.path) }.ok()?;

    // SAFETY: the value is copied out at once.
    if let Some(slot) = unsafe { PROGRAM_SLOTS.get(&*key) } {
        return Some(*slot);
    }
    let slot = claim_slot()?;
    if PROGRAM_SLOTS
        .insert(&*key, &slot, u64::from(BPF_NOEXIST))
        .is_err()
    {
        // Another CPU assigned this path a slot first; give ours back and take theirs.
        free_slot(slot);
        // SAFETY: the value is copied out at once.
        return unsafe { PROGRAM_SLOTS.get(&*key) }.copied();
    }
    Some(slot)
}
