//! Kernel side of sysallow: counts the syscalls of the armed cgroups, per program and per ABI.
//!
//! Nothing crosses to user space per syscall. The collector reads the maps when the recording
//! ends. The hot path (`sys_enter`) runs for every syscall on the machine, so its first act is
//! the cheapest possible test of "is this task a target?", and a task outside every target
//! leaves after one helper call and one hash lookup.
#![no_std]
#![no_main]
// `atomic_xadd`: see `atomic_add`.
#![feature(core_intrinsics)]
#![allow(internal_features)]

// TS_COMPAT in `thread_info.status`, the `pt_regs` offsets of the syscall arguments and the
// i386 compat ABI are x86_64 facts: on another architecture this program would count
// nonsense, so it does not build there (the collector refuses to record there too).
#[cfg(not(bpf_target_arch = "x86_64"))]
compile_error!("sysallow's kernel side reads x86_64 facts (TS_COMPAT, pt_regs offsets) only");

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task_btf, bpf_get_smp_processor_id,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes,
        bpf_probe_read_user, generated::bpf_get_current_ancestor_cgroup_id,
    },
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuArray},
    programs::{RawTracePointContext, TracePointContext},
};
use sysallow_common::{
    ABI_COMPAT, ABI_NATIVE, ARG_OVERFLOW, ARG_SETS_MAX, ARG_VALUES_MAX, ArgKey, ArgKind, ExitFacts,
    FIRST_SEEN_MAX, LOSS_KINDS, Loss, MAX_ARG_VALUES, MAX_NR, MAX_SLOTS, MAX_TARGETS, MAX_TASKS,
    ProgramKey, ROOT_BASE_SLOT, ROOT_SETUP_SLOT, SLOT_COUNTERS, SlotCounters, TARGET_BOUNDARY,
    TARGET_CHILD, TARGET_SPLIT, TASK_ARMED, TS_COMPAT, TargetInfo, arg_set_key, counter_index,
    counts_index, first_seen_key,
};

// Load-time configuration; the collector overrides every one of these (see
// `sysallow_common::globals`). The defaults are Linux 6.18's layout.
#[unsafe(no_mangle)]
static TARGET_LEVEL: u32 = 0;
/// The armed cgroup's id and `TARGET_*` flags. A session arms one cgroup, known before the
/// programs load, so the test every syscall on the machine pays is one compare with a
/// constant (the verifier sees the frozen value) instead of a map lookup.
#[unsafe(no_mangle)]
static TARGET_CGROUP: u64 = 0;
#[unsafe(no_mangle)]
static TARGET_FLAGS: u32 = 0;
/// `counter_shards(possible CPUs)`: a power of two.
#[unsafe(no_mangle)]
static COUNTER_SHARDS: u32 = 1;
#[unsafe(no_mangle)]
static NEWTASK_PID_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static NEWTASK_FLAGS_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static EXEC_FILENAME_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static EXIT_GROUP_DEAD_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static TASK_STATUS_OFFSET: u32 = 16;
// Field offsets of the classic `raw_syscalls` tracepoint records, the fallback attach when raw
// tracepoints are unavailable (from their tracefs `format`).
#[unsafe(no_mangle)]
static SYS_ENTER_ID_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static SYS_ENTER_ARGS_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static SYS_EXIT_RET_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static SYS_EXIT_ID_OFFSET: u32 = 8;
// x86_64 and i386 numbers of the syscalls that install a seccomp filter.
#[unsafe(no_mangle)]
static NR_SECCOMP: u32 = 317;
#[unsafe(no_mangle)]
static NR_PRCTL: u32 = 157;
#[unsafe(no_mangle)]
static NR_SECCOMP_COMPAT: u32 = 354;
#[unsafe(no_mangle)]
static NR_PRCTL_COMPAT: u32 = 172;

#[inline(always)]
fn global(value: &'static u32) -> u32 {
    // SAFETY: a plain read of a `.rodata` global; volatile so the compiler does not fold in the
    // default value that the loader replaces.
    unsafe { core::ptr::read_volatile(value) }
}

