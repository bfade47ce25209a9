//! Every map of the object `record` loads. Names are fixed (`sysallow_common::maps` for the
//! ones the collector reads; the loader, the kernel memory model and the tests know them all).
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, Queue},
};
use sysallow_common::{
    ARG_SETS_MAX, ARG_VALUES_MAX, ArgKey, ExitFacts, FIRST_SEEN_MAX, LOSS_KINDS, Loss, MAX_SLOTS,
    MAX_TARGETS, MAX_TASKS, ProgramKey, SLOT_COUNTERS, SlotCounters, TargetInfo,
};

/// A CPU's cached `TASK_SLOT` lookup (`TASK_CACHE`'s value; `task.rs` keeps it current).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TaskCache {
    pub generation: u64,
    pub tgid: u32,
    /// The `TASK_SLOT` value, or `task::NO_TASK`.
    pub value: u32,
}

/// Targets created for the child cgroups of a split or leaf-split target (containers under a
/// parent), keyed by cgroup v2 id; also the children user space ignores (`TARGET_IGNORED`).
/// The maps sized by slots (this one, `PROGRAM_SLOTS`, `SLOTS_TAKEN`, `FIRST_SEEN`,
/// `ARG_VALUES`, `ARG_SETS`, `EXIT_FACTS`, `COUNTS`) have `record`'s sizes here; a tracer with
/// another slot count has them resized at load (`sysallow_common::slot_map_entries`).
#[map(name = "TARGETS")]
pub static TARGETS: HashMap<u64, TargetInfo> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// Program slot of each followed process, a `sysallow_common::task_entry` (key: tgid; its
/// threads share it; removed when the last thread exits).
#[map(name = "TASK_SLOT")]
pub static TASK_SLOT: HashMap<u32, u32> = HashMap::with_max_entries(MAX_TASKS, 0);

/// Per CPU, the last task looked up in `TASK_SLOT`: a syscall-heavy task hits it almost
/// every time, which saves a hash lookup on the hot path. Valid while `TASK_GEN` is unchanged.
#[map(name = "TASK_CACHE")]
pub static TASK_CACHE: PerCpuArray<TaskCache> = PerCpuArray::with_max_entries(1, 0);

/// A CPU's cached `TARGETS` lookup (`TARGET_CACHE`'s value; `target` keeps it current).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TargetCache {
    pub generation: u64,
    pub tgid: u32,
    pub _pad: u32,
    pub info: TargetInfo,
}

/// Per CPU, the target of the last process that asked in leaf mode (`target`): on a node
/// agent, a container's syscalls find it with no helper call and no hash lookup. Valid while
/// `TASK_GEN` is unchanged: besides `TASK_SLOT`'s writers, user space bumps it after it
/// changes or removes a `TARGETS` entry, and the kernel side when a process of the armed
/// cgroup ends (its pid may come back in another container) and when a task changes cgroup.
#[map(name = "TARGET_CACHE")]
pub static TARGET_CACHE: PerCpuArray<TargetCache> = PerCpuArray::with_max_entries(1, 0);

/// Bumped after every change to `TASK_SLOT`, and whenever `TARGET_CACHE` may be stale (see
/// there; writers change the entry first, then bump; readers read the generation first), so
/// no CPU keeps using a stale cached entry.
#[map(name = "TASK_GEN")]
pub static TASK_GEN: Array<u64> = Array::with_max_entries(1, 0);

/// Slot of each distinct (target, executable path).
#[map(name = "PROGRAM_SLOTS")]
pub static PROGRAM_SLOTS: HashMap<ProgramKey, u32> = HashMap::with_max_entries(MAX_SLOTS, 0);

/// Where `claim_slot` starts looking for a free slot; the collector sets it past the slots it
/// reserved, and back to the lowest slot it freed (`Tracer::release_child`).
#[map(name = "NEXT_SLOT")]
pub static NEXT_SLOT: Array<u32> = Array::with_max_entries(1, 0);

/// Slots user space freed (`Tracer::release_child`, `Tracer::ignore_child`) and slots a CPU
/// claimed and gave back: `claim_slot` takes these first, in one pop, wherever they lie, so a
/// long-running tracer with slots taken and freed all over finds a free one without a search.
/// Only a hint, like `NEXT_SLOT`: `SLOTS_TAKEN` decides.
#[map(name = "FREE_SLOTS")]
pub static FREE_SLOTS: Queue<u32> = Queue::with_max_entries(MAX_SLOTS, 0);

/// Slots taken (value unused): the atomic claim of a slot, see `slots::claim_slot`.
#[map(name = "SLOTS_TAKEN")]
pub static SLOTS_TAKEN: HashMap<u32, u8> = HashMap::with_max_entries(MAX_SLOTS, 0);

