//! The children of a split or leaf-split target that user space ignores or releases. A node
//! agent arms `kubepods` once and runs for days with pods coming and going: an unselected
//! pod's containers must cost nothing ([`Tracer::ignore_child`]), and a finished container's
//! slots must be reused ([`Tracer::release_child`]) once its counts are read.
//!
//! A slot is freed only when nothing can count into it any more: the child's `TARGETS` entry is
//! changed first (so no new program run finds the slots), then the tracer waits for every
//! program run already under way to end ([`quiesce`]: an RCU grace period, which the kernel
//! runs its BPF programs inside), and only then clears what is keyed by the slots and gives
//! them back. Processes still running in a released cgroup would keep their program slot in
//! `TASK_SLOT`, so release needs the cgroup empty or gone (checked by id); an ignored child's
//! processes keep theirs too, but their syscalls are never counted again (their target is
//! ignored), so its slots can be freed at once.

use std::collections::BTreeSet;

use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray, PerCpuValues, Queue};
use sysallow_common::caps::{self, CapKey, PrivExecKey, cred_id_parts};
use sysallow_common::{
    ArgKey, ExitFacts, NO_SLOT, ProgramKey, SLOT_COUNTERS, SlotCounters, TARGET_BOUNDARY,
    TARGET_CHILD, TARGET_IGNORED, TargetInfo, arg_set_target_counter, counts_index,
    first_seen_slot_counter, maps,
};

use super::{ArmedTarget, ForMap as _, Tracer, TracerError, map_mut, map_ref};
use crate::cgroup::{Cgroup2Mount, Occupancy};

/// include/uapi/linux/bpf.h: update flags.
const BPF_NOEXIST: u64 = 1;

/// What a release freed (for a caller's log and the tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// The slots given back: base, set-up and every program slot of the child.
    pub slots: BTreeSet<u32>,
}

/// The `TARGETS` entry of an ignored child: no slot, so nothing is counted and nothing held.
const IGNORED: TargetInfo = TargetInfo {
    index: NO_SLOT,
    base_slot: NO_SLOT,
    setup_slot: NO_SLOT,
    flags: TARGET_CHILD | TARGET_IGNORED,
};

/// The errno of a failed map syscall, if that is what failed.
fn errno(err: &MapError) -> Option<i32> {
    match err {
        MapError::SyscallError(e) => e.io_error.raw_os_error(),
        _ => None,
    }
}

impl Tracer {
    /// Make child cgroup `cgroup_id` of a split or leaf-split target a target now, and follow
    /// its processes already running (`running`: pid and executable, e.g. every process of the
    /// cgroup when a node agent starts on a node with pods): they are past any runtime
    /// boundary, and count under their programs in this child. Processes that start later are
    /// followed as always (fork, exec). If the kernel made it a target already (it made a
    /// syscall), that target is kept. `None` if the child is ignored.
    ///
    /// In leaf-split mode, `Root::running` should hold only processes of the armed cgroup
    /// itself: a process adopted there counts under the armed target's programs wherever it
    /// runs. A process that forks between the caller's listing and this call leaves a child
    /// that is not followed (counted as unattributed, or as set-up with `TARGET_BOUNDARY`).
    pub fn adopt_child(
        &mut self,
        cgroup_id: u64,
        running: &[(u32, String)],
    ) -> Result<Option<ArmedTarget>, TracerError> {
        let info = match self.child_entry(cgroup_id)? {
            Some(info) => info,
            None => {
                let base = self.claim_slot()?;
                let setup = match self.claim_slot() {
                    Ok(setup) => setup,
                    Err(e) => {
                        self.unclaim(&[base])?;
                        return Err(e);
                    }
                };
                let info = TargetInfo {
                    index: base,
                    base_slot: base,
                    setup_slot: setup,
                    flags: (self.flags & TARGET_BOUNDARY) | TARGET_CHILD,
                };
                let mut targets: HashMap<&mut MapData, u64, TargetInfo> =
                    map_mut(&mut self.ebpf, maps::TARGETS)?;
                match targets.insert(cgroup_id, info, BPF_NOEXIST) {
                    Ok(()) => info,
                    // The kernel made it a target meanwhile (a syscall), or it was ignored.
                    Err(e) if errno(&e) == Some(libc::EEXIST) => {
                        let existing = targets.get(&cgroup_id, 0).for_map(maps::TARGETS)?;
                        self.unclaim(&[base, setup])?;
                        existing
                    }
                    Err(e) => {
                        self.unclaim(&[base, setup])?;
                        return Err(e).for_map(maps::TARGETS);
                    }
                }
            }
        };
        if info.flags & TARGET_IGNORED != 0 {
            return Ok(None);
        }
        for (pid, exe) in running {
            self.adopt(&info, *pid, exe)?;
        }
        // A CPU may hold a cached "no entry" for one of these processes (`task::task_value`).
        self.caches_stale()?;
        Ok(Some(ArmedTarget { cgroup_id, info }))
    }

