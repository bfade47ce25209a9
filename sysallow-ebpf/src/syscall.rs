//! Where a syscall's number, arguments and return value come from: a raw tracepoint's
//! arguments (the saved registers, see `arch`), or, where raw tracepoints are unavailable, the
//! classic tracepoint's record (offsets from its tracefs `format`, see `config`).
use aya_ebpf::programs::{RawTracePointContext, TracePointContext};

use crate::arch;
use crate::config::{
    SYS_ENTER_ARGS_OFFSET, SYS_ENTER_ID_OFFSET, SYS_EXIT_ID_OFFSET, SYS_EXIT_RET_OFFSET,
};

/// A syscall at entry: `TP_PROTO(struct pt_regs *regs, long id)`
/// (include/trace/events/syscalls.h), or the record `long id; unsigned long args[6]`.
pub enum Syscall<'a> {
    Raw(&'a RawTracePointContext),
    Record(&'a TracePointContext),
}

impl Syscall<'_> {
    #[inline(always)]
    pub fn id(&self) -> i64 {
        match self {
            Syscall::Raw(ctx) => ctx.arg(1),
            // SAFETY: reading a field of the tracepoint record at the offset from its format.
            Syscall::Record(ctx) => {
                unsafe { ctx.read_at::<i64>(SYS_ENTER_ID_OFFSET.load() as usize) }.unwrap_or(-1)
            }
        }
    }

    /// The first three arguments of the calling ABI.
    #[inline(always)]
    pub fn args3(&self, abi: u32) -> [u64; 3] {
        match self {
            Syscall::Raw(ctx) => arch::regs_args3(ctx, abi),
            Syscall::Record(ctx) => {
                let base = SYS_ENTER_ARGS_OFFSET.load() as usize;
                // SAFETY: reading fields of the tracepoint record.
                let read =
                    |i: usize| unsafe { ctx.read_at::<u64>(base + 8 * i) }.unwrap_or(u64::MAX);
                [read(0), read(1), read(2)]
            }
        }
    }

    /// The first two arguments (for the filter-install check; rare, so probe reads are fine).
    pub fn first_args(&self, abi: u32) -> (u64, u64) {
        match self {
            Syscall::Raw(ctx) => arch::regs_first_args(ctx, abi),
            Syscall::Record(ctx) => {
                // The record holds the arguments already fetched for the calling ABI.
                let base = SYS_ENTER_ARGS_OFFSET.load() as usize;
                // SAFETY: reading fields of the tracepoint record.
                let read =
                    |i: usize| unsafe { ctx.read_at::<u64>(base + 8 * i) }.unwrap_or(u64::MAX);
                (read(0), read(1))
            }
        }
    }
}

/// A syscall at exit: `TP_PROTO(struct pt_regs *regs, long ret)` (the number is
/// `regs->orig_ax`), or the record `long id; long ret`.
pub enum SyscallExit<'a> {
    Raw(&'a RawTracePointContext),
    Record(&'a TracePointContext),
}

impl SyscallExit<'_> {
    #[inline(always)]
    pub fn ret(&self) -> i64 {
        match self {
            SyscallExit::Raw(ctx) => ctx.arg(1),
            // SAFETY: reading a field of the tracepoint record at the offset from its format.
            SyscallExit::Record(ctx) => {
                unsafe { ctx.read_at::<i64>(SYS_EXIT_RET_OFFSET.load() as usize) }.unwrap_or(0)
            }
        }
    }

    pub fn id(&self) -> i64 {
        match self {
            SyscallExit::Raw(ctx) => arch::regs_syscall_nr(ctx),
            // SAFETY: reading a field of the tracepoint record at the offset from its format.
            SyscallExit::Record(ctx) => {
                unsafe { ctx.read_at::<i64>(SYS_EXIT_ID_OFFSET.load() as usize) }.unwrap_or(-1)
            }
        }
    }
}
