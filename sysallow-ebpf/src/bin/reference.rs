//! The bench's reference programs (`cargo xtask bench`), in an object of their own so that the
//! one `record` loads carries none of them; loaded only by `sysallow/examples/bench_reference.rs`.
//! Each is attached alone to `raw_syscalls:sys_enter`, so the bench can tell what the
//! tracepoint itself costs from what sysallow's program adds.
#![no_std]
#![no_main]

// Only what the reference programs use, from the modules `record`'s object is built from: the
// same code, not a copy of it.
#[path = "../target/cgroup.rs"]
mod cgroup;
#[path = "../config.rs"]
mod config;

use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};
use cgroup::in_armed_cgroup;

/// A raw tracepoint program with nothing in it.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn reference_empty(_ctx: RawTracePointContext) -> i32 {
    0
}

/// The cgroup test alone, the same code `sys_enter` runs first.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn reference_cgroup_test(_ctx: RawTracePointContext) -> i32 {
    if in_armed_cgroup() { 1 } else { 0 }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