    /// The children ignored with [`Tracer::ignore_child`] and not yet released, by cgroup id: a
    /// long-running agent releases those whose cgroup is gone.
    pub fn ignored_children(&self) -> Result<Vec<u64>, TracerError> {
        let targets: HashMap<&MapData, u64, TargetInfo> = map_ref(&self.ebpf, maps::TARGETS)?;
        let mut ignored = Vec::new();
        for entry in targets.iter() {
            let (cgroup_id, info) = entry.for_map(maps::TARGETS)?;
            if info.flags & TARGET_IGNORED != 0 {
                ignored.push(cgroup_id);
            }
        }
        ignored.sort_unstable();
        Ok(ignored)
    }

    /// The `TARGETS` entry of `cgroup_id`, if any.
    fn child_entry(&self, cgroup_id: u64) -> Result<Option<TargetInfo>, TracerError> {
        let targets: HashMap<&MapData, u64, TargetInfo> = map_ref(&self.ebpf, maps::TARGETS)?;
        match targets.get(&cgroup_id, 0) {
            Ok(info) => Ok(Some(info)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e).for_map(maps::TARGETS),
        }
    }

    /// Give back slots nothing uses (any more): free in `SLOTS_TAKEN`, then offered to the next
    /// claim in `FREE_SLOTS`.
    pub(super) fn unclaim(&mut self, slots: &[u32]) -> Result<(), TracerError> {
        {
            let mut taken: HashMap<&mut MapData, u32, u8> =
                map_mut(&mut self.ebpf, maps::SLOTS_TAKEN)?;
            for slot in slots {
                ignore_missing(taken.remove(slot)).for_map(maps::SLOTS_TAKEN)?;
            }
        }
        let mut free: Queue<&mut MapData, u32> = map_mut(&mut self.ebpf, maps::FREE_SLOTS)?;
        for slot in slots {
            match free.push(slot, 0) {
                Ok(()) => {}
                // Full only with stale entries (slots user space claimed from the search): the
                // kernel's search from the hint, which wraps, still finds this one.
                Err(e) if errno(&e) == Some(libc::E2BIG) => {}
                Err(e) => return Err(e).for_map(maps::FREE_SLOTS),
            }
        }
        Ok(())
    }

    /// A slot from `FREE_SLOTS`, claimed, if one is there (`Tracer::claim_slot` tries it
    /// first, as the kernel does).
    pub(super) fn claim_freed_slot(&mut self) -> Result<Option<u32>, TracerError> {
        loop {
            let slot = {
                let mut free: Queue<&mut MapData, u32> = map_mut(&mut self.ebpf, maps::FREE_SLOTS)?;
                match free.pop(0) {
                    Ok(slot) => slot,
                    Err(MapError::ElementNotFound) => return Ok(None),
                    Err(e) if errno(&e) == Some(libc::ENOENT) => return Ok(None),
                    Err(e) => return Err(e).for_map(maps::FREE_SLOTS),
                }
            };
            let mut taken: HashMap<&mut MapData, u32, u8> =
                map_mut(&mut self.ebpf, maps::SLOTS_TAKEN)?;
            if taken.insert(slot, 1, BPF_NOEXIST).is_ok() {
                return Ok(Some(slot));
            }
            // Stale: taken since it was freed. The next one.
        }
    }

