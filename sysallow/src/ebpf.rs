//! Loading, configuring and attaching the eBPF programs, and reading what they counted.
//!
//! The object is built by `build.rs` (aya-build) and embedded in the binary. Configuration that
//! depends on the running kernel (tracepoint record layouts, the cgroup level of the targets)
//! is read here and written into the program's globals before it is loaded.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};
use sysallow_common::{
    ABI_COMPAT, ABI_COUNT, ABI_NATIVE, ARG_OVERFLOW, ArgKey, ArgKind, ExitFacts, LOSS_KINDS, Loss,
    MAX_NR, MIN_SLOTS, ProgramKey, ROOT_BASE_SLOT, ROOT_SETUP_SLOT, SLOT_COUNTERS, SLOTS_LIMIT,
    SlotCounters, TARGET_BOUNDARY, TARGET_CHILD, TARGET_IGNORED, TargetInfo,
    arg_set_target_counter, counter_abi_nr, counter_index, counter_shards, counts_index,
    first_seen_slot_counter, globals, maps, task_entry,
};
use sysallow_profile::args::ArgValues;
use sysallow_profile::recording::{CONTAINER_RUNTIME, Failures, Losses, UNATTRIBUTED};
use sysallow_profile::{Abi, Recording};

mod boundary;
pub mod caps;
mod children;
mod kernel_btf;
pub mod memory;
mod reference;
use boundary::SeccompState;
pub use children::Released;
use kernel_btf::KernelBtf;
pub use reference::{Reference, ReferenceProgram};

/// The eBPF object, or an empty stub when the binary was built without the BPF toolchain.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sysallow-ebpf"));