/// `*counter += n` with the BPF atomic add (`lock xadd` before BPF v3): CPUs share counters.
/// The BPF target has no atomic read-modify-write in `core::sync::atomic` (no compare and
/// swap), so the intrinsic; its result is unused, which every BPF CPU version supports.
#[inline(always)]
fn atomic_add(counter: *mut u64, n: u64) {
    // SAFETY: callers pass a pointer into a live map value.
    unsafe {
        core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
            counter, n,
        );
    }
}

/// Targets created for the child cgroups of a split target (containers under a parent), keyed
/// by cgroup v2 id.
#[map(name = "TARGETS")]
static TARGETS: HashMap<u64, TargetInfo> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// Program slot of each followed process, with `TASK_ARMED` once it is past the runtime
/// boundary (key: tgid; its threads share it; removed when the last thread exits).
#[map(name = "TASK_SLOT")]
static TASK_SLOT: HashMap<u32, u32> = HashMap::with_max_entries(MAX_TASKS, 0);

/// Per CPU, the last task looked up in `TASK_SLOT`: a syscall-heavy task hits it almost
/// every time, which saves a hash lookup on the hot path. Valid while `TASK_GEN` is unchanged.
#[map(name = "TASK_CACHE")]
static TASK_CACHE: PerCpuArray<TaskCache> = PerCpuArray::with_max_entries(1, 0);

