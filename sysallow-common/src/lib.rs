//! Types and limits shared by the eBPF programs (`sysallow-ebpf`) and the collector (`sysallow`).
//!
//! Every type here is `#[repr(C)]` with no hidden padding: the kernel and user space read the
//! same bytes. Map names are constants so both sides agree on them.
#![no_std]

pub mod caps;
#[cfg(feature = "std")]
pub mod mountinfo;

/// Syscall numbers counted per ABI. x86_64 and i386 both end below 470 on Linux 6.18
/// (`arch/x86/entry/syscalls/syscall_{32,64}.tbl`); a number at or above this is counted as a
/// loss, never dropped silently.
pub const MAX_NR: u32 = 512;

/// ABIs a task can call the kernel with on the host. On x86_64 the compat ABI is i386
/// (int 0x80, sysenter, or a 32-bit process); there is no x32 ABI on this kernel.
pub const ABI_COUNT: u32 = 2;
pub const ABI_NATIVE: u32 = 0;
pub const ABI_COMPAT: u32 = 1;

/// Program slots: one per distinct (target, executable path), assigned in the kernel at exec.
/// Each target also has a slot for tasks whose program is unknown (the first exec of a spawned
/// command, tasks that entered the cgroup from outside) and one for a container runtime's
/// set-up.
///
/// This is the default, what `record` loads; a tracer may choose another count at load time
/// (the `SLOT_LIMIT` global, with the maps keyed by slots sized to match:
/// [`slot_map_entries`]), between [`MIN_SLOTS`] and [`SLOTS_LIMIT`].
pub const MAX_SLOTS: u32 = 64;

/// The fewest slots a tracer can have: the armed cgroup's two.
pub const MIN_SLOTS: u32 = 2;
/// The most slots a tracer can have: `first_seen_key` stays within a u32 far beyond this, and
/// `COUNTS` is already 64 MiB per counter shard here (8 KiB a slot).
pub const SLOTS_LIMIT: u32 = 8192;

/// A slot number that no slot has: the slots of an ignored target (`TARGET_IGNORED`).
pub const NO_SLOT: u32 = u32::MAX;

/// Counter shards at most. Each shard is a full set of counters (`MAX_SLOTS` x
/// `SLOT_COUNTERS` x 8 bytes = 512 KiB) that the CPUs whose number is the shard's modulo share,
/// bumped with an atomic add: exact counts, with kernel memory bounded however many CPUs the
/// host has (one set per CPU was 128 MiB on a 256-CPU host), and CPUs that contend for a
/// counter cache line only within their shard.
pub const MAX_COUNTER_SHARDS: u32 = 16;

/// The shards a host with `possible_cpus` CPUs gets: a power of two (the kernel side picks a
/// CPU's shard with a mask), at most one per CPU and at most [`MAX_COUNTER_SHARDS`].
pub const fn counter_shards(possible_cpus: u32) -> u32 {
    let mut shards = 1;
    while shards * 2 <= possible_cpus && shards * 2 <= MAX_COUNTER_SHARDS {
        shards *= 2;
    }
    shards
}

/// The `COUNTS` element of `slot` in `shard`, for a tracer with `slots` slots (`COUNTS` has
/// `slots` elements per shard).
#[inline(always)]
pub const fn counts_index(shard: u32, slot: u32, slots: u32) -> u32 {
    shard * slots + slot
}

/// Bytes of an executable path kept as a slot's key (longer paths are truncated and counted).
pub const PATH_LEN: usize = 256;

/// Counters of one slot: ABI x syscall number. The `COUNTS` map has one such element per
/// (shard, slot): 8 KiB elements are created and read back far faster than 8-byte ones.
pub const SLOT_COUNTERS: usize = (ABI_COUNT * MAX_NR) as usize;
pub type SlotCounters = [u64; SLOT_COUNTERS];

/// Index of (ABI, syscall number) in a slot's counters.
#[inline(always)]
pub const fn counter_index(abi: u32, nr: u32) -> usize {
    (abi * MAX_NR + nr) as usize
}

/// The (ABI, syscall number) of a counter index: the inverse of [`counter_index`].
pub const fn counter_abi_nr(counter: u32) -> (u32, u32) {
    (counter / MAX_NR, counter % MAX_NR)
}