    /// After user space changed `TASK_SLOT`, or changed or removed a `TARGETS` entry: every
    /// CPU's cached entries are stale (the kernel's writers bump `TASK_GEN` the same way).
    fn caches_stale(&mut self) -> Result<(), TracerError> {
        let mut generation: Array<&mut MapData, u64> = map_mut(&mut self.ebpf, maps::TASK_GEN)?;
        let now = generation.get(&0, 0).for_map(maps::TASK_GEN)?;
        generation
            .set(0, now.wrapping_add(1), 0)
            .for_map(maps::TASK_GEN)
    }

    /// Stop counting child cgroup `cgroup_id` (an unselected pod's container, a pause
    /// container) of a split or leaf-split target, before or after its first syscall.
    ///
    /// Before: an ignored entry is inserted, so the kernel never makes it a target. After: its
    /// entry becomes the ignored one and its slots (base, set-up, programs) are freed with
    /// everything counted in them. Either way its syscalls then cost one map lookup, and it
    /// holds no slot. Idempotent. The entry stays until [`Tracer::release_child`] forgets it
    /// (do that once its cgroup is gone, or a long-running tracer fills `TARGETS`).
    pub fn ignore_child(&mut self, cgroup_id: u64) -> Result<Released, TracerError> {
        let existing = {
            let mut targets: HashMap<&mut MapData, u64, TargetInfo> =
                map_mut(&mut self.ebpf, maps::TARGETS)?;
            match targets.insert(cgroup_id, IGNORED, BPF_NOEXIST) {
                Ok(()) => return Ok(Released::default()),
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(e).for_map(maps::TARGETS),
            }
            // Only the kernel inserts besides us, and only new keys: this entry stays until we
            // change it.
            let existing = targets.get(&cgroup_id, 0).for_map(maps::TARGETS)?;
            if existing.flags & TARGET_IGNORED != 0 {
                return Ok(Released::default());
            }
            targets
                .insert(cgroup_id, IGNORED, 0)
                .for_map(maps::TARGETS)?;
            existing
        };
        // No CPU may go on counting it from a cached entry once its slots are freed below.
        self.caches_stale()?;
        quiesce()?;
        self.free_slots_of(&existing)
    }