/// Where tracefs lives when it is mounted by hand (FIELD-NOTES: not mounted at boot here).
pub const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(Debug, thiserror::Error)]
pub enum TracerError {
    #[error(
        "this sysallow was built without its eBPF program (bpf-linker was missing or \
         SYSALLOW_SKIP_EBPF was set); run `cargo xtask setup` and rebuild"
    )]
    NoObject,
    #[error(
        "recording needs an x86_64 host: the kernel side reads x86_64 facts (TS_COMPAT in \
         thread_info.status, the pt_regs offsets of the syscall arguments); this host is \
         {arch}. Recordings made on x86_64 can still be generated, merged, diffed and explained \
         here"
    )]
    UnsupportedArch { arch: &'static str },
    #[error("reading tracepoint layout {path}")]
    Format {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing the embedded eBPF object")]
    Object(#[source] aya_obj::ParseError),
    #[error("map {name} has type {map_type}, which the kernel memory model does not know")]
    UnknownMapType { name: String, map_type: u32 },
    #[error("creating a probe map of type {map_type} to read the kernel's memory accounting")]
    ProbeMap {
        map_type: u32,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the kernel's memlock for the probe maps ({memlock:?}) does not follow the kernel \
         memory model's formulas (kernel/bpf/arraymap.c, hashtab.c changed?)"
    )]
    KernelSizes { memlock: Vec<u64> },
    #[error("reading the possible CPUs ({path})")]
    PossibleCpus {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("tracepoint {event} has no field {field} in its format (kernel layout changed?)")]
    FormatField { event: String, field: String },
    #[error("loading the eBPF object")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {program}")]
    Program {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("eBPF object has no {kind} named {name}")]
    Missing {
        kind: &'static str,
        name: &'static str,
    },
    #[error("every one of the {max} program slots is taken")]
    SlotsFull { max: u32 },
    #[error("a tracer has {min} to {max} program slots, not {slots}")]
    SlotCount { slots: u32, min: u32, max: u32 },
    #[error(
        "child cgroup {cgroup_id} still has processes: its slots cannot be released while \
         anything could still count into them (release a child once its cgroup is empty or gone)"
    )]
    ChildInUse { cgroup_id: u64 },
    #[error("checking whether child cgroup {cgroup_id} is empty")]
    ChildCgroup {
        cgroup_id: u64,
        #[source]
        source: crate::cgroup::CgroupError,
    },
    #[error("waiting for running eBPF programs to finish (membarrier)")]
    Quiesce(#[source] std::io::Error),
    #[error("recording capability checks")]
    Capabilities(#[from] caps::CapsError),
}

/// `TracerError::Map` for a failed operation on map `map`: the one way a map error gets its
/// map's name.
trait ForMap<T> {
    fn for_map(self, map: &'static str) -> Result<T, TracerError>;
}

impl<T> ForMap<T> for Result<T, aya::maps::MapError> {
    fn for_map(self, map: &'static str) -> Result<T, TracerError> {
        self.map_err(|source| TracerError::Map { map, source })
    }
}

/// The (ABI, syscall number) of counter index `counter` on a host whose ABIs are `abis`
/// (native first), if the host has that ABI.
fn syscall_at(abis: &[Abi], counter: u32) -> Option<(Abi, u32)> {
    let (abi_index, nr) = counter_abi_nr(counter);
    abis.get(abi_index as usize).map(|abi| (*abi, nr))
}

/// A target armed in the kernel, as the collector knows it.
#[derive(Clone, Copy, Debug)]
pub struct ArmedTarget {
    pub cgroup_id: u64,
    pub info: TargetInfo,
}

/// Counts read back for one target.
#[derive(Clone, Debug, Default)]
pub struct TargetCounts {
    /// The workload's: (ABI, syscall number, program) -> count.
    pub counts: BTreeMap<(Abi, u32, String), u64>,
    /// The container runtime's set-up, before the boundary: (ABI, syscall number) -> count.
    pub setup: BTreeMap<(Abi, u32), u64>,
    /// Capability checks, privileged execs and effective ids, when they were recorded.
    pub privileges: Option<sysallow_profile::privileges::Privileges>,
    /// The workload's first-seen times: (ABI, syscall number, program) -> CLOCK_MONOTONIC ns.
    pub first_seen: BTreeMap<(Abi, u32, String), u64>,
    /// The values of captured arguments: (ABI, syscall number) -> the set.
    pub args: BTreeMap<(Abi, u32), ArgValues>,
    /// How syscalls failed with EPERM or ENOSYS (only where `sys_exit` is attached:
    /// `Root::exit_facts`).
    pub exits: BTreeMap<(Abi, u32), ExitFacts>,
}

impl TargetCounts {
    /// Put these counts into `recording`; first-seen times become milliseconds from
    /// `start_ns` (CLOCK_MONOTONIC, read when the recording started).
    pub fn fill(&self, recording: &mut Recording, start_ns: u64) {
        for ((abi, nr, program), count) in &self.counts {
            recording.add(*abi, *nr, program, *count);
        }
        for ((abi, nr, program), ns) in &self.first_seen {
            recording.note_first_seen(*abi, *nr, program, ns.saturating_sub(start_ns) / 1_000_000);
        }
        for ((abi, nr), values) in &self.args {
            recording.note_args(*abi, *nr, values);
        }
        for ((abi, nr), f) in &self.exits {
            recording.note_failures(
                *abi,
                *nr,
                &Failures {
                    eperm: f.entered_eperm,
                    enosys: f.entered_enosys,
                },
                &Failures {
                    eperm: f.denied_eperm,
                    enosys: f.denied_enosys,
                },
            );
        }
        for ((abi, nr), count) in &self.setup {
            recording.add_runtime_setup(*abi, *nr, *count);
        }
        if let Some(privileges) = &self.privileges {
            recording.privileges = Some(privileges.clone());
        }
    }
}

/// How far a recording has come (see [`Tracer::progress`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Distinct (ABI, syscall) seen.
    pub syscalls: usize,
    /// Program slots that made a syscall.
    pub slots: usize,
    /// The newest first appearance: CLOCK_MONOTONIC ns, ABI and syscall name.
    pub last_new: Option<(u64, Abi, String)>,
}

/// The cgroup a session arms: known before the programs load, and built into them.
#[derive(Clone, Debug)]
pub struct Root {
    pub cgroup_id: u64,
    /// Its depth in the v2 hierarchy.
    pub level: u32,
    /// `sysallow_common::TARGET_*`.
    pub flags: u32,
    /// Processes already running in it (pid, executable): past any boundary, followed under
    /// their programs. Adopted before the programs attach, so their forks inherit it.
    pub running: Vec<(u32, String)>,
    /// Program slots ([`sysallow_common::MAX_SLOTS`] for `record`): each target takes two (its
    /// base and set-up slots) and one per program it runs; a node agent with many containers
    /// needs more. The maps keyed by slots are sized to match at load (kernel memory:
    /// [`memory::kernel_memory_for`]); from [`sysallow_common::MIN_SLOTS`] to
    /// [`sysallow_common::SLOTS_LIMIT`].
    pub slots: u32,
    /// Record capability checks and privileged execs too (`record --no-capabilities` turns
    /// it off; see `ebpf::caps`).
    pub capabilities: bool,
    /// Count the syscalls that failed with EPERM or ENOSYS, and those a filter in place denied
    /// before entry (`ExitFacts`, from which `generate` answers them as they were answered):
    /// this attaches `sys_exit`, which every task on the machine then runs at every syscall's
    /// exit, a second program per syscall. `record` of a container does; the node agent
    /// does not unless asked (`agent --exit-facts`).
    pub exit_facts: bool,
}

/// The loaded and attached programs. Dropping it detaches everything.
pub struct Tracer {
    ebpf: Ebpf,
    attach: Attach,
    /// `Root::slots`.
    slots: u32,
    /// `Root::flags`.
    flags: u32,
    /// The capability hook, when capability checks are recorded.
    caps: Option<caps::Hook>,
}

/// Offsets of the tracepoint fields the programs read, from tracefs `format` files.
struct Layout {
    newtask_pid: u32,
    newtask_flags: u32,
    exec_filename: u32,
    exit_group_dead: u32,
    enter_id: u32,
    enter_args: u32,
    exit_ret: u32,
    exit_id: u32,
}

impl Layout {
    fn read(tracefs: &Path) -> Result<Self, TracerError> {
        Ok(Layout {
            newtask_pid: field_offset(tracefs, "task/task_newtask", "pid")?,
            newtask_flags: field_offset(tracefs, "task/task_newtask", "clone_flags")?,
            exec_filename: field_offset(tracefs, "sched/sched_process_exec", "filename")?,
            exit_group_dead: field_offset(tracefs, "sched/sched_process_exit", "group_dead")?,
            enter_id: field_offset(tracefs, "raw_syscalls/sys_enter", "id")?,
            enter_args: field_offset(tracefs, "raw_syscalls/sys_enter", "args")?,
            exit_ret: field_offset(tracefs, "raw_syscalls/sys_exit", "ret")?,
            exit_id: field_offset(tracefs, "raw_syscalls/sys_exit", "id")?,
        })
    }
}

/// How the syscall programs are attached to `raw_syscalls:sys_enter`/`sys_exit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A raw tracepoint: no trace record is built, the cheapest (the default).
    Raw,
    /// A classic tracepoint: the fallback where raw tracepoints are unavailable.
    Tracepoint,
}