/// Tasks followed at once (processes and threads that forked from a followed task).
pub const MAX_TASKS: u32 = 32768;

/// Child targets (containers under an armed parent) at once, with the default slot count.
pub const MAX_TARGETS: u32 = 1024;

/// What could not be recorded, by cause: one counter each in the `LOSSES` map.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// A syscall number at or above `MAX_NR`, or negative.
    NrOutOfRange = 0,
    /// An exec of a new program when every slot was taken: its syscalls are still counted, in
    /// the target's unattributed slot.
    SlotsFull = 1,
    /// A fork when the task map was full: the child's syscalls are counted as unattributed.
    TaskMapFull = 2,
    /// An executable path longer than `PATH_LEN` (it was truncated; still counted).
    PathTruncated = 3,
    /// A counter slot could not be addressed (should never happen; a verifier-safe guard).
    CounterMissing = 4,
    /// Reading the kernel's task state failed, so the ABI could not be told.
    AbiUnknown = 5,
    /// A new child cgroup could not become a target (target map or slots full): its syscalls
    /// were counted under the parent.
    TargetsFull = 6,
    /// A first-seen time could not be kept (the `FIRST_SEEN` map was full): the syscall is
    /// counted, only when it first appeared is unknown.
    FirstSeenFull = 7,
    /// An argument value could not be kept (`ARG_VALUES` or `ARG_SETS` was full): no set of
    /// argument values can be trusted to be complete, so no argument rule is generated.
    ArgMapFull = 8,
    /// A capability check, privileged exec or effective id could not be kept (`CAP_CHECKS`,
    /// `PRIV_EXECS` or `CRED_IDS` was full): the run-time layer's record is incomplete.
    PrivilegesFull = 9,
}

pub const LOSS_KINDS: u32 = 10;

impl Loss {
    /// Every cause, in `LOSSES` index order.
    pub const ALL: [Loss; LOSS_KINDS as usize] = [
        Loss::NrOutOfRange,
        Loss::SlotsFull,
        Loss::TaskMapFull,
        Loss::PathTruncated,
        Loss::CounterMissing,
        Loss::AbiUnknown,
        Loss::TargetsFull,
        Loss::FirstSeenFull,
        Loss::ArgMapFull,
        Loss::PrivilegesFull,
    ];

    /// Its element in the `LOSSES` map.
    #[inline(always)]
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// The cause counted at `LOSSES` element `index`: the inverse of [`Loss::index`].
    pub const fn from_index(index: u32) -> Option<Loss> {
        if index < LOSS_KINDS {
            Some(Loss::ALL[index as usize])
        } else {
            None
        }
    }
}

/// How the kernel side captures an argument of a syscall: the `CAPTURE` array, indexed by
/// `counter_index(abi, nr)`, holds [`ArgKind::capture_entry`] (0: not captured). The collector
/// fills it from its syscall tables; what each value means is `sysallow_profile::args`' to say.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// arg0 (clone's flags, personality's persona, prctl's option).
    Arg0 = 0,
    /// arg1 (ioctl's request, fcntl's command).
    Arg1 = 1,
    /// `arg0 << 32 | arg1 & !(SOCK_NONBLOCK | SOCK_CLOEXEC)`: socket's domain and type.
    Socket = 2,
    /// `arg2 & (PROT_WRITE | PROT_EXEC)`: mmap's, mprotect's and pkey_mprotect's protection.
    Prot = 3,
    /// `arg1 << 32 | arg2`: setsockopt's level and option name.
    Setsockopt = 4,
    /// The first 8 bytes of the struct arg0 points to: clone3's `clone_args.flags`.
    Clone3Flags = 5,
}

pub const ARG_KINDS: u32 = 6;

impl ArgKind {
    /// Every kind, in number order.
    pub const ALL: [ArgKind; ARG_KINDS as usize] = [
        ArgKind::Arg0,
        ArgKind::Arg1,
        ArgKind::Socket,
        ArgKind::Prot,
        ArgKind::Setsockopt,
        ArgKind::Clone3Flags,
    ];

    /// The `CAPTURE` element of a syscall captured this way (0 is left for "not captured").
    pub const fn capture_entry(self) -> u32 {
        self as u32 + 1
    }

