//! The x86_64 facts the kernel side reads: `TS_COMPAT` in `thread_info.status` (which ABI a
//! syscall came in by) and the `struct pt_regs` offsets of the syscall number and arguments.
//! On another architecture the programs would count nonsense, so they do not build there (the
//! collector refuses to record there too). This module is the only place that knows the
//! architecture.

#[cfg(not(bpf_target_arch = "x86_64"))]
compile_error!("sysallow's kernel side reads x86_64 facts (TS_COMPAT, pt_regs offsets) only");

use aya_ebpf::{
    helpers::{bpf_get_current_task_btf, bpf_probe_read_kernel},
    programs::RawTracePointContext,
};
use sysallow_common::{ABI_COMPAT, ABI_NATIVE};

use crate::config::TASK_STATUS_OFFSET;

/// `TS_COMPAT` in `thread_info.status`: set while the task is in a 32-bit syscall
/// (arch/x86/include/asm/thread_info.h; `in_ia32_syscall()`).
const TS_COMPAT: u32 = 0x0002;

/// Offsets in x86_64 `struct pt_regs` (arch/x86/include/asm/ptrace.h) of the registers that
/// carry the first three syscall arguments: di, si, dx natively; bx, cx, dx for i386 (the
/// 32-bit calling convention, arch/x86/entry/entry_32.S).
const REGS_DI: usize = 112;
const REGS_SI: usize = 104;
const REGS_BX: usize = 40;
const REGS_CX: usize = 88;
const REGS_DX: usize = 96;
/// Registers from bx to di, inclusive.
const REGS_SPAN: usize = (REGS_DI - REGS_BX) / 8 + 1;
/// `orig_ax` in x86_64 `struct pt_regs`: the syscall number.
const REGS_ORIG_AX: usize = 120;
/// `ax` in x86_64 `struct pt_regs`: every syscall entry saves -ENOSYS there
/// (arch/x86/entry: `PUSH_AND_CLEAR_REGS rax=$-ENOSYS`) until the syscall returns.
const REGS_AX: usize = 80;
/// include/uapi/asm-generic/errno.h.
const ENOSYS: i64 = 38;

/// Whether the current syscall is a 32-bit one: `TS_COMPAT` in `thread_info.status`, which on
/// x86 is the first member of `task_struct` (CONFIG_THREAD_INFO_IN_TASK). `regs->cs` is not
/// enough: `int 0x80` from a 64-bit process keeps the 64-bit code segment (FIELD-NOTES).
#[inline(always)]
pub fn current_abi() -> Option<u32> {
    // `bpf_get_current_task_btf()` returns a pointer the verifier types as `task_struct` from
    // the kernel's own BTF, so the field can be loaded directly (the verifier checks the
    // offset against the struct's layout at load time): no probe-read helper per syscall.
    // SAFETY: helper call with no arguments.
    let task = unsafe { bpf_get_current_task_btf() } as *const u8;
    if task.is_null() {
        return None;
    }
    // SAFETY: a verifier-checked load of `thread_info.status` from the current task.
    let status: u32 = unsafe {
        core::ptr::read_volatile(task.add(TASK_STATUS_OFFSET.load() as usize) as *const u32)
    };
    Some(if status & TS_COMPAT != 0 {
        ABI_COMPAT
    } else {
        ABI_NATIVE
    })
}

/// The first three arguments of the calling ABI from the syscall's saved registers (a
/// `raw_syscalls` raw tracepoint's first argument), with one probe read of the registers they
/// sit in (bx..di).
#[inline(always)]
pub fn regs_args3(ctx: &RawTracePointContext, abi: u32) -> [u64; 3] {
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: a probe read of the syscall's saved registers, bx (40) to di (112).
    let Ok(r) = (unsafe { bpf_probe_read_kernel(regs.add(REGS_BX) as *const [u64; REGS_SPAN]) })
    else {
        return [u64::MAX; 3];
    };
    let at = |offset: usize| r[(offset - REGS_BX) / 8];
    if abi == ABI_NATIVE {
        [at(REGS_DI), at(REGS_SI), at(REGS_DX)]
    } else {
        [at(REGS_BX), at(REGS_CX), at(REGS_DX)]
    }
}

/// The first two arguments of the calling ABI from the saved registers, one probe read each.
#[inline(always)]
pub fn regs_first_args(ctx: &RawTracePointContext, abi: u32) -> (u64, u64) {
    let regs: *const u8 = ctx.arg(0);
    let (a0, a1) = if abi == ABI_NATIVE {
        (REGS_DI, REGS_SI)
    } else {
        (REGS_BX, REGS_CX)
    };
    let read = |offset: usize| -> u64 {
        // SAFETY: a probe read of the syscall's saved registers.
        unsafe { bpf_probe_read_kernel(regs.add(offset) as *const u64) }.unwrap_or(u64::MAX)
    };
    (read(a0), read(a1))
}

/// The syscall number from the saved registers (`orig_ax`), or -1.
#[inline(always)]
pub fn regs_syscall_nr(ctx: &RawTracePointContext) -> i64 {
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: a probe read of the syscall's saved registers.
    unsafe { bpf_probe_read_kernel(regs.add(REGS_ORIG_AX) as *const i64) }.unwrap_or(-1)
}

/// The syscall the current task is in, as `counter_index(abi, nr)`, or
/// `sysallow_common::caps::NO_SYSCALL` outside one. Read from the task's saved user
/// registers (`bpf_task_pt_regs`): `orig_ax` holds the number during a syscall, but an
/// exception with an error code (a page fault growing the stack, which checks
/// CAP_SYS_ADMIN) keeps its error code there; what tells them apart is `ax`, which every
/// syscall entry sets to -ENOSYS and an exception leaves as the user's value.
#[inline(always)]
pub fn current_syscall() -> u32 {
    use sysallow_common::{MAX_NR, caps::NO_SYSCALL, counter_index};
    // SAFETY: helper calls; the task pointer is the verifier-typed current task.
    let regs = unsafe { aya_ebpf::helpers::generated::bpf_task_pt_regs(bpf_get_current_task_btf()) }
        as *const u8;
    if regs.is_null() {
        return NO_SYSCALL;
    }
    // ax (80) to orig_ax (120), in one probe read.
    const SPAN: usize = (REGS_ORIG_AX - REGS_AX) / 8 + 1;
    // SAFETY: a probe read of the task's saved registers.
    let Ok(r) = (unsafe { bpf_probe_read_kernel(regs.add(REGS_AX) as *const [i64; SPAN]) }) else {
        return NO_SYSCALL;
    };
    let (ax, nr) = (r[0], r[SPAN - 1]);
    if ax != -ENOSYS || nr < 0 || nr >= i64::from(MAX_NR) {
        return NO_SYSCALL;
    }
    let abi = current_abi().unwrap_or(ABI_NATIVE);
    counter_index(abi, nr as u32) as u32
}
