//! Kernel side of sysallow: counts the syscalls of the armed cgroups, per program and per ABI.
//! This is the object `sysallow record` loads.
//!
//! Nothing crosses to user space per syscall. The collector reads the maps when the recording
//! ends. The hot path (`sys_enter`) runs for every syscall on the machine, so its first act is
//! the cheapest possible test of "is this task a target?", and a task outside every target
//! leaves after one helper call and one compare.
//!
//! The programs below are thin entry points (their names are fixed: the collector attaches
//! them by name); the logic is in the modules, one concern each. The bench's reference
//! programs are another object (`src/bin/reference.rs`), so that this one carries none.
#![no_std]
#![no_main]
// `atomic_xadd`: see `maps::atomic_add`.
#![feature(core_intrinsics)]
#![allow(internal_features)]
// aya-ebpf 0.2's map methods take `impl Borrow<K>`: keys and values are passed by reference,
// as the kernel's helpers take them, so that none is copied again on the 512-byte stack (a
// `ProgramKey` is 260 bytes).
#![expect(
    clippy::needless_borrows_for_generic_args,
    reason = "map keys and values by reference, see above"
)]

mod arch;
mod boundary;
mod capable;
mod capture;
mod config;
mod enter;
mod exit;
mod maps;
mod program;
mod slots;
mod syscall;
mod target;
mod task;

use crate::{
    enter::on_sys_enter,
    exit::on_sys_exit,
    program::on_exec,
    syscall::{Syscall, SyscallExit},
    target::in_armed_cgroup,
    task::{on_process_exit, on_task_newtask, task_slots_changed},
};
use aya_ebpf::{
    macros::{btf_tracepoint, fexit, raw_tracepoint, tracepoint},
    programs::{BtfTracePointContext, FExitContext, RawTracePointContext, TracePointContext},
};

/// `raw_syscalls:sys_enter` as a raw tracepoint: the cheapest attach (no record is built).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    on_sys_enter(&Syscall::Raw(&ctx));
    0
}

/// `raw_syscalls:sys_enter` as a classic tracepoint: the fallback.
#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter_tp(ctx: TracePointContext) -> u32 {
    on_sys_enter(&Syscall::Record(&ctx));
    0
}

/// `raw_syscalls:sys_exit` (`TP_PROTO(struct pt_regs *regs, long ret)`), attached only when
/// failures are recorded: every task on the machine runs it at every syscall's exit.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    on_sys_exit(&SyscallExit::Raw(&ctx));
    0
}

/// `raw_syscalls:sys_exit` as a classic tracepoint: the fallback.
#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn sys_exit_tp(ctx: TracePointContext) -> u32 {
    on_sys_exit(&SyscallExit::Record(&ctx));
    0
}

/// `sched:sched_process_exec`: the current task now runs a new program.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    on_exec(&ctx);
    0
}

/// `task:task_newtask`: a followed task forked.
#[tracepoint(category = "task", name = "task_newtask")]
pub fn task_newtask(ctx: TracePointContext) -> u32 {
    on_task_newtask(&ctx);
    0
}

/// `sched:sched_process_exit`: a task ends.
#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    if let Some(tgid) = on_process_exit(&ctx)
        && in_armed_cgroup()
    {
        boundary::forget(tgid);
        // Answers cached by process (`target`) are stale: the pid may come back elsewhere.
        task_slots_changed();
    }
    0
}

/// `cgroup:cgroup_attach_task`: a task moved to another cgroup, so answers cached by process
/// (`target`) are stale. Rare (a container's runtime joining its cgroup, a service manager).
#[tracepoint(category = "cgroup", name = "cgroup_attach_task")]
pub fn cgroup_attach_task(_ctx: TracePointContext) -> u32 {
    task_slots_changed();
    0
}

/// `fexit/cap_capable` (`cred, target_ns, cap, opts` and the result): every capability
/// decision, with the caller's NOAUDIT bit. Loaded where the kernel accepts fexit.
#[fexit(function = "cap_capable")]
pub fn cap_capable_fexit(ctx: FExitContext) -> i32 {
    capable::on_cap_check(&capable::Check {
        cred: ctx.arg(0),
        target_ns: ctx.arg(1),
        cap: ctx.arg(2),
        opts: Some(ctx.arg(3)),
        ret: ctx.arg(4),
    });
    0
}

/// `capability:cap_capable` as `tp_btf` (`cred, target_ns, capable_ns, cap, ret`; no `opts`):
/// the fallback where fexit is refused.
#[btf_tracepoint(function = "cap_capable")]
pub fn cap_capable_tp(ctx: BtfTracePointContext) -> i32 {
    capable::on_cap_check(&capable::Check {
        cred: ctx.arg(0),
        target_ns: ctx.arg(1),
        cap: ctx.arg(3),
        ret: ctx.arg(4),
        opts: None,
    });
    0
}

/// `sched_process_exec` as `tp_btf` (`p, old_pid, bprm`): the credentials an exec gave,
/// with the `linux_binprm` (its file, for the setuid test). Loaded with the capability hook.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn exec_creds(ctx: BtfTracePointContext) -> i32 {
    capable::on_exec(ctx.arg(2));
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
