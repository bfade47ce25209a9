//! Argument capture: the distinct values of one argument of chosen syscalls (which, and how:
//! `ArgKind` in the `CAPTURE` map), kept in bounded sets per (target, ABI, syscall).
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_probe_read_user};
use sysallow_common::{
    ABI_NATIVE, ARG_OVERFLOW, ArgKey, ArgKind, Loss, MAX_ARG_VALUES, arg_set_key,
};

use crate::maps::{ARG_SETS, ARG_VALUES, EEXIST, LAST_CAPTURE, lose};
use crate::syscall::Syscall;

/// include/uapi/asm-generic/fcntl.h (SOCK_* are O_NONBLOCK, O_CLOEXEC) and
/// include/uapi/asm-generic/mman-common.h.
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: u64 = 0o2000000;
const PROT_WRITE: u64 = 0x2;
const PROT_EXEC: u64 = 0x4;

/// Keep the value of the captured argument of this syscall in its bounded set; `entry` is the
/// syscall's nonzero `CAPTURE` element.
#[inline(never)]
pub fn capture(syscall: &Syscall<'_>, target: u32, abi: u32, counter: u32, entry: u32) {
    let set = arg_set_key(target, counter);
    let value = ArgKind::from_capture_entry(entry).and_then(|kind| arg_value(syscall, abi, kind));
    let Some(value) = value else {
        // Unreadable (clone3's struct was not paged in), or a kind this object does not know:
        // the set cannot be complete.
        if ARG_SETS.insert(&set, &ARG_OVERFLOW, 0).is_err() {
            lose(Loss::ArgMapFull);
        }
        return;
    };
    let key = ArgKey {
        target,
        counter,
        value,
    };
    let last = LAST_CAPTURE.get_ptr_mut(0);
    if let Some(last) = last {
        // SAFETY: this CPU's entry; this program does not nest with itself on one CPU.
        let last = unsafe { &mut *last };
        if last.target == key.target && last.counter == key.counter && last.value == key.value {
            return;
        }
    }
    // SAFETY: only checks presence. A value already seen is the common case: one lookup.
    if unsafe { ARG_VALUES.get(&key) }.is_some() {
        remember(last, key);
        return;
    }
    // SAFETY: the value is copied out at once.
    let count = unsafe { ARG_SETS.get(&set) }.copied().unwrap_or(0);
    if count == ARG_OVERFLOW {
        return;
    }
    if count >= MAX_ARG_VALUES {
        if ARG_SETS.insert(&set, &ARG_OVERFLOW, 0).is_err() {
            lose(Loss::ArgMapFull);
        }
        return;
    }
    match ARG_VALUES.insert(&key, &1, u64::from(BPF_NOEXIST)) {
        // Racing CPUs may both count a new value: the bound is approximate, never too small.
        Ok(()) => {
            if ARG_SETS.insert(&set, &(count + 1), 0).is_err() {
                lose(Loss::ArgMapFull);
            } else {
                remember(last, key);
            }
        }
        Err(err) if err == -EEXIST => remember(last, key),
        Err(_) => lose(Loss::ArgMapFull),
    }
}

/// Keep `key` as this CPU's last captured value (only once it is in `ARG_VALUES`).
#[inline(always)]
fn remember(last: Option<*mut ArgKey>, key: ArgKey) {
    if let Some(last) = last {
        // SAFETY: this CPU's entry; this program does not nest with itself on one CPU.
        unsafe { *last = key };
    }
}

/// The value of a captured argument (see `ArgKind`); i386 arguments are 32-bit.
#[inline(always)]
fn arg_value(syscall: &Syscall<'_>, abi: u32, kind: ArgKind) -> Option<u64> {
    let width = if abi == ABI_NATIVE {
        u64::MAX
    } else {
        0xffff_ffff
    };
    let args = syscall.args3(abi);
    let arg = |i: usize| args[i] & width;
    Some(match kind {
        ArgKind::Arg0 => arg(0),
        ArgKind::Arg1 => arg(1),
        ArgKind::Socket => {
            ((arg(0) & 0xffff_ffff) << 32)
                | (arg(1) & 0xffff_ffff & !(SOCK_NONBLOCK | SOCK_CLOEXEC))
        }
        ArgKind::Prot => arg(2) & (PROT_WRITE | PROT_EXEC),
        ArgKind::Setsockopt => ((arg(1) & 0xffff_ffff) << 32) | (arg(2) & 0xffff_ffff),
        ArgKind::Clone3Flags => {
            let ptr = arg(0) as *const u64;
            // SAFETY: a probe read of user memory; a fault is an error, not a crash.
            unsafe { bpf_probe_read_user(ptr) }.ok()?
        }
    })
}