    /// The kind a `CAPTURE` element asks for: the inverse of [`ArgKind::capture_entry`]; `None`
    /// for 0 (not captured) and for a value no kind has.
    #[inline(always)]
    pub const fn from_capture_entry(entry: u32) -> Option<ArgKind> {
        // A match, not an index into `ALL`: the kernel side decodes this too, and a match
        // compiles to compares there instead of a load from `.rodata`.
        Some(match entry {
            1 => ArgKind::Arg0,
            2 => ArgKind::Arg1,
            3 => ArgKind::Socket,
            4 => ArgKind::Prot,
            5 => ArgKind::Setsockopt,
            6 => ArgKind::Clone3Flags,
            _ => return None,
        })
    }
}

/// Distinct values kept per (target, ABI, syscall); one more and the set is marked
/// overflowed (`ARG_OVERFLOW`), and no rule is generated for it.
pub const MAX_ARG_VALUES: u32 = 64;
/// In `ARG_SETS`: the set overflowed, or a value could not be read.
pub const ARG_OVERFLOW: u32 = u32::MAX;
/// Argument values kept at once, over every target and syscall (with the default slot count).
pub const ARG_VALUES_MAX: u32 = slot_map_entries(maps::ARG_VALUES, MAX_SLOTS);
/// Sets of argument values at once (target x ABI x captured syscall), likewise.
pub const ARG_SETS_MAX: u32 = slot_map_entries(maps::ARG_SETS, MAX_SLOTS);

/// Key of the `ARG_VALUES` map: one distinct value of a captured argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgKey {
    /// The target's index (its base slot).
    pub target: u32,
    /// `counter_index(abi, nr)` of the syscall.
    pub counter: u32,
    pub value: u64,
}

/// Value of the `EXIT_FACTS` map, keyed like `ARG_SETS` (target, ABI, syscall): how the
/// syscall failed with EPERM or ENOSYS, for a workload that runs under a filter already in
/// place (a container's runtime installs one). A call the filter denies never reaches
/// `sys_enter`; it is seen only at `sys_exit`, with the errno the filter gave.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitFacts {
    /// Entered (seen at sys_enter), then failed with EPERM.
    pub entered_eperm: u64,
    /// Entered, then failed with ENOSYS (a probe of something the kernel lacks).
    pub entered_enosys: u64,
    /// Never entered in this program: denied with EPERM by a filter in place.
    pub denied_eperm: u64,
    /// Never entered in this program: denied with ENOSYS by a filter in place.
    pub denied_enosys: u64,
}

/// Key of the `ARG_SETS` and `EXIT_FACTS` maps: the set of one (target, ABI, syscall).
#[inline(always)]
pub const fn arg_set_key(target: u32, counter: u32) -> u64 {
    ((target as u64) << 32) | counter as u64
}