impl Attach {
    /// What `SYSALLOW_ATTACH` (raw | tracepoint) asks for; `None` means raw, falling back.
    fn requested() -> Option<Attach> {
        match std::env::var("SYSALLOW_ATTACH").ok()?.as_str() {
            "raw" => Some(Attach::Raw),
            "tracepoint" => Some(Attach::Tracepoint),
            _ => None,
        }
    }
}

/// The offset of `field` in tracepoint `event`'s record. Layouts change between kernels (6.18
/// turned `sched_process_fork`'s comms into `__data_loc` strings, moving `child_pid`), so they
/// are read, never assumed.
fn field_offset(tracefs: &Path, event: &str, field: &str) -> Result<u32, TracerError> {
    let path = tracefs.join("events").join(event).join("format");
    let text = fs::read_to_string(&path).map_err(|source| TracerError::Format {
        path: path.display().to_string(),
        source,
    })?;
    parse_field_offset(&text, field).ok_or_else(|| TracerError::FormatField {
        event: event.to_owned(),
        field: field.to_owned(),
    })
}

/// Find `offset:N;` on the line declaring `field` in a tracefs `format` text, e.g.
/// `field:pid_t child_pid; offset:20; size:4; signed:1;`.
pub fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let name = decl.split_whitespace().last()?;
        let name = name.split('[').next()?;
        if name != field {
            return None;
        }
        let offset = rest
            .split(';')
            .find_map(|p| p.trim().strip_prefix("offset:"))?;
        offset.trim().parse().ok()
    })
}