/// Counters: (shard, slot) x ABI x syscall number, at `counts_index`. A CPU counts in shard
/// `cpu & (COUNTER_SHARDS - 1)` with an atomic add (see `MAX_COUNTER_SHARDS`); the loader
/// sizes the map to `COUNTER_SHARDS` x `SLOT_LIMIT`.
#[map(name = "COUNTS")]
pub static COUNTS: Array<SlotCounters> = Array::with_max_entries(MAX_SLOTS, 0);

/// When each (slot, ABI, syscall) was first made, in `bpf_ktime_get_ns` (CLOCK_MONOTONIC)
/// nanoseconds, keyed by `first_seen_key`. Written only on a shard's counter's 0 -> 1 step, so
/// a syscall already counted in this CPU's shard pays nothing for it; the first insert wins.
#[map(name = "FIRST_SEEN")]
pub static FIRST_SEEN: HashMap<u32, u64> = HashMap::with_max_entries(FIRST_SEEN_MAX, 0);

/// Which syscalls have an argument captured, and how: `ArgKind::capture_entry` (0: none),
/// indexed by `counter_index(abi, nr)`. An array lookup, which the verifier inlines: a syscall
/// without a captured argument pays one load for it.
#[map(name = "CAPTURE")]
pub static CAPTURE: Array<u32> = Array::with_max_entries(SLOT_COUNTERS as u32, 0);

/// The distinct values seen of each captured argument (value unused).
#[map(name = "ARG_VALUES")]
pub static ARG_VALUES: HashMap<ArgKey, u8> = HashMap::with_max_entries(ARG_VALUES_MAX, 0);

/// Per CPU, the last value kept: a loop that makes the same call again and again (the common
/// case) pays one compare instead of a hash lookup.
#[map(name = "LAST_CAPTURE")]
pub static LAST_CAPTURE: PerCpuArray<ArgKey> = PerCpuArray::with_max_entries(1, 0);

/// How many distinct values each (target, ABI, syscall) has, or `ARG_OVERFLOW`.
#[map(name = "ARG_SETS")]
pub static ARG_SETS: HashMap<u64, u32> = HashMap::with_max_entries(ARG_SETS_MAX, 0);

/// How syscalls failed with EPERM or ENOSYS, per (target, ABI, syscall) (see `ExitFacts`).
#[map(name = "EXIT_FACTS")]
pub static EXIT_FACTS: HashMap<u64, ExitFacts> = HashMap::with_max_entries(ARG_SETS_MAX, 0);

/// What could not be recorded, by `Loss`.
#[map(name = "LOSSES")]
pub static LOSSES: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOSS_KINDS, 0);

/// Processes of boundary targets that asked to install a seccomp filter
/// (`seccomp(SECCOMP_SET_MODE_FILTER)` or `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`) before
/// they were the workload, keyed by tgid: `boundary` arms one at its next syscall if its
/// seccomp state changed since.
#[map(name = "PENDING_FILTER")]
pub static PENDING_FILTER: HashMap<u32, PendingFilter> = HashMap::with_max_entries(1024, 0);

/// A `PENDING_FILTER` value: the slot the process gets once armed, and its seccomp state
/// (`boundary::seccomp_state`) when it asked.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct PendingFilter {
    pub base_slot: u32,
    pub _pad: u32,
    pub state_before: u64,
}

/// Scratch space for building a `ProgramKey` (too large for the 512-byte BPF stack with room
/// to spare).
#[map(name = "SCRATCH")]
pub static SCRATCH: PerCpuArray<ProgramKey> = PerCpuArray::with_max_entries(1, 0);

/// `EEXIST` (include/uapi/asm-generic/errno-base.h): an insert with `BPF_NOEXIST` lost a race.
pub const EEXIST: i32 = 17;

/// `TASK_GEN`: what a per-CPU cache entry must have been filled under to be used.
#[inline(always)]
pub fn cache_generation() -> Option<u64> {
    // SAFETY: a live array element; a torn read only causes a miss.
    TASK_GEN
        .get_ptr(0)
        .map(|g| unsafe { core::ptr::read_volatile(g) })
}

/// Count one thing that could not be recorded.
#[inline(always)]
pub fn lose(kind: Loss) {
    if let Some(counter) = LOSSES.get_ptr_mut(kind.index()) {
        // SAFETY: a per-CPU slot; BPF programs do not preempt each other on one CPU for the
        // same program type, and a lost increment here would only under-count a loss.
        unsafe { *counter += 1 };
    }
}

/// `*counter += n` with the BPF atomic add (`lock xadd` before BPF v3): CPUs share counters.
/// The BPF target has no atomic read-modify-write in `core::sync::atomic` (no compare and
/// swap), so the intrinsic; its result is unused, which every BPF CPU version supports.
///
/// # Safety
///
/// `counter` points into a live map value.
#[inline(always)]
pub unsafe fn atomic_add(counter: *mut u64, n: u64) {
    // SAFETY: the caller's promise.
    unsafe {
        core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
            counter, n,
        );
    }
}