/// The (target, counter index) of an `ARG_SETS` or `EXIT_FACTS` key: the inverse of
/// [`arg_set_key`].
pub const fn arg_set_target_counter(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// First-seen times kept (one per slot, ABI and syscall that was ever made): 64 slots making
/// 256 distinct syscalls each, far more than any real program makes.
pub const FIRST_SEEN_MAX: u32 = slot_map_entries(maps::FIRST_SEEN, MAX_SLOTS);

/// The entries of map `name` for a tracer with `slots` program slots, for the maps whose size
/// follows the slots (0 for the others, and for `COUNTS`, which is `slots` x counter shards).
/// Per slot: one `PROGRAM_SLOTS`, `SLOTS_TAKEN` and `FREE_SLOTS` entry, 256 first-seen times, 128 argument
/// values and 32 argument sets (and as many `EXIT_FACTS`); of the capability maps, 64 distinct
/// checks, 4 privileged execs, 16 effective ids and one user namespace (`TARGET_USERNS`, indexed
/// by a target's index, a slot number); `TARGETS` never below [`MAX_TARGETS`], which ignored
/// children (no slot) also use. With [`MAX_SLOTS`] these are the sizes `record` has always had;
/// a node agent's 512 slots get room for every container's checks, not 64 slots' worth shared.
pub const fn slot_map_entries(name: &str, slots: u32) -> u32 {
    let per_slot = match name.as_bytes() {
        b"PROGRAM_SLOTS" | b"SLOTS_TAKEN" | b"FREE_SLOTS" | b"TARGET_USERNS" => 1,
        b"CAP_CHECKS" => 64,
        b"PRIV_EXECS" => 4,
        b"CRED_IDS" => 16,
        b"FIRST_SEEN" => 256,
        b"ARG_VALUES" => 128,
        b"ARG_SETS" | b"EXIT_FACTS" => 32,
        b"TARGETS" => {
            return if slots > MAX_TARGETS {
                slots
            } else {
                MAX_TARGETS
            };
        }
        _ => 0,
    };
    per_slot * slots
}

/// The maps [`slot_map_entries`] sizes.
pub const SLOT_SIZED_MAPS: [&str; 12] = [
    caps::maps::CAP_CHECKS,
    caps::maps::PRIV_EXECS,
    caps::maps::CRED_IDS,
    caps::maps::TARGET_USERNS,
    maps::TARGETS,
    maps::PROGRAM_SLOTS,
    maps::SLOTS_TAKEN,
    maps::FREE_SLOTS,
    maps::FIRST_SEEN,
    maps::ARG_VALUES,
    maps::ARG_SETS,
    maps::EXIT_FACTS,
];

/// Key of the `FIRST_SEEN` map: a slot's counter, numbered across slots.
#[inline(always)]
pub const fn first_seen_key(slot: u32, counter: usize) -> u32 {
    slot * SLOT_COUNTERS as u32 + counter as u32
}

/// The (slot, counter index) of a `FIRST_SEEN` key: the inverse of [`first_seen_key`].
pub const fn first_seen_slot_counter(key: u32) -> (u32, usize) {
    (
        key / SLOT_COUNTERS as u32,
        (key % SLOT_COUNTERS as u32) as usize,
    )
}

/// Value of the `TARGETS` map, keyed by cgroup v2 id (the inode number of its directory).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetInfo {
    /// Identity of the target in `ProgramKey`s: its base slot, unique per target.
    pub index: u32,
    /// Slot for this target's tasks whose program is not known.
    pub base_slot: u32,
    /// Slot for the container runtime's set-up (tasks not yet armed, with `TARGET_BOUNDARY`).
    pub setup_slot: u32,
    /// `TARGET_*` flags.
    pub flags: u32,
}

/// The armed cgroup's slots, fixed so that the kernel side knows them as constants: the
/// collector marks them taken before the programs are attached.
pub const ROOT_BASE_SLOT: u32 = 0;
pub const ROOT_SETUP_SLOT: u32 = 1;

/// Each child cgroup (at the target's level + 1) becomes a target of its own, created by the
/// kernel side at its first syscall: one recording per container under a `--cgroup-parent`.
pub const TARGET_SPLIT: u32 = 1;
/// A container: a process's syscalls are the workload's only once it has installed a seccomp
/// filter (the runtime's tail runs under the filter) or exec'd (the entrypoint); before that
/// they are the runtime's set-up and are counted apart.
pub const TARGET_BOUNDARY: u32 = 2;
/// Set on targets the kernel side created for a child cgroup of a `TARGET_SPLIT` or
/// `TARGET_LEAF` target.
pub const TARGET_CHILD: u32 = 4;
/// Leaf split (a node agent's `kubepods`): below the armed cgroup, the cgroup a task is in
/// (`bpf_get_current_cgroup_id`), at any depth, is a target of its own, created at its first
/// syscall; in cgroup v2 only leaves hold a container's tasks (`kubepods/besteffort/pod<UID>/
/// <id>`, `kubepods/pod<UID>/<id>`). A task in the armed cgroup itself stays the armed
/// target's. Takes precedence over `TARGET_SPLIT`.
pub const TARGET_LEAF: u32 = 8;
/// In a `TARGETS` entry: user space ignores this child (`Tracer::ignore_child`): its syscalls
/// are not counted and it holds no slot (its slots are `NO_SLOT`).
pub const TARGET_IGNORED: u32 = 16;

/// In a `TASK_SLOT` value: the process is past the runtime boundary.
pub const TASK_ARMED: u32 = 1 << 31;

/// A `TASK_SLOT` value: the process's program slot, and whether it is past the boundary.
#[inline(always)]
pub const fn task_entry(slot: u32, armed: bool) -> u32 {
    if armed { slot | TASK_ARMED } else { slot }
}