impl Tracer {
    /// Load the programs for `root`, and attach them: from then on its syscalls are counted.
    pub fn load(tracefs: &Path, root: &Root) -> Result<(Self, ArmedTarget), TracerError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(TracerError::UnsupportedArch {
                arch: std::env::consts::ARCH,
            });
        }
        if OBJECT.is_empty() {
            return Err(TracerError::NoObject);
        }
        if !(MIN_SLOTS..=SLOTS_LIMIT).contains(&root.slots) {
            return Err(TracerError::SlotCount {
                slots: root.slots,
                min: MIN_SLOTS,
                max: SLOTS_LIMIT,
            });
        }
        let layout = Layout::read(tracefs)?;
        let task_status = task_status_offset();
        let shards = counter_shards(possible_cpus()?);
        let boundary = root.flags & TARGET_BOUNDARY != 0;
        let kernel = (root.capabilities || boundary).then(KernelBtf::vmlinux);
        let kernel = match kernel {
            Some(Ok(kernel)) => Some(kernel),
            Some(Err(err)) => {
                eprintln!("sysallow: warning: {}", sysallow_profile::error_chain(&err));
                None
            }
            None => None,
        };
        let seccomp_state = if boundary {
            let state = match kernel.as_ref().map(SeccompState::from_btf) {
                Some(Ok(state)) => state,
                Some(Err(err)) => {
                    eprintln!(
                        "sysallow: warning: the runtime boundary sees only a task's first \
                         seccomp filter: {}",
                        sysallow_profile::error_chain(&err)
                    );
                    SeccompState::SYSCALL_WORK
                }
                None => SeccompState::SYSCALL_WORK,
            };
            Some(state)
        } else {
            None
        };
        // Capability recording is an addition: where this kernel cannot have it, the syscalls
        // are still recorded, and the Recording says nothing of privileges.
        let offsets = match (root.capabilities, &kernel) {
            (true, Some(kernel)) => caps::Offsets::read(kernel)
                .map_err(|err| warn_no_capabilities(&err.into()))
                .ok(),
            (true, None) => {
                eprintln!("sysallow: warning: capability checks are not recorded");
                None
            }
            (false, _) => None,
        };
        // Several MiB, and nothing below needs it: not held while recording.
        drop(kernel);
        let mut loader = without_kernel_btf(EbpfLoader::new);
        for (name, entries) in memory::slot_sized_entries(root.slots, shards) {
            loader.map_max_entries(name, entries);
        }
        loader
            .override_global(globals::TARGET_LEVEL, &root.level, true)
            .override_global(globals::TARGET_CGROUP, &root.cgroup_id, true)
            .override_global(globals::TARGET_FLAGS, &root.flags, true)
            .override_global(globals::COUNTER_SHARDS, &shards, true)
            .override_global(globals::SLOT_LIMIT, &root.slots, true)
            .override_global(globals::NEWTASK_PID_OFFSET, &layout.newtask_pid, true)
            .override_global(globals::NEWTASK_FLAGS_OFFSET, &layout.newtask_flags, true)
            .override_global(globals::EXEC_FILENAME_OFFSET, &layout.exec_filename, true)
            .override_global(
                globals::EXIT_GROUP_DEAD_OFFSET,
                &layout.exit_group_dead,
                true,
            )
            .override_global(globals::TASK_STATUS_OFFSET, &task_status, true)
            .override_global(globals::SYS_ENTER_ID_OFFSET, &layout.enter_id, true)
            .override_global(globals::SYS_ENTER_ARGS_OFFSET, &layout.enter_args, true)
            .override_global(globals::SYS_EXIT_RET_OFFSET, &layout.exit_ret, true)
            .override_global(globals::SYS_EXIT_ID_OFFSET, &layout.exit_id, true);
        let [seccomp, prctl, seccomp_compat, prctl_compat] = filter_syscalls();
        loader
            .override_global(globals::NR_SECCOMP, &seccomp, true)
            .override_global(globals::NR_PRCTL, &prctl, true)
            .override_global(globals::NR_SECCOMP_COMPAT, &seccomp_compat, true)
            .override_global(globals::NR_PRCTL_COMPAT, &prctl_compat, true);
        if let Some(state) = &seccomp_state {
            state.configure(&mut loader);
        }
        if let Some(offsets) = &offsets {
            offsets.configure(&mut loader);
        }
        let ebpf = loader.load(OBJECT)?;
        let mut tracer = Tracer {
            ebpf,
            attach: Attach::Raw,
            slots: root.slots,
            flags: root.flags,
            caps: None,
        };

        // The root's slots are constants in the programs; mark them taken so no exec claims
        // them, and start the kernel's search after them.
        for slot in [ROOT_BASE_SLOT, ROOT_SETUP_SLOT] {
            let mut taken: HashMap<&mut MapData, u32, u8> =
                map_mut(&mut tracer.ebpf, maps::SLOTS_TAKEN)?;
            taken.insert(slot, 1, 0).for_map(maps::SLOTS_TAKEN)?;
        }
        {
            let mut next: Array<&mut MapData, u32> = map_mut(&mut tracer.ebpf, maps::NEXT_SLOT)?;
            next.set(0, ROOT_SETUP_SLOT + 1, 0)
                .for_map(maps::NEXT_SLOT)?;
        }
        let armed = ArmedTarget {
            cgroup_id: root.cgroup_id,
            info: TargetInfo {
                index: ROOT_BASE_SLOT,
                base_slot: ROOT_BASE_SLOT,
                setup_slot: ROOT_SETUP_SLOT,
                flags: root.flags,
            },
        };
        for (pid, exe) in &root.running {
            tracer.adopt(&armed.info, *pid, exe)?;
        }
        tracer.set_capture(Abi::native())?;

        // The bookkeeping programs first, so that a task is known before its syscalls count.
        for (program, category, name) in [
            ("sched_process_exec", "sched", "sched_process_exec"),
            ("task_newtask", "task", "task_newtask"),
            ("sched_process_exit", "sched", "sched_process_exit"),
            ("cgroup_attach_task", "cgroup", "cgroup_attach_task"),
        ] {
            let tp: &mut TracePoint = program_mut(&mut tracer.ebpf, program)?;
            tp.load()
                .and_then(|()| tp.attach(category, name).map(drop))
                .map_err(|source| TracerError::Program { program, source })?;
        }
        if let Some(offsets) = &offsets {
            match caps::attach(&mut tracer.ebpf, offsets) {
                Ok(hook) => {
                    eprintln!("sysallow: {}", hook.describe());
                    tracer.caps = Some(hook);
                }
                Err(err) => warn_no_capabilities(&err),
            }
        }
        let mut events = vec![("sys_enter", "sys_enter_tp")];
        if root.exit_facts {
            events.push(("sys_exit", "sys_exit_tp"));
        }
        let requested = Attach::requested();
        tracer.attach = match requested {
            Some(Attach::Tracepoint) => Attach::Tracepoint,
            _ => match tracer.attach_raw(&events) {
                Ok(()) => Attach::Raw,
                Err(err) if requested.is_none() => {
                    eprintln!(
                        "sysallow: warning: raw tracepoints are unavailable ({}); using the \
                         classic raw_syscalls tracepoints, which cost more per syscall",
                        sysallow_profile::error_chain(&err)
                    );
                    Attach::Tracepoint
                }
                Err(err) => return Err(err),
            },
        };
        if tracer.attach == Attach::Tracepoint {
            for (_, program) in &events {
                let tp: &mut TracePoint = program_mut(&mut tracer.ebpf, program)?;
                let event = program.trim_end_matches("_tp");
                tp.load()
                    .and_then(|()| tp.attach("raw_syscalls", event).map(drop))
                    .map_err(|source| TracerError::Program { program, source })?;
            }
        }
        Ok((tracer, armed))
    }

    /// Attach the syscall programs as raw tracepoints (all or none).
    fn attach_raw(&mut self, events: &[(&'static str, &'static str)]) -> Result<(), TracerError> {
        let mut links = Vec::new();
        for (program, _) in events {
            let raw: &mut RawTracePoint = program_mut(&mut self.ebpf, program)?;
            let attached = raw.load().and_then(|()| raw.attach(program));
            match attached {
                Ok(link) => links.push((*program, link)),
                Err(source) => {
                    // Detach what did attach, so the fallback does not count twice.
                    for (attached, link) in links {
                        if let Ok(raw) = program_mut::<RawTracePoint>(&mut self.ebpf, attached) {
                            let _ = raw.detach(link);
                        }
                    }
                    return Err(TracerError::Program { program, source });
                }
            }
        }
        Ok(())
    }

    /// How the syscall programs were attached.
    pub fn attach(&self) -> Attach {
        self.attach
    }

    /// Follow a process that is already running in a target (attaching to a running
    /// container): it is past any boundary, and its program is `exe`.
    fn adopt(&mut self, target: &TargetInfo, pid: u32, exe: &str) -> Result<(), TracerError> {
        let key = ProgramKey::new(target.index, exe.as_bytes());
        let existing = {
            let programs: HashMap<&MapData, ProgramKey, u32> =
                map_ref(&self.ebpf, maps::PROGRAM_SLOTS)?;
            programs.get(&key, 0).ok()
        };
        let slot = match existing {
            Some(slot) => slot,
            None => {
                let slot = self.claim_slot()?;
                let mut programs: HashMap<&mut MapData, ProgramKey, u32> =
                    map_mut(&mut self.ebpf, maps::PROGRAM_SLOTS)?;
                // With the programs attached (`adopt_child`), an exec of the same program may
                // have given it a slot meanwhile: keep that one, give ours back.
                const BPF_NOEXIST: u64 = 1;
                match programs.insert(key, slot, BPF_NOEXIST) {
                    Ok(()) => slot,
                    Err(e) => match programs.get(&key, 0) {
                        Ok(theirs) => {
                            self.unclaim(&[slot])?;
                            theirs
                        }
                        Err(_) => {
                            self.unclaim(&[slot])?;
                            return Err(e).for_map(maps::PROGRAM_SLOTS);
                        }
                    },
                }
            }
        };
        let mut tasks: HashMap<&mut MapData, u32, u32> = map_mut(&mut self.ebpf, maps::TASK_SLOT)?;
        tasks
            .insert(pid, task_entry(slot, true), 0)
            .for_map(maps::TASK_SLOT)
    }

    /// Targets the kernel side created for child cgroups of split and leaf-split targets, by
    /// cgroup id (not the children ignored with [`Tracer::ignore_child`]).
    pub fn child_targets(&self) -> Result<Vec<ArmedTarget>, TracerError> {
        let targets: HashMap<&MapData, u64, TargetInfo> = map_ref(&self.ebpf, maps::TARGETS)?;
        let mut children = Vec::new();
        for entry in targets.iter() {
            let (cgroup_id, info) = entry.for_map(maps::TARGETS)?;
            if info.flags & TARGET_CHILD != 0 && info.flags & TARGET_IGNORED == 0 {
                children.push(ArmedTarget { cgroup_id, info });
            }
        }
        children.sort_by_key(|t| t.info.index);
        Ok(children)
    }

    /// Take a free slot the way the kernel side does (an insert into `SLOTS_TAKEN` that fails
    /// if the slot is taken), so a target armed while programs run cannot collide with a slot
    /// an exec just claimed.
    fn claim_slot(&mut self) -> Result<u32, TracerError> {
        const BPF_NOEXIST: u64 = 1;
        if let Some(slot) = self.claim_freed_slot()? {
            return Ok(slot);
        }
        let mut taken: HashMap<&mut MapData, u32, u8> = map_mut(&mut self.ebpf, maps::SLOTS_TAKEN)?;
        let mut claimed = None;
        for slot in 0..self.slots {
            if taken.insert(slot, 1, BPF_NOEXIST).is_ok() {
                claimed = Some(slot);
                break;
            }
        }
        let slot = claimed.ok_or(TracerError::SlotsFull { max: self.slots })?;
        let mut next: Array<&mut MapData, u32> = map_mut(&mut self.ebpf, maps::NEXT_SLOT)?;
        let hint = next.get(&0, 0).unwrap_or(0);
        if hint <= slot {
            next.set(0, slot + 1, 0).for_map(maps::NEXT_SLOT)?;
        }
        Ok(slot)
    }

    /// Everything counted for `target`, by ABI, syscall and program. It reads the maps without
    /// changing them: it can be called at any time, also while the target runs (a periodic
    /// flush), and again later for the totals so far.
    pub fn counts(&self, target: &ArmedTarget, host: Abi) -> Result<TargetCounts, TracerError> {
        let mut all = self.counts_of(std::slice::from_ref(target), host)?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Tracer::counts`] of several targets, in their order, reading each map once: a node
    /// agent's periodic flush of hundreds of containers walks the shared maps (first-seen
    /// times, argument values) once, not once per container.
    pub fn counts_of(
        &self,
        targets: &[ArmedTarget],
        host: Abi,
    ) -> Result<Vec<TargetCounts>, TracerError> {
        // Which slots belong to which target, and the program each stands for.
        let mut by_index: BTreeMap<u32, usize> = BTreeMap::new();
        let mut slots: BTreeMap<u32, (usize, String)> = BTreeMap::new();
        for (i, target) in targets.iter().enumerate() {
            let info = target.info;
            by_index.insert(info.index, i);
            // In a container, a process that has not exec'd inside it is the runtime's.
            let unknown = if info.flags & TARGET_BOUNDARY != 0 {
                CONTAINER_RUNTIME
            } else {
                UNATTRIBUTED
            };
            slots.insert(info.base_slot, (i, unknown.to_owned()));
        }
        let programs: HashMap<&MapData, ProgramKey, u32> =
            map_ref(&self.ebpf, maps::PROGRAM_SLOTS)?;
        for entry in programs.iter() {
            let (key, slot) = entry.for_map(maps::PROGRAM_SLOTS)?;
            if let Some(i) = by_index.get(&key.target) {
                let program = String::from_utf8_lossy(key.path_bytes()).into_owned();
                slots.insert(slot, (*i, program));
            }
        }

        let mut results = vec![TargetCounts::default(); targets.len()];
        for (slot, (i, program)) in &slots {
            for (abi, nr, total) in self.slot_counts(*slot, host)? {
                *results[*i]
                    .counts
                    .entry((abi, nr, program.clone()))
                    .or_default() += total;
            }
        }
        let abis = host.host_abis();
        for (key, ns) in self.first_seen()? {
            let (slot, counter) = first_seen_slot_counter(key);
            let Some((i, program)) = slots.get(&slot) else {
                continue;
            };
            let Some((abi, nr)) = syscall_at(abis, counter as u32) else {
                continue;
            };
            let seen = results[*i]
                .first_seen
                .entry((abi, nr, program.clone()))
                .or_insert(ns);
            *seen = (*seen).min(ns);
        }
        if let Some(hook) = &self.caps {
            let privileges = caps::read(&self.ebpf, hook, &by_index, &slots, host)?;
            for (result, privileges) in results.iter_mut().zip(privileges) {
                result.privileges = Some(privileges);
            }
        }
        self.arg_values(&by_index, host, &mut results)?;
        self.exit_facts(&by_index, host, &mut results)?;
        for (target, result) in targets.iter().zip(&mut results) {
            for (abi, nr, total) in self.slot_counts(target.info.setup_slot, host)? {
                *result.setup.entry((abi, nr)).or_default() += total;
            }
        }
        Ok(results)
    }

    /// The nonzero counters of one slot, summed over the counter shards.
    fn slot_counts(&self, slot: u32, host: Abi) -> Result<Vec<(Abi, u32, u64)>, TracerError> {
        let abis = host.host_abis();
        let counters: Array<&MapData, SlotCounters> = map_ref(&self.ebpf, maps::COUNTS)?;
        let shards = counters.len() / self.slots;
        let mut total = [0u64; SLOT_COUNTERS];
        for shard in 0..shards {
            let counts = counters
                .get(&counts_index(shard, slot, self.slots), 0)
                .for_map(maps::COUNTS)?;
            for (sum, n) in total.iter_mut().zip(counts) {
                // 64-bit counters: 2^64 syscalls do not happen in a recording; saturate anyway.
                *sum = sum.saturating_add(n);
            }
        }
        let mut out = Vec::new();
        for abi_index in [ABI_NATIVE, ABI_COMPAT] {
            let Some(abi) = abis.get(abi_index as usize).copied() else {
                continue;
            };
            for nr in 0..MAX_NR {
                let n = total[counter_index(abi_index, nr)];
                if n > 0 {
                    out.push((abi, nr, n));
                }
            }
        }
        Ok(out)
    }

    /// The captured argument values of the targets whose index `by_index` maps to a position
    /// in `results`, per (ABI, syscall).
    fn arg_values(
        &self,
        by_index: &BTreeMap<u32, usize>,
        host: Abi,
        results: &mut [TargetCounts],
    ) -> Result<(), TracerError> {
        let abis = host.host_abis();
        let values: HashMap<&MapData, ArgKey, u8> = map_ref(&self.ebpf, maps::ARG_VALUES)?;
        for entry in values.iter() {
            let (key, _) = entry.for_map(maps::ARG_VALUES)?;
            let Some(i) = by_index.get(&key.target) else {
                continue;
            };
            if let Some(at) = syscall_at(abis, key.counter) {
                results[*i]
                    .args
                    .entry(at)
                    .or_default()
                    .values
                    .insert(key.value);
            }
        }
        let sets: HashMap<&MapData, u64, u32> = map_ref(&self.ebpf, maps::ARG_SETS)?;
        for entry in sets.iter() {
            let (key, count) = entry.for_map(maps::ARG_SETS)?;
            let (set_target, counter) = arg_set_target_counter(key);
            let Some(i) = by_index.get(&set_target) else {
                continue;
            };
            if count != ARG_OVERFLOW {
                continue;
            }
            if let Some(at) = syscall_at(abis, counter) {
                results[*i].args.entry(at).or_default().overflow = true;
            }
        }
        Ok(())
    }

    /// How the targets' syscalls failed with EPERM or ENOSYS, per (ABI, syscall); targets as
    /// in [`Tracer::arg_values`].
    fn exit_facts(
        &self,
        by_index: &BTreeMap<u32, usize>,
        host: Abi,
        results: &mut [TargetCounts],
    ) -> Result<(), TracerError> {
        let abis = host.host_abis();
        let facts: HashMap<&MapData, u64, ExitFacts> = map_ref(&self.ebpf, maps::EXIT_FACTS)?;
        for entry in facts.iter() {
            let (key, value) = entry.for_map(maps::EXIT_FACTS)?;
            let (set_target, counter) = arg_set_target_counter(key);
            let Some(i) = by_index.get(&set_target) else {
                continue;
            };
            if let Some(at) = syscall_at(abis, counter) {
                results[*i].exits.insert(at, value);
            }
        }
        Ok(())
    }

    /// Which syscalls have an argument captured (`sysallow_profile::args::CAPTURED`), in the host's
    /// ABIs. `SYSALLOW_CAPTURE=off` leaves them all out (the benchmark's A/B comparison).
    fn set_capture(&mut self, host: Abi) -> Result<(), TracerError> {
        if std::env::var("SYSALLOW_CAPTURE").is_ok_and(|v| v == "off") {
            return Ok(());
        }
        let mut capture: Array<&mut MapData, u32> = map_mut(&mut self.ebpf, maps::CAPTURE)?;
        for (abi_index, abi) in host.host_abis().iter().enumerate().take(ABI_COUNT as usize) {
            for (name, how) in sysallow_profile::args::CAPTURED {
                let Some(nr) = abi.syscall_nr(name).filter(|nr| *nr < MAX_NR) else {
                    continue;
                };
                let kind: ArgKind = *how;
                let index = counter_index(abi_index as u32, nr) as u32;
                capture
                    .set(index, kind.capture_entry(), 0)
                    .for_map(maps::CAPTURE)?;
            }
        }
        Ok(())
    }

    /// Every first-seen time: `first_seen_key` -> CLOCK_MONOTONIC ns.
    pub fn first_seen(&self) -> Result<BTreeMap<u32, u64>, TracerError> {
        let map: HashMap<&MapData, u32, u64> = map_ref(&self.ebpf, maps::FIRST_SEEN)?;
        let mut out = BTreeMap::new();
        for entry in map.iter() {
            let (key, ns) = entry.for_map(maps::FIRST_SEEN)?;
            out.insert(key, ns);
        }
        Ok(out)
    }

    /// How far a recording has come, for a live status line and `--until-stable`: read from
    /// the kernel's first-seen times, without the set-up slots of containers.
    pub fn progress(&self, host: Abi) -> Result<Progress, TracerError> {
        let abis = host.host_abis();
        // Per (ABI, syscall), the earliest time any slot made it.
        let mut first: BTreeMap<(Abi, u32), u64> = BTreeMap::new();
        let mut slots = std::collections::BTreeSet::new();
        for (key, ns) in self.first_seen()? {
            let (slot, counter) = first_seen_slot_counter(key);
            if slot == ROOT_SETUP_SLOT {
                continue;
            }
            let Some((abi, nr)) = syscall_at(abis, counter as u32) else {
                continue;
            };
            slots.insert(slot);
            let seen = first.entry((abi, nr)).or_insert(ns);
            *seen = (*seen).min(ns);
        }
        let last_new = first
            .iter()
            .max_by_key(|(_, ns)| **ns)
            .map(|((abi, nr), ns)| {
                let name = abi
                    .syscall_name(*nr)
                    .map_or_else(|| format!("(nr {nr})"), str::to_owned);
                (*ns, *abi, name)
            });
        Ok(Progress {
            syscalls: first.len(),
            slots: slots.len(),
            last_new,
        })
    }

    /// Whether capability checks are being recorded (asked for, and a hook loaded).
    pub fn records_capabilities(&self) -> bool {
        self.caps.is_some()
    }

    /// What could not be recorded, summed over CPUs (shared by all targets).
    pub fn losses(&self) -> Result<Losses, TracerError> {
        let counters: PerCpuArray<&MapData, u64> = map_ref(&self.ebpf, maps::LOSSES)?;
        let mut totals = [0u64; LOSS_KINDS as usize];
        for (loss, total) in Loss::ALL.iter().zip(&mut totals) {
            let values = counters.get(&loss.index(), 0).for_map(maps::LOSSES)?;
            *total = values.iter().sum();
        }
        let get = |loss: Loss| totals[loss.index() as usize];
        Ok(Losses {
            nr_out_of_range: get(Loss::NrOutOfRange),
            program_slots_full: get(Loss::SlotsFull),
            task_map_full: get(Loss::TaskMapFull),
            path_truncated: get(Loss::PathTruncated),
            counter_missing: get(Loss::CounterMissing),
            abi_unknown: get(Loss::AbiUnknown),
            targets_full: get(Loss::TargetsFull),
            first_seen_full: get(Loss::FirstSeenFull),
            arg_map_full: get(Loss::ArgMapFull),
            privileges_full: get(Loss::PrivilegesFull),
        })
    }
}

/// Say that capability checks will not be recorded, and why.
fn warn_no_capabilities(err: &TracerError) {
    eprintln!(
        "sysallow: warning: capability checks are not recorded: {}",
        sysallow_profile::error_chain(err)
    );
}

/// Run `f` (aya's `EbpfLoader::new`) where the kernel's BTF cannot be read.
///
/// aya 0.14 reads and parses `/sys/kernel/btf/vmlinux` in `EbpfLoader::new()` (~70 ms and
/// ~15 MiB of peak memory here), for CO-RE relocations these programs do not have, and offers
/// no way to skip it (aya 0.16 defers it, but needs rustc 1.98). So the call runs in a private
/// mount namespace where `/dev/null` is bind-mounted over that file, and the process switches
/// straight back: the namespace, and the bind mount with it, are gone once nothing uses them.
/// Propagation is made private first so that the bind mount is never seen elsewhere. Where any
/// step is not possible (not root, threads already running), `f` runs as it is.
fn without_kernel_btf<T>(f: impl FnOnce() -> T) -> T {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, setns, unshare};

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
    if !Path::new(VMLINUX).exists() {
        return f();
    }
    let Ok(original) = fs::File::open("/proc/self/ns/mnt") else {
        return f();
    };
    // setns() into a mount namespace moves the caller to its root directory: keep ours.
    let Ok(cwd) = nix::fcntl::open(
        ".",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return f();
    };
    // unshare(CLONE_NEWNS) refuses a process whose threads share its filesystem context.
    if unshare(CloneFlags::CLONE_NEWNS).is_err() {
        return f();
    }
    let hidden = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .and_then(|()| {
        mount(
            Some("/dev/null"),
            VMLINUX,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    });
    let result = f();
    if setns(&original, CloneFlags::CLONE_NEWNS).is_err() {
        // Stay usable: at least undo the bind mount in the namespace we are left in.
        if hidden.is_ok() {
            let _ = nix::mount::umount2(VMLINUX, nix::mount::MntFlags::MNT_DETACH);
        }
        eprintln!("sysallow: warning: could not return to the original mount namespace");
    }
    if nix::unistd::fchdir(&cwd).is_err() {
        eprintln!("sysallow: warning: could not return to the working directory");
    }
    result
}

/// The numbers of `seccomp` and `prctl` in the native and compat ABIs, from the syscall
/// tables (the kernel side watches them for the runtime boundary).
fn filter_syscalls() -> [u32; 4] {
    let host = Abi::native();
    let abis = host.host_abis();
    let native = abis.first().copied().unwrap_or(host);
    let compat = abis.get(1).copied().unwrap_or(native);
    // u32::MAX never matches a syscall number: an ABI without the call watches nothing.
    let nr = |abi: Abi, name: &str| abi.syscall_nr(name).unwrap_or(u32::MAX);
    [
        nr(native, "seccomp"),
        nr(native, "prctl"),
        nr(compat, "seccomp"),
        nr(compat, "prctl"),
    ]
}

/// Offset of `thread_info.status` in `task_struct` (x86_64 only: `Tracer::load` refuses other
/// hosts before this is used). On x86 with THREAD_INFO_IN_TASK,
/// `thread_info` is the first member of `task_struct` and is `{ unsigned long flags; unsigned
/// long syscall_work; u32 status; ... }` (arch/x86/include/asm/thread_info.h, Linux 5.11+).
/// The 32-bit recording test checks it on the running kernel.
fn task_status_offset() -> u32 {
    16
}

/// The CPUs the kernel sizes per-CPU data for (`/sys/devices/system/cpu/possible`).
pub fn possible_cpus() -> Result<u32, TracerError> {
    let n = aya::util::nr_cpus()
        .map_err(|(path, source)| TracerError::PossibleCpus { path, source })?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn program_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, TracerError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or(TracerError::Missing {
        kind: "program",
        name,
    })?;
    program.try_into().map_err(|source| TracerError::Program {
        program: name,
        source,
    })
}

fn map_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<T, TracerError>
where
    T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .map_mut(name)
        .ok_or(TracerError::Missing { kind: "map", name })?;
    T::try_from(map).for_map(name)
}

fn map_ref<'a, T>(ebpf: &'a Ebpf, name: &'static str) -> Result<T, TracerError>
where
    T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .map(name)
        .ok_or(TracerError::Missing { kind: "map", name })?;
    T::try_from(map).for_map(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets_from_a_tracefs_format() {
        // Linux 6.18's sched_process_fork, where the comms became __data_loc strings.
        let format = "name: sched_process_fork\nID: 320\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n\
            \tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\
            \tfield:__data_loc char[] child_comm;\toffset:16;\tsize:4;\tsigned:0;\n\
            \tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n";
        assert_eq!(parse_field_offset(format, "child_pid"), Some(20));
        assert_eq!(parse_field_offset(format, "parent_comm"), Some(8));
        assert_eq!(parse_field_offset(format, "pid"), None);
        let exit = "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n";
        assert_eq!(parse_field_offset(exit, "comm"), Some(8));
    }
}