/// Bumped after every change to `TASK_SLOT` (writers change the entry first, then bump;
/// readers read the generation first), so no CPU keeps using a stale cached entry.
#[map(name = "TASK_GEN")]
static TASK_GEN: Array<u64> = Array::with_max_entries(1, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct TaskCache {
    generation: u64,
    tgid: u32,
    /// The `TASK_SLOT` value, or `NO_TASK`.
    value: u32,
}

/// A cached "no entry" (slot values are small, with at most `TASK_ARMED` set).
const NO_TASK: u32 = u32::MAX;

/// `TASK_SLOT[tgid]`, through the per-CPU cache.
#[inline(always)]
fn task_value(tgid: u32) -> Option<u32> {
    let generation = match TASK_GEN.get_ptr(0) {
        // SAFETY: a live array element; a torn read only causes a miss.
        Some(g) => unsafe { core::ptr::read_volatile(g) },
        None => return unsafe { TASK_SLOT.get(&tgid) }.copied(),
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
fn task_slots_changed() {
    if let Some(g) = TASK_GEN.get_ptr_mut(0) {
        // SAFETY: a live array element. Racing bumps may lose an increment, but the value
        // still changes, which is all a reader compares.
        unsafe { *g += 1 };
    }
}

/// Slot of each distinct (target, executable path).
#[map(name = "PROGRAM_SLOTS")]
static PROGRAM_SLOTS: HashMap<ProgramKey, u32> = HashMap::with_max_entries(MAX_SLOTS, 0);

/// Next free slot; the collector sets it past the slots it reserved.
#[map(name = "NEXT_SLOT")]
static NEXT_SLOT: Array<u32> = Array::with_max_entries(1, 0);

/// Slots taken (value unused): the atomic claim of a slot, see `claim_slot`.
#[map(name = "SLOTS_TAKEN")]
static SLOTS_TAKEN: HashMap<u32, u8> = HashMap::with_max_entries(MAX_SLOTS, 0);

/// Execs racing for a new slot at the same moment that `claim_slot` tolerates.
const CLAIM_TRIES: u32 = 16;

/// Counters: (shard, slot) x ABI x syscall number, at `counts_index`. A CPU counts in shard
/// `cpu & (COUNTER_SHARDS - 1)` with an atomic add (see `MAX_COUNTER_SHARDS`); the loader
/// sizes the map to `COUNTER_SHARDS` x `MAX_SLOTS`.
#[map(name = "COUNTS")]
static COUNTS: Array<SlotCounters> = Array::with_max_entries(MAX_SLOTS, 0);

/// When each (slot, ABI, syscall) was first made, in `bpf_ktime_get_ns` (CLOCK_MONOTONIC)
/// nanoseconds, keyed by `first_seen_key`. Written only on a shard's counter's 0 -> 1 step, so
/// a syscall already counted in this CPU's shard pays nothing for it; the first insert wins.
#[map(name = "FIRST_SEEN")]
static FIRST_SEEN: HashMap<u32, u64> = HashMap::with_max_entries(FIRST_SEEN_MAX, 0);

/// Which syscalls have an argument captured, and how: `ArgKind` + 1 (0: none), indexed by
/// `counter_index(abi, nr)`. An array lookup, which the verifier inlines: a syscall without a
/// captured argument pays one load for it.
#[map(name = "CAPTURE")]
static CAPTURE: Array<u32> = Array::with_max_entries(SLOT_COUNTERS as u32, 0);

/// The distinct values seen of each captured argument (value unused).
#[map(name = "ARG_VALUES")]
static ARG_VALUES: HashMap<ArgKey, u8> = HashMap::with_max_entries(ARG_VALUES_MAX, 0);

/// Per CPU, the last value kept: a loop that makes the same call again and again (the common
/// case) pays one compare instead of a hash lookup.
#[map(name = "LAST_CAPTURE")]
static LAST_CAPTURE: PerCpuArray<ArgKey> = PerCpuArray::with_max_entries(1, 0);

/// How many distinct values each (target, ABI, syscall) has, or `ARG_OVERFLOW`.
#[map(name = "ARG_SETS")]
static ARG_SETS: HashMap<u64, u32> = HashMap::with_max_entries(ARG_SETS_MAX, 0);

/// How syscalls failed with EPERM or ENOSYS, per (target, ABI, syscall) (see `ExitFacts`).
#[map(name = "EXIT_FACTS")]
static EXIT_FACTS: HashMap<u64, ExitFacts> = HashMap::with_max_entries(ARG_SETS_MAX, 0);

/// What could not be recorded, by `Loss`.
#[map(name = "LOSSES")]
static LOSSES: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOSS_KINDS, 0);

/// Threads inside a seccomp filter install (`seccomp(SECCOMP_SET_MODE_FILTER)` or
/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`), keyed by tid; `sys_exit` arms their process
/// if the call succeeded.
#[map(name = "PENDING_FILTER")]
static PENDING_FILTER: HashMap<u32, u32> = HashMap::with_max_entries(1024, 0);

/// Scratch space for building a `ProgramKey` (too large for the 512-byte BPF stack with room
/// to spare).
#[map(name = "SCRATCH")]
static SCRATCH: PerCpuArray<ProgramKey> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn lose(kind: Loss) {
    if let Some(counter) = LOSSES.get_ptr_mut(kind as u32) {
        // SAFETY: a per-CPU slot; BPF programs do not preempt each other on one CPU for the
        // same program type, and a lost increment here would only under-count a loss.
        unsafe { *counter += 1 };
    }
}

/// Whether the current task is in the armed cgroup or below it: the test every syscall on the
/// machine pays.
#[inline(always)]
fn in_armed_cgroup() -> bool {
    let level = global(&TARGET_LEVEL) as i32;
    // SAFETY: helper call with no pointer arguments.
    let cgroup = unsafe { bpf_get_current_ancestor_cgroup_id(level) };
    // SAFETY: a plain read of a `.rodata` global (see `global`).
    cgroup == unsafe { core::ptr::read_volatile(&TARGET_CGROUP) }
}

/// The target the current task belongs to, if any: its cgroup's ancestor at the armed level.
/// A task in a sub-cgroup of a target (systemd scopes, containers under a parent) is found by
/// the same lookup.
#[inline(always)]
fn current_target() -> Option<TargetInfo> {
    if !in_armed_cgroup() {
        return None;
    }
    let level = global(&TARGET_LEVEL) as i32;
    let target = TargetInfo {
        index: ROOT_BASE_SLOT,
        base_slot: ROOT_BASE_SLOT,
        setup_slot: ROOT_SETUP_SLOT,
        flags: global(&TARGET_FLAGS),
    };
    if target.flags & TARGET_SPLIT == 0 {
        return Some(target);
    }
    // A parent armed before its containers existed: the child cgroup one level down is the
    // container. 0 means the task sits in the parent itself.
    // SAFETY: helper call with no pointer arguments.
    let child = unsafe { bpf_get_current_ancestor_cgroup_id(level + 1) };
    if child == 0 {
        return Some(target);
    }
    // SAFETY: the value is copied out at once.
    if let Some(existing) = unsafe { TARGETS.get(&child) } {
        return Some(*existing);
    }
    Some(new_child_target(child, &target).unwrap_or(target))
}

/// Make child cgroup `child` of split target `parent` a target of its own, at its first
/// syscall, so that nothing of a container's start is lost to a user-space race.
#[inline(never)]
fn new_child_target(child: u64, parent: &TargetInfo) -> Option<TargetInfo> {
    let (Some(base), Some(setup)) = (claim_slot(), claim_slot()) else {
        lose(Loss::TargetsFull);
        return None;
    };
    let info = TargetInfo {
        index: base,
        base_slot: base,
        setup_slot: setup,
        flags: (parent.flags & TARGET_BOUNDARY) | TARGET_CHILD,
    };
    if TARGETS
        .insert(&child, &info, u64::from(BPF_NOEXIST))
        .is_err()
    {
        // Another CPU created it first (our two slots stay unused), or the map is full.
        // SAFETY: the value is copied out at once.
        return match unsafe { TARGETS.get(&child) } {
            Some(existing) => Some(*existing),
            None => {
                lose(Loss::TargetsFull);
                None
            }
        };
    }
    Some(info)
}

#[inline(always)]
fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

#[inline(always)]
fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

/// Whether the current syscall is a 32-bit one: `TS_COMPAT` in `thread_info.status`, which on
/// x86 is the first member of `task_struct` (CONFIG_THREAD_INFO_IN_TASK). `regs->cs` is not
/// enough: `int 0x80` from a 64-bit process keeps the 64-bit code segment (FIELD-NOTES).
#[inline(always)]
fn current_abi() -> Result<u32, ()> {
    // `bpf_get_current_task_btf()` returns a pointer the verifier types as `task_struct` from
    // the kernel's own BTF, so the field can be loaded directly (the verifier checks the
    // offset against the struct's layout at load time): no probe-read helper per syscall.
    // SAFETY: helper call with no arguments.
    let task = unsafe { bpf_get_current_task_btf() } as *const u8;
    if task.is_null() {
        return Err(());
    }
    // SAFETY: a verifier-checked load of `thread_info.status` from the current task.
    let status: u32 = unsafe {
        core::ptr::read_volatile(task.add(global(&TASK_STATUS_OFFSET) as usize) as *const u32)
    };
    Ok(if status & TS_COMPAT != 0 {
        ABI_COMPAT
    } else {
        ABI_NATIVE
    })
}

/// Where a syscall's number and first arguments come from: a raw tracepoint's
/// `TP_PROTO(struct pt_regs *regs, long id)` (include/trace/events/syscalls.h), or, where raw
/// tracepoints are unavailable, the classic tracepoint's record (`long id; unsigned long
/// args[6]`, offsets from its tracefs `format`).
enum Syscall<'a> {
    Raw(&'a RawTracePointContext),
    Record(&'a TracePointContext),
}

impl Syscall<'_> {
    #[inline(always)]
    fn id(&self) -> i64 {
        match self {
            Syscall::Raw(ctx) => ctx.arg(1),
            // SAFETY: reading a field of the tracepoint record at the offset from its format.
            Syscall::Record(ctx) => {
                unsafe { ctx.read_at::<i64>(global(&SYS_ENTER_ID_OFFSET) as usize) }.unwrap_or(-1)
            }
        }
    }

    /// The first three arguments of the calling ABI, with one probe read of the saved
    /// registers they sit in (bx..di in `pt_regs`: di, si, dx natively; bx, cx, dx for i386).
    #[inline(always)]
    fn args3(&self, abi: u32) -> [u64; 3] {
        match self {
            Syscall::Raw(ctx) => {
                let regs: *const u8 = ctx.arg(0);
                // SAFETY: a probe read of the syscall's saved registers, bx (40) to di (112).
                let Ok(r) = (unsafe {
                    bpf_probe_read_kernel(regs.add(REGS_BX) as *const [u64; REGS_SPAN])
                }) else {
                    return [u64::MAX; 3];
                };
                let at = |offset: usize| r[(offset - REGS_BX) / 8];
                if abi == ABI_NATIVE {
                    [at(REGS_DI), at(REGS_SI), at(REGS_DX)]
                } else {
                    [at(REGS_BX), at(REGS_CX), at(REGS_DX)]
                }
            }
            Syscall::Record(ctx) => {
                let base = global(&SYS_ENTER_ARGS_OFFSET) as usize;
                // SAFETY: reading fields of the tracepoint record.
                let read =
                    |i: usize| unsafe { ctx.read_at::<u64>(base + 8 * i) }.unwrap_or(u64::MAX);
                [read(0), read(1), read(2)]
            }
        }
    }

    /// The first two arguments (for the filter-install check; rare, so probe reads are fine).
    fn first_args(&self, abi: u32) -> (u64, u64) {
        match self {
            Syscall::Raw(ctx) => {
                let regs: *const u8 = ctx.arg(0);
                let (a0, a1) = if abi == ABI_NATIVE {
                    (REGS_DI, REGS_SI)
                } else {
                    (REGS_BX, REGS_CX)
                };
                let read = |offset: usize| -> u64 {
                    // SAFETY: a probe read of the syscall's saved registers.
                    unsafe { bpf_probe_read_kernel(regs.add(offset) as *const u64) }
                        .unwrap_or(u64::MAX)
                };
                (read(a0), read(a1))
            }
            Syscall::Record(ctx) => {
                // The record holds the arguments already fetched for the calling ABI.
                let base = global(&SYS_ENTER_ARGS_OFFSET) as usize;
                // SAFETY: reading fields of the tracepoint record.
                let read =
                    |i: usize| unsafe { ctx.read_at::<u64>(base + 8 * i) }.unwrap_or(u64::MAX);
                (read(0), read(1))
            }
        }
    }
}

/// `raw_syscalls:sys_enter` as a raw tracepoint: the cheapest attach (no record is built).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    on_sys_enter(&Syscall::Raw(&ctx));
    0
}

/// The bench's reference (`cargo xtask bench`): what a raw tracepoint program costs with
/// nothing in it. `record` never loads it.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn reference_empty(_ctx: RawTracePointContext) -> i32 {
    0
}