/// The program slot of a `TASK_SLOT` value (see [`task_entry`]).
#[inline(always)]
pub const fn task_entry_slot(entry: u32) -> u32 {
    entry & !TASK_ARMED
}

/// Whether a `TASK_SLOT` value's process is past the boundary (see [`task_entry`]).
#[inline(always)]
pub const fn task_entry_armed(entry: u32) -> bool {
    entry & TASK_ARMED != 0
}

/// Key of the `PROGRAM_SLOTS` map: an executable path within one target.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramKey {
    pub target: u32,
    pub path: [u8; PATH_LEN],
}

impl ProgramKey {
    pub const fn zeroed() -> Self {
        Self {
            target: 0,
            path: [0; PATH_LEN],
        }
    }

    /// The key of `path` in `target`, as the kernel side builds it at exec: NUL-terminated,
    /// truncated to `PATH_LEN - 1` bytes.
    pub fn new(target: u32, path: &[u8]) -> Self {
        let mut key = Self::zeroed();
        key.target = target;
        let len = if path.len() < PATH_LEN - 1 {
            path.len()
        } else {
            PATH_LEN - 1
        };
        key.path[..len].copy_from_slice(&path[..len]);
        key
    }

    /// The path's bytes, up to its NUL (the whole buffer if it has none).
    pub fn path_bytes(&self) -> &[u8] {
        let mut len = 0;
        while len < PATH_LEN && self.path[len] != 0 {
            len += 1;
        }
        &self.path[..len]
    }
}

/// Map names, shared by both sides.
pub mod maps {
    pub const TARGETS: &str = "TARGETS";
    pub const TASK_SLOT: &str = "TASK_SLOT";
    pub const TASK_GEN: &str = "TASK_GEN";
    pub const PROGRAM_SLOTS: &str = "PROGRAM_SLOTS";
    pub const NEXT_SLOT: &str = "NEXT_SLOT";
    pub const SLOTS_TAKEN: &str = "SLOTS_TAKEN";
    pub const FREE_SLOTS: &str = "FREE_SLOTS";
    pub const COUNTS: &str = "COUNTS";
    pub const LOSSES: &str = "LOSSES";
    pub const LAST_CAPTURE: &str = "LAST_CAPTURE";
    pub const FIRST_SEEN: &str = "FIRST_SEEN";
    pub const CAPTURE: &str = "CAPTURE";
    pub const ARG_VALUES: &str = "ARG_VALUES";
    pub const ARG_SETS: &str = "ARG_SETS";
    pub const EXIT_FACTS: &str = "EXIT_FACTS";
}