    /// Free everything child cgroup `cgroup_id` holds, once its counts have been read
    /// ([`Tracer::counts`]): its `TARGETS` entry, and its base, set-up and program slots with
    /// all keyed by them (counters zeroed, first-seen times, argument values and sets, exit
    /// facts, program paths, capability checks, privileged execs, effective ids, its user
    /// namespace), so that new children reuse the slots. An ignored child's entry
    /// is forgotten the same way. Unknown ids are no error (nothing to free).
    ///
    /// Precondition, enforced: the cgroup is empty or gone (checked by its id: see
    /// [`Cgroup2Mount::populated_by_id`]), else [`TracerError::ChildInUse`]; a process still
    /// in it would keep counting into its program slot after another target took it. A
    /// process that left it for another cgroup under the same armed parent carries its
    /// program slot along; release only children whose processes ended there (containers do).
    /// If the cgroup is still there and a process enters it later, it becomes a new target.
    /// The counts read before the release are the child's last; [`Tracer::counts`] of its old
    /// `ArmedTarget` afterwards reads whatever target reuses the slots.
    pub fn release_child(&mut self, cgroup_id: u64) -> Result<Released, TracerError> {
        let in_use = |source| TracerError::ChildCgroup { cgroup_id, source };
        let occupancy = Cgroup2Mount::find()
            .and_then(|mount| mount.populated_by_id(cgroup_id))
            .map_err(in_use)?;
        if occupancy == Occupancy::Populated {
            return Err(TracerError::ChildInUse { cgroup_id });
        }
        let existing = {
            let mut targets: HashMap<&mut MapData, u64, TargetInfo> =
                map_mut(&mut self.ebpf, maps::TARGETS)?;
            let existing = match targets.get(&cgroup_id, 0) {
                Ok(info) => info,
                Err(MapError::KeyNotFound) => return Ok(Released::default()),
                Err(e) => return Err(e).for_map(maps::TARGETS),
            };
            match targets.remove(&cgroup_id) {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::ENOENT) => {}
                Err(e) => return Err(e).for_map(maps::TARGETS),
            }
            existing
        };
        // A cached entry would name slots freed below (or keep ignoring a new target).
        self.caches_stale()?;
        if existing.flags & TARGET_IGNORED != 0 {
            return Ok(Released::default());
        }
        quiesce()?;
        self.free_slots_of(&existing)
    }

    /// Clear what is keyed by `target`'s slots and give them back. Only once no program run
    /// can still find them (after [`quiesce`]).
    fn free_slots_of(&mut self, target: &TargetInfo) -> Result<Released, TracerError> {
        let mut slots = BTreeSet::from([target.base_slot, target.setup_slot]);
        // Its programs' slots, and their keys (a new target reusing the base slot has the same
        // index: its programs must not find these).
        let program_keys: Vec<(ProgramKey, u32)> = {
            let programs: HashMap<&MapData, ProgramKey, u32> =
                map_ref(&self.ebpf, maps::PROGRAM_SLOTS)?;
            let mut keys = Vec::new();
            for entry in programs.iter() {
                let (key, slot) = entry.for_map(maps::PROGRAM_SLOTS)?;
                if key.target == target.index {
                    keys.push((key, slot));
                }
            }
            keys
        };
        slots.extend(program_keys.iter().map(|(_, slot)| *slot));
        slots.retain(|slot| *slot < self.slots);

        // Counters, in every shard.
        {
            let mut counters: Array<&mut MapData, SlotCounters> =
                map_mut(&mut self.ebpf, maps::COUNTS)?;
            let shards = counters.len() / self.slots;
            let zero = [0u64; SLOT_COUNTERS];
            for shard in 0..shards {
                for slot in &slots {
                    counters
                        .set(counts_index(shard, *slot, self.slots), zero, 0)
                        .for_map(maps::COUNTS)?;
                }
            }
        }
        // First-seen times of those slots.
        remove_where(&mut self.ebpf, maps::FIRST_SEEN, |key: &u32, _: &u64| {
            slots.contains(&first_seen_slot_counter(*key).0)
        })?;
        // Argument values and sets, exit facts: keyed by the target's index.
        remove_where(&mut self.ebpf, maps::ARG_VALUES, |key: &ArgKey, _: &u8| {
            key.target == target.index
        })?;
        remove_where(&mut self.ebpf, maps::ARG_SETS, |key: &u64, _: &u32| {
            arg_set_target_counter(*key).0 == target.index
        })?;
        remove_where(
            &mut self.ebpf,
            maps::EXIT_FACTS,
            |key: &u64, _: &ExitFacts| arg_set_target_counter(*key).0 == target.index,
        )?;
        // Capability checks (keyed by program slot), privileged execs and effective ids (by
        // the target's index), and the target's own user namespace: a container reusing these
        // slots must not inherit another's privileges, nor have its namespace relation
        // measured against a namespace that was another container's. The maps exist in every
        // load (empty when capabilities are not recorded).
        remove_where(
            &mut self.ebpf,
            caps::maps::CAP_CHECKS,
            |key: &CapKey, _: &u64| slots.contains(&key.slot),
        )?;
        remove_where(
            &mut self.ebpf,
            caps::maps::PRIV_EXECS,
            |key: &PrivExecKey, _: &u64| key.target == target.index,
        )?;
        remove_where(&mut self.ebpf, caps::maps::CRED_IDS, |key: &u64, _: &u8| {
            cred_id_parts(*key).0 == target.index
        })?;
        {
            let mut userns: Array<&mut MapData, u64> =
                map_mut(&mut self.ebpf, caps::maps::TARGET_USERNS)?;
            if target.index < userns.len() {
                userns
                    .set(target.index, 0, 0)
                    .for_map(caps::maps::TARGET_USERNS)?;
            }
        }
        // Each CPU's last captured value: a new target with this index must not take its
        // first value for one already kept.
        {
            let mut last: PerCpuArray<&mut MapData, ArgKey> =
                map_mut(&mut self.ebpf, maps::LAST_CAPTURE)?;
            let cpus = super::possible_cpus()? as usize;
            let none = ArgKey {
                target: NO_SLOT,
                counter: 0,
                value: 0,
            };
            let values =
                PerCpuValues::try_from(vec![none; cpus]).map_err(|e| TracerError::Map {
                    map: maps::LAST_CAPTURE,
                    source: MapError::SyscallError(aya::sys::SyscallError {
                        call: "nr_cpus",
                        io_error: e,
                    }),
                })?;
            last.set(0, values, 0).for_map(maps::LAST_CAPTURE)?;
        }
        {
            let mut programs: HashMap<&mut MapData, ProgramKey, u32> =
                map_mut(&mut self.ebpf, maps::PROGRAM_SLOTS)?;
            for (key, _) in &program_keys {
                ignore_missing(programs.remove(key)).for_map(maps::PROGRAM_SLOTS)?;
            }
        }
        // Last: the slots become free to claim, offered first to the next claims, and the
        // kernel's search from the hint starts at the lowest.
        let freed: Vec<u32> = slots.iter().copied().collect();
        self.unclaim(&freed)?;
        if let Some(lowest) = slots.first().copied() {
            let mut next: Array<&mut MapData, u32> = map_mut(&mut self.ebpf, maps::NEXT_SLOT)?;
            let hint = next.get(&0, 0).for_map(maps::NEXT_SLOT)?;
            if lowest < hint {
                next.set(0, lowest, 0).for_map(maps::NEXT_SLOT)?;
            }
        }
        Ok(Released { slots })
    }
}