/// The bench's reference: the cgroup test alone, the same code `sys_enter` runs first. `record`
/// never loads it.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn reference_cgroup_test(_ctx: RawTracePointContext) -> i32 {
    if in_armed_cgroup() { 1 } else { 0 }
}

/// `raw_syscalls:sys_enter` as a classic tracepoint: the fallback.
#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter_tp(ctx: TracePointContext) -> u32 {
    on_sys_enter(&Syscall::Record(&ctx));
    0
}

#[inline(always)]
fn on_sys_enter(syscall: &Syscall<'_>) {
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
        Ok(abi) => abi,
        Err(()) => {
            lose(Loss::AbiUnknown);
            ABI_NATIVE
        }
    };
    let slot = if target.flags & TARGET_BOUNDARY == 0 {
        task.map_or(target.base_slot, |v| v & !TASK_ARMED)
    } else {
        match task {
            Some(v) if v & TASK_ARMED != 0 => v & !TASK_ARMED,
            _ => {
                if installs_filter(syscall, abi, nr) {
                    let _ = PENDING_FILTER.insert(&current_tid(), &target.base_slot, 0);
                }
                target.setup_slot
            }
        }
    };
    // SAFETY: helper call with no arguments.
    let shard = unsafe { bpf_get_smp_processor_id() } & (global(&COUNTER_SHARDS) - 1);
    match COUNTS.get_ptr_mut(counts_index(shard, slot)) {
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
            atomic_add(counter, 1);
            if let Some(kind) = CAPTURE.get(i as u32).copied()
                && kind != 0
            {
                capture(syscall, target.index, abi, i as u32, kind - 1);
            }
        }
        None => lose(Loss::CounterMissing),
    }
}