/// Load-time configuration (globals the collector overrides).
pub mod globals {
    /// Level of the armed cgroup in the v2 hierarchy (root is 0).
    pub const TARGET_LEVEL: &str = "TARGET_LEVEL";
    /// The armed cgroup's id, and its `TARGET_*` flags.
    pub const TARGET_CGROUP: &str = "TARGET_CGROUP";
    pub const TARGET_FLAGS: &str = "TARGET_FLAGS";
    /// `counter_shards(possible CPUs)`; `COUNTS` has that many times `MAX_SLOTS` elements.
    pub const COUNTER_SHARDS: &str = "COUNTER_SHARDS";
    /// The tracer's program slots (`MAX_SLOTS` unless chosen at load): `claim_slot` never
    /// gives one at or above it, and `COUNTS` has this many elements per shard.
    pub const SLOT_LIMIT: &str = "SLOT_LIMIT";
    /// Offsets of `pid` and `clone_flags` in `task:task_newtask` (read from its tracefs
    /// `format`).
    pub const NEWTASK_PID_OFFSET: &str = "NEWTASK_PID_OFFSET";
    pub const NEWTASK_FLAGS_OFFSET: &str = "NEWTASK_FLAGS_OFFSET";
    /// Offset of the `__data_loc char[] filename` field of `sched:sched_process_exec`.
    pub const EXEC_FILENAME_OFFSET: &str = "EXEC_FILENAME_OFFSET";
    /// Offset of `group_dead` in `sched:sched_process_exit`.
    pub const EXIT_GROUP_DEAD_OFFSET: &str = "EXIT_GROUP_DEAD_OFFSET";
    /// Offset of `thread_info.status` in `task_struct` (x86: thread_info is the first member).
    pub const TASK_STATUS_OFFSET: &str = "TASK_STATUS_OFFSET";
    /// Where the runtime boundary reads a task's seccomp state (offset in `task_struct`, and
    /// the mask of the 8 bytes read there).
    pub const SECCOMP_STATE_OFFSET: &str = "SECCOMP_STATE_OFFSET";
    pub const SECCOMP_STATE_MASK: &str = "SECCOMP_STATE_MASK";
    /// Field offsets of the classic `raw_syscalls` tracepoints (the fallback attach).
    pub const SYS_ENTER_ID_OFFSET: &str = "SYS_ENTER_ID_OFFSET";
    pub const SYS_ENTER_ARGS_OFFSET: &str = "SYS_ENTER_ARGS_OFFSET";
    pub const SYS_EXIT_RET_OFFSET: &str = "SYS_EXIT_RET_OFFSET";
    pub const SYS_EXIT_ID_OFFSET: &str = "SYS_EXIT_ID_OFFSET";
    /// Syscall numbers that install a seccomp filter, per ABI (native, compat): `seccomp` and
    /// `prctl`. Set by the collector from its syscall tables.
    pub const NR_SECCOMP: &str = "NR_SECCOMP";
    pub const NR_PRCTL: &str = "NR_PRCTL";
    pub const NR_SECCOMP_COMPAT: &str = "NR_SECCOMP_COMPAT";
    pub const NR_PRCTL_COMPAT: &str = "NR_PRCTL_COMPAT";
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data with no padding and no pointers.
    unsafe impl aya::Pod for super::TargetInfo {}
    // SAFETY: `u32` followed by a byte array: no padding, no pointers.
    unsafe impl aya::Pod for super::ProgramKey {}
    // SAFETY: two `u32` then a `u64`: no padding, no pointers.
    unsafe impl aya::Pod for super::ArgKey {}
    // SAFETY: four `u64`: no padding, no pointers.
    unsafe impl aya::Pod for super::ExitFacts {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_index_round_trips() {
        for abi in [ABI_NATIVE, ABI_COMPAT] {
            for nr in [0, 1, 59, MAX_NR - 1] {
                let counter = counter_index(abi, nr);
                assert!(counter < SLOT_COUNTERS);
                assert_eq!(counter_abi_nr(counter as u32), (abi, nr));
            }
        }
    }

    #[test]
    fn slot_sized_maps_keep_records_sizes_at_the_default_and_grow_with_the_slots() {
        // What `record` has always loaded (the kernel memory e2e test compares it live).
        assert_eq!(slot_map_entries(maps::TARGETS, MAX_SLOTS), 1024);
        assert_eq!(slot_map_entries(maps::PROGRAM_SLOTS, MAX_SLOTS), 64);
        assert_eq!(slot_map_entries(maps::SLOTS_TAKEN, MAX_SLOTS), 64);
        assert_eq!(slot_map_entries(maps::FREE_SLOTS, MAX_SLOTS), 64);
        assert_eq!(FIRST_SEEN_MAX, 16384);
        assert_eq!(ARG_VALUES_MAX, 8192);
        assert_eq!(ARG_SETS_MAX, 2048);
        assert_eq!(slot_map_entries(maps::EXIT_FACTS, MAX_SLOTS), 2048);
        assert_eq!(caps::CAP_CHECKS_MAX, 4096);
        assert_eq!(caps::PRIV_EXECS_MAX, 256);
        assert_eq!(caps::CRED_IDS_MAX, 1024);
        assert_eq!(
            slot_map_entries(caps::maps::TARGET_USERNS, MAX_SLOTS),
            MAX_SLOTS
        );
        for name in SLOT_SIZED_MAPS {
            let (small, big) = (
                slot_map_entries(name, MAX_SLOTS),
                slot_map_entries(name, 4 * MAX_TARGETS),
            );
            assert!(small > 0, "{name}");
            assert!(big >= small, "{name}");
            // Every slot of the largest tracer still has its keyed entries.
            assert!(slot_map_entries(name, SLOTS_LIMIT) >= SLOTS_LIMIT, "{name}");
        }
        assert_eq!(slot_map_entries(maps::TARGETS, 4096), 4096);
        assert_eq!(slot_map_entries(maps::COUNTS, 4096), 0);
        // The largest tracer's first-seen keys fit in a u32.
        assert!(first_seen_key(SLOTS_LIMIT - 1, SLOT_COUNTERS - 1) < u32::MAX);
    }