/// A delete of a key that is already gone (the kernel removed it, or it was never there) is
/// what was wanted.
fn ignore_missing(result: Result<(), MapError>) -> Result<(), MapError> {
    match result {
        Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// Remove every entry of hash map `name` for which `matches` holds (keys collected first: a
/// delete during the walk would restart it).
fn remove_where<K: aya::Pod, V: aya::Pod>(
    ebpf: &mut aya::Ebpf,
    name: &'static str,
    mut matches: impl FnMut(&K, &V) -> bool,
) -> Result<(), TracerError> {
    let mut map: HashMap<&mut MapData, K, V> = map_mut(ebpf, name)?;
    let mut doomed = Vec::new();
    for entry in map.iter() {
        let (key, value) = entry.for_map(name)?;
        if matches(&key, &value) {
            doomed.push(key);
        }
    }
    for key in &doomed {
        ignore_missing(map.remove(key)).for_map(name)?;
    }
    Ok(())
}

/// Wait until every BPF program run under way has ended: BPF programs attached to tracepoints
/// run inside an RCU read-side section, and `membarrier(MEMBARRIER_CMD_GLOBAL)` waits for an
/// RCU grace period (`synchronize_rcu()`, kernel/sched/membarrier.c) on a host with more than
/// one CPU online. A kernel with `nohz_full` refuses that command (EINVAL): then a pause far
/// longer than one program run (microseconds) stands in for it.
fn quiesce() -> Result<(), TracerError> {
    /// include/uapi/linux/membarrier.h.
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes two integer arguments and no pointer.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        return Ok(());
    }
    Err(TracerError::Quiesce(err))
}