/// Keep the value of the captured argument of this syscall in its bounded set.
#[inline(never)]
fn capture(syscall: &Syscall<'_>, target: u32, abi: u32, counter: u32, kind: u32) {
    let set = arg_set_key(target, counter);
    let Some(value) = arg_value(syscall, abi, kind) else {
        // Unreadable (clone3's struct was not paged in): the set cannot be complete.
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
fn arg_value(syscall: &Syscall<'_>, abi: u32, kind: u32) -> Option<u64> {
    let width = if abi == ABI_NATIVE {
        u64::MAX
    } else {
        0xffff_ffff
    };
    let args = syscall.args3(abi);
    let arg = |i: usize| args[i] & width;
    Some(match kind {
        k if k == ArgKind::Arg0 as u32 => arg(0),
        k if k == ArgKind::Arg1 as u32 => arg(1),
        k if k == ArgKind::Socket as u32 => {
            ((arg(0) & 0xffff_ffff) << 32)
                | (arg(1) & 0xffff_ffff & !(SOCK_NONBLOCK | SOCK_CLOEXEC))
        }
        k if k == ArgKind::Prot as u32 => arg(2) & (PROT_WRITE | PROT_EXEC),
        k if k == ArgKind::Setsockopt as u32 => {
            ((arg(1) & 0xffff_ffff) << 32) | (arg(2) & 0xffff_ffff)
        }
        k if k == ArgKind::Clone3Flags as u32 => {
            let ptr = arg(0) as *const u64;
            // SAFETY: a probe read of user memory; a fault is an error, not a crash.
            unsafe { bpf_probe_read_user(ptr) }.ok()?
        }
        _ => return None,
    })
}

/// include/uapi/asm-generic/fcntl.h (SOCK_* are O_NONBLOCK, O_CLOEXEC) and
/// include/uapi/asm-generic/mman-common.h.
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: u64 = 0o2000000;
const PROT_WRITE: u64 = 0x2;
const PROT_EXEC: u64 = 0x4;

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

/// `EEXIST` (include/uapi/asm-generic/errno-base.h).
const EEXIST: i32 = 17;

/// Offsets in x86_64 `struct pt_regs` (arch/x86/include/asm/ptrace.h) of the registers that
/// carry the first two syscall arguments: di, si natively; bx, cx for i386 (the 32-bit
/// calling convention, arch/x86/entry/entry_32.S).
const REGS_DI: usize = 112;
const REGS_SI: usize = 104;
const REGS_BX: usize = 40;
const REGS_CX: usize = 88;
const REGS_DX: usize = 96;
/// Registers from bx to di, inclusive.
const REGS_SPAN: usize = (REGS_DI - REGS_BX) / 8 + 1;
/// include/uapi/linux/seccomp.h and prctl.h.
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const PR_SET_SECCOMP: u64 = 22;
const SECCOMP_MODE_FILTER: u64 = 2;

/// Whether this syscall asks to install a seccomp filter.
#[inline(never)]
fn installs_filter(syscall: &Syscall<'_>, abi: u32, nr: u32) -> bool {
    let (seccomp, prctl) = if abi == ABI_NATIVE {
        (global(&NR_SECCOMP), global(&NR_PRCTL))
    } else {
        (global(&NR_SECCOMP_COMPAT), global(&NR_PRCTL_COMPAT))
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

/// `raw_syscalls:sys_exit` (`TP_PROTO(struct pt_regs *regs, long ret)`), attached only when a
/// target has a runtime boundary: a successful filter install arms the whole process (a
/// filter installed with TSYNC covers every thread, and after the exec only one is left).
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

/// Where a syscall's return value and number come from at exit: the raw tracepoint's
/// `TP_PROTO(struct pt_regs *regs, long ret)` (the number is `regs->orig_ax`), or the classic
/// tracepoint's record (`long id; long ret`, offsets from its tracefs `format`).
enum SyscallExit<'a> {
    Raw(&'a RawTracePointContext),
    Record(&'a TracePointContext),
}

impl SyscallExit<'_> {
    #[inline(always)]
    fn ret(&self) -> i64 {
        match self {
            SyscallExit::Raw(ctx) => ctx.arg(1),
            // SAFETY: reading a field of the tracepoint record at the offset from its format.
            SyscallExit::Record(ctx) => {
                unsafe { ctx.read_at::<i64>(global(&SYS_EXIT_RET_OFFSET) as usize) }.unwrap_or(0)
            }
        }
    }

    fn id(&self) -> i64 {
        match self {
            SyscallExit::Raw(ctx) => {
                let regs: *const u8 = ctx.arg(0);
                // SAFETY: a probe read of the syscall's saved registers.
                unsafe { bpf_probe_read_kernel(regs.add(REGS_ORIG_AX) as *const i64) }.unwrap_or(-1)
            }
            // SAFETY: reading a field of the tracepoint record at the offset from its format.
            SyscallExit::Record(ctx) => {
                unsafe { ctx.read_at::<i64>(global(&SYS_EXIT_ID_OFFSET) as usize) }.unwrap_or(-1)
            }
        }
    }
}

/// `orig_ax` in x86_64 `struct pt_regs`: the syscall number.
const REGS_ORIG_AX: usize = 120;
/// include/uapi/asm-generic/errno-base.h and errno.h.
const EPERM: i64 = 1;
const ENOSYS: i64 = 38;

#[inline(always)]
fn on_sys_exit(exit: &SyscallExit<'_>) {
    let tid = current_tid();
    // SAFETY: the value is copied out at once.
    let Some(base_slot) = (unsafe { PENDING_FILTER.get(&tid) }).copied() else {
        let ret = exit.ret();
        if ret == -EPERM || ret == -ENOSYS {
            exit_facts(exit, ret == -EPERM);
        }
        return;
    };
    let _ = PENDING_FILTER.remove(&tid);
    if exit.ret() < 0 {
        return;
    }
    // Only a process that is not yet the workload gets here, so the one that installed the
    // container's filter is the runtime: its tail counts as the runtime's, whatever program
    // slot an exec from a file descriptor gave it (runc 1.1.5+deb12u1, with the CVE-2024-21626
    // fix, re-executes itself from /dev/fd/N inside the container's cgroup).
    let tgid = current_tgid();
    if TASK_SLOT
        .insert(&tgid, &(base_slot | TASK_ARMED), 0)
        .is_err()
    {
        lose(Loss::TaskMapFull);
    }
    task_slots_changed();
}

/// Count a syscall of the workload that failed with EPERM (`eperm`) or ENOSYS, apart for one
/// this program never entered: a filter in place denied it before entry.
#[inline(never)]
fn exit_facts(exit: &SyscallExit<'_>, eperm: bool) {
    let Some(target) = current_target() else {
        return;
    };
    let slot = match task_value(current_tgid()) {
        Some(v) if v & TASK_ARMED != 0 => v & !TASK_ARMED,
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
        atomic_add(count, 1);
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

/// `sched:sched_process_exec`: the current task now runs a new program. Give it the slot of
/// that program within its target, assigning a new slot for a path not seen before.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let Some(target) = current_target() else {
        return 0;
    };
    let slot = program_slot(&ctx, &target).unwrap_or(target.base_slot);
    // Past an exec, a container's process runs its entrypoint: the workload (also the
    // fallback boundary when the container runs without a filter). An exec from a file
    // descriptor is not an entrypoint: it is the runtime re-executing itself (runc 1.1 copies
    // its binary to a memfd and fexecve()s it early in `runc init`, libcontainer/nsenter/
    // cloned_binary.c), so it keeps the process's state.
    // SAFETY: the value is copied out at once.
    let armed = unsafe { TASK_SLOT.get(&current_tgid()) }.is_some_and(|v| v & TASK_ARMED != 0);
    let value = if target.flags & TARGET_BOUNDARY != 0 && (armed || !exec_from_fd()) {
        slot | TASK_ARMED
    } else {
        slot
    };
    if TASK_SLOT.insert(&current_tgid(), &value, 0).is_err() {
        lose(Loss::TaskMapFull);
    }
    task_slots_changed();
    0
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
    key.path = [0; sysallow_common::PATH_LEN];
    // `__data_loc char[] filename`: the low 16 bits are the offset of the string from the start
    // of the record, the high 16 bits its length (include/linux/trace_events.h).
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let loc: u32 = unsafe { ctx.read_at(global(&EXEC_FILENAME_OFFSET) as usize) }.ok()?;
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
        // Another CPU assigned this path a slot first (ours stays unused); take theirs.
        // SAFETY: the value is copied out at once.
        return unsafe { PROGRAM_SLOTS.get(&*key) }.copied();
    }
    Some(slot)
}

/// Take a free slot. The BPF target has no atomic add, so a slot is taken by inserting it into
/// `SLOTS_TAKEN` with `BPF_NOEXIST`, which the kernel performs atomically; `NEXT_SLOT` is only
/// a hint of where to start. Execs racing on other CPUs make the insert fail and we try the
/// next slot.
fn claim_slot() -> Option<u32> {
    let hint = NEXT_SLOT.get_ptr_mut(0)?;
    // SAFETY: `hint` points at a live u32 in an array map; a stale read only costs a retry.
    let mut slot = unsafe { *hint };
    for _ in 0..CLAIM_TRIES {
        if slot >= MAX_SLOTS {
            lose(Loss::SlotsFull);
            return None;
        }
        if SLOTS_TAKEN
            .insert(&slot, &1, u64::from(BPF_NOEXIST))
            .is_ok()
        {
            // SAFETY: as above; a racing writer can only move the hint, never a claim.
            unsafe { *hint = slot + 1 };
            return Some(slot);
        }
        slot += 1;
    }
    lose(Loss::SlotsFull);
    None
}

/// `task:task_newtask`, run in the parent (kernel/fork.c, copy_process): a new process forked
/// by a followed task inherits its program slot. A new thread needs no entry of its own:
/// tasks are looked up by their process (tgid), so `CLONE_THREAD` children are skipped.
#[tracepoint(category = "task", name = "task_newtask")]
pub fn task_newtask(ctx: TracePointContext) -> u32 {
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let Ok(flags) = (unsafe { ctx.read_at::<u64>(global(&NEWTASK_FLAGS_OFFSET) as usize) }) else {
        return 0;
    };
    if flags & CLONE_THREAD != 0 {
        return 0;
    }
    // SAFETY: the value is copied out at once.
    let Some(slot) = (unsafe { TASK_SLOT.get(&current_tgid()) }).copied() else {
        return 0;
    };
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let Ok(child) = (unsafe { ctx.read_at::<i32>(global(&NEWTASK_PID_OFFSET) as usize) }) else {
        return 0;
    };
    if TASK_SLOT.insert(&(child as u32), &slot, 0).is_err() {
        lose(Loss::TaskMapFull);
    }
    // A CPU may hold a cached "no entry" for this pid from an earlier process that had it.
    task_slots_changed();
    0
}

/// include/uapi/linux/sched.h.
const CLONE_THREAD: u64 = 0x0001_0000;

/// `sched:sched_process_exit`: forget a task that ends, so the task map only holds live tasks.
#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    // Threads have no entry of their own (see `task_newtask`): the process's goes with the
    // last of its threads, whichever that is (`group_dead`). Not only with the leader: when a
    // Go program exits, another thread is often the last, and an entry kept past that would
    // wrongly describe the next process given the same pid (pid_max is 32768 here; Podman's
    // runc containers then had their runtime set-up counted as workload, measured).
    // SAFETY: reading a field of the tracepoint record at the offset from its `format`.
    let group_dead = unsafe { ctx.read_at::<u8>(global(&EXIT_GROUP_DEAD_OFFSET) as usize) };
    if matches!(group_dead, Ok(1)) && TASK_SLOT.remove(&current_tgid()).is_ok() {
        task_slots_changed();
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