    #[test]
    fn counts_index_puts_each_shard_after_the_last_slot_of_the_previous_one() {
        for slots in [MIN_SLOTS, MAX_SLOTS, 1024] {
            assert_eq!(
                counts_index(0, slots - 1, slots) + 1,
                counts_index(1, 0, slots)
            );
            assert_eq!(counts_index(3, 5, slots), 3 * slots + 5);
        }
    }

    #[test]
    fn target_flags_are_distinct_bits() {
        let flags = [
            TARGET_SPLIT,
            TARGET_BOUNDARY,
            TARGET_CHILD,
            TARGET_LEAF,
            TARGET_IGNORED,
        ];
        for (i, a) in flags.iter().enumerate() {
            assert_eq!(a.count_ones(), 1);
            for b in &flags[i + 1..] {
                assert_eq!(a & b, 0);
            }
        }
    }

    #[test]
    fn first_seen_key_round_trips() {
        for slot in [0, 1, MAX_SLOTS - 1] {
            for counter in [0, counter_index(ABI_COMPAT, 5), SLOT_COUNTERS - 1] {
                let key = first_seen_key(slot, counter);
                assert_eq!(first_seen_slot_counter(key), (slot, counter));
            }
        }
        // Every key of the last slot fits in a u32 and stays below the next slot's.
        assert_eq!(
            first_seen_key(MAX_SLOTS - 1, SLOT_COUNTERS - 1) + 1,
            first_seen_key(MAX_SLOTS, 0)
        );
    }

    #[test]
    fn arg_set_key_round_trips() {
        for target in [0, 2, MAX_SLOTS - 1, u32::MAX] {
            for counter in [0, counter_index(ABI_NATIVE, 16) as u32, u32::MAX] {
                let key = arg_set_key(target, counter);
                assert_eq!(arg_set_target_counter(key), (target, counter));
            }
        }
    }

    #[test]
    fn task_entry_round_trips() {
        for slot in [0, 1, MAX_SLOTS - 1] {
            for armed in [false, true] {
                let entry = task_entry(slot, armed);
                assert_eq!(task_entry_slot(entry), slot);
                assert_eq!(task_entry_armed(entry), armed);
            }
        }
    }

    #[test]
    fn loss_index_round_trips() {
        assert_eq!(Loss::ALL.len(), LOSS_KINDS as usize);
        for (i, loss) in Loss::ALL.iter().enumerate() {
            assert_eq!(loss.index(), i as u32);
            assert_eq!(Loss::from_index(loss.index()), Some(*loss));
        }
        assert_eq!(Loss::from_index(LOSS_KINDS), None);
    }

    #[test]
    fn capture_entry_round_trips() {
        assert_eq!(ArgKind::ALL.len(), ARG_KINDS as usize);
        for (i, kind) in ArgKind::ALL.iter().enumerate() {
            assert_eq!(*kind as u32, i as u32);
            assert_ne!(kind.capture_entry(), 0, "0 means not captured");
            assert_eq!(
                ArgKind::from_capture_entry(kind.capture_entry()),
                Some(*kind)
            );
        }
        assert_eq!(ArgKind::from_capture_entry(0), None);
        assert_eq!(ArgKind::from_capture_entry(ARG_KINDS + 1), None);
    }

    #[test]
    fn program_key_round_trips() {
        let key = ProgramKey::new(3, b"/usr/bin/true");
        assert_eq!(key.target, 3);
        assert_eq!(key.path_bytes(), b"/usr/bin/true");
        // Too long: truncated, still NUL-terminated as the kernel's string read leaves it.
        let long = [b'a'; PATH_LEN + 10];
        let key = ProgramKey::new(0, &long);
        assert_eq!(key.path_bytes(), &long[..PATH_LEN - 1]);
        assert_eq!(key.path[PATH_LEN - 1], 0);
        // A buffer with no NUL is read whole.
        let mut full = ProgramKey::zeroed();
        full.path = [b'b'; PATH_LEN];
        assert_eq!(full.path_bytes().len(), PATH_LEN);
    }
}
