//! Load-time configuration: read-only globals the collector overrides before loading
//! (`EbpfLoader::override_global`, names in `sysallow_common::globals`). The defaults are
//! Linux 6.18's layout. `Global::load` is a volatile read, so the compiler never folds in a
//! default the loader replaces; the verifier sees the frozen value.
//!
//! Every global is `#[used]`: LLVM's constant merging (ConstantMerge) may otherwise point a
//! promoted constant of the same value at a global's storage (`&1u64` passed to a map insert
//! became `SECCOMP_STATE_MASK`, so overriding the mask to all ones made capability counters
//! start at u64::MAX, measured), and the loader's override would silently change it. Globals
//! in `llvm.compiler.used` are never merged.
use aya_ebpf::Global;

/// Level of the armed cgroup in the v2 hierarchy (root is 0).
#[unsafe(no_mangle)]
#[used]
pub static TARGET_LEVEL: Global<u32> = Global::new(0);
/// The armed cgroup's id and `TARGET_*` flags. A session arms one cgroup, known before the
/// programs load, so the test every syscall on the machine pays is one compare with a
/// constant instead of a map lookup.
#[unsafe(no_mangle)]
#[used]
pub static TARGET_CGROUP: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static TARGET_FLAGS: Global<u32> = Global::new(0);
/// The program slots of this tracer (`MAX_SLOTS` unless the collector chose another count):
/// no slot at or above it is claimed, and `COUNTS` has this many elements per shard.
#[unsafe(no_mangle)]
#[used]
pub static SLOT_LIMIT: Global<u32> = Global::new(sysallow_common::MAX_SLOTS);
/// `counter_shards(possible CPUs)`: a power of two.
#[unsafe(no_mangle)]
#[used]
pub static COUNTER_SHARDS: Global<u32> = Global::new(1);
/// Offsets of `pid` and `clone_flags` in `task:task_newtask` (from its tracefs `format`).
#[unsafe(no_mangle)]
#[used]
pub static NEWTASK_PID_OFFSET: Global<u32> = Global::new(8);
#[unsafe(no_mangle)]
#[used]
pub static NEWTASK_FLAGS_OFFSET: Global<u32> = Global::new(32);
/// Offset of the `__data_loc char[] filename` field of `sched:sched_process_exec`.
#[unsafe(no_mangle)]
#[used]
pub static EXEC_FILENAME_OFFSET: Global<u32> = Global::new(8);
/// Offset of `group_dead` in `sched:sched_process_exit`.
#[unsafe(no_mangle)]
#[used]
pub static EXIT_GROUP_DEAD_OFFSET: Global<u32> = Global::new(32);
/// Offset of `thread_info.status` in `task_struct` (see `arch::current_abi`).
#[unsafe(no_mangle)]
#[used]
pub static TASK_STATUS_OFFSET: Global<u32> = Global::new(16);
/// Where `boundary::seccomp_state` reads a task's seccomp state: the offset in `task_struct`
/// of `seccomp.filter` (from the kernel's BTF) with an all-ones mask, or of
/// `thread_info.syscall_work` with the `SYSCALL_WORK_SECCOMP` bit.
#[unsafe(no_mangle)]
#[used]
pub static SECCOMP_STATE_OFFSET: Global<u32> = Global::new(8);
#[unsafe(no_mangle)]
#[used]
pub static SECCOMP_STATE_MASK: Global<u64> = Global::new(1);
// Field offsets of the classic `raw_syscalls` tracepoint records, the fallback attach when raw
// tracepoints are unavailable (from their tracefs `format`).
#[unsafe(no_mangle)]
#[used]
pub static SYS_ENTER_ID_OFFSET: Global<u32> = Global::new(8);
#[unsafe(no_mangle)]
#[used]
pub static SYS_ENTER_ARGS_OFFSET: Global<u32> = Global::new(16);
#[unsafe(no_mangle)]
#[used]
pub static SYS_EXIT_RET_OFFSET: Global<u32> = Global::new(16);
#[unsafe(no_mangle)]
#[used]
pub static SYS_EXIT_ID_OFFSET: Global<u32> = Global::new(8);
// x86_64 and i386 numbers of the syscalls that install a seccomp filter.
#[unsafe(no_mangle)]
#[used]
pub static NR_SECCOMP: Global<u32> = Global::new(317);
#[unsafe(no_mangle)]
#[used]
pub static NR_PRCTL: Global<u32> = Global::new(157);
#[unsafe(no_mangle)]
#[used]
pub static NR_SECCOMP_COMPAT: Global<u32> = Global::new(354);
#[unsafe(no_mangle)]
#[used]
pub static NR_PRCTL_COMPAT: Global<u32> = Global::new(172);
