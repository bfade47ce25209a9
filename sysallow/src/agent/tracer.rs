//! The tracer as the agent uses it: `kubepods` armed once, every container cgroup below it a
//! target of its own from its first syscall (the runtime's set-up kept apart), unselected and
//! pause containers ignored, finished ones released so a node's churn of pods never runs out
//! of slots.

use std::collections::BTreeMap;
use std::path::Path;

use sysallow_profile::Abi;
use sysallow_profile::recording::Losses;

use crate::cgroup::CgroupDir;
use crate::ebpf::{ArmedTarget, Root, TargetCounts, Tracer, TracerError};

/// Program slots for a node, unless `--slots` says: each recorded container takes two (its
/// base and its runtime set-up) and one per program it runs; pause containers and unselected
/// pods take none (ignored), and a finished container's are released. kubelet's default of
/// 110 pods, one container each running a couple of programs, needs about 440. The maps keyed
/// by slots cost (measured by `ebpf::memory`'s test): 33 MiB at 2 CPUs, 89 MiB from 16 CPUs.
pub const AGENT_SLOTS: u32 = 512;

/// The agent's tracer.
pub struct AgentTracer {
    tracer: Tracer,
}

impl AgentTracer {
    /// Load and attach the programs with `kubepods` (`root`) armed in leaf-split mode with the
    /// runtime boundary, with `slots` program slots, counting failed syscalls if `exit_facts`.
    pub fn load(
        tracefs: &Path,
        root: &CgroupDir,
        slots: u32,
        exit_facts: bool,
    ) -> Result<AgentTracer, TracerError> {
        let (tracer, _) = Tracer::load(
            tracefs,
            &Root {
                cgroup_id: root.id,
                level: root.level,
                flags: sysallow_common::TARGET_BOUNDARY | sysallow_common::TARGET_LEAF,
                // Processes of pods already running are not followed: their containers'
                // syscalls from now on count as the runtime's until they exec again.
                running: Vec::new(),
                slots,
                // Each container's capability checks too: its securityContext comes from them.
                capabilities: true,
                // Off by default: every process of the node would run a second program at
                // every syscall (`agent --exit-facts`).
                exit_facts,
            },
        )?;
        Ok(AgentTracer { tracer })
    }

    /// The containers the kernel has made targets of, by cgroup id.
    pub fn children(&self) -> Result<BTreeMap<u64, ArmedTarget>, TracerError> {
        Ok(self
            .tracer
            .child_targets()?
            .into_iter()
            .map(|t| (t.cgroup_id, t))
            .collect())
    }

    /// Everything counted for these containers so far (they may still run), in their order,
    /// reading each shared map once.
    pub fn counts_of(
        &self,
        targets: &[ArmedTarget],
        host: Abi,
    ) -> Result<Vec<TargetCounts>, TracerError> {
        self.tracer.counts_of(targets, host)
    }

    /// Make a container that was running before the agent started a target now, its
    /// processes followed as the workload (past the runtime's set-up) under their programs.
    /// Processes that vanish while listed are skipped.
    pub fn adopt_child(&mut self, cgroup_id: u64, dir: &Path) -> Result<(), TracerError> {
        let running: Vec<(u32, String)> = crate::cgroup::procs(dir)
            .into_iter()
            .filter_map(|pid| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
                Some((pid, exe.display().to_string()))
            })
            .collect();
        self.tracer.adopt_child(cgroup_id, &running).map(drop)
    }

    /// Stop counting a container (a pause container, an unselected pod's), also before its
    /// first syscall.
    pub fn ignore_child(&mut self, cgroup_id: u64) -> Result<(), TracerError> {
        self.tracer.ignore_child(cgroup_id).map(drop)
    }

    /// Free a finished container's slots once its counts are read. Only for a cgroup that is
    /// empty or gone: nothing can count into its slots any more.
    pub fn release_child(&mut self, cgroup_id: u64) -> Result<(), TracerError> {
        self.tracer.release_child(cgroup_id).map(drop)
    }

    /// What could not be recorded (shared by every target).
    pub fn losses(&self) -> Result<Losses, TracerError> {
        self.tracer.losses()
    }
}
