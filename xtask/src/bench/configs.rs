//! What the bench compares: the configurations (ways to do sysallow's job, and reference
//! points), the workloads, and the sizes of a run.

use std::path::PathBuf;

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Config {
    Untraced,
    Floor,
    /// An empty BPF program on the sys_enter raw tracepoint.
    BpfEmpty,
    /// A BPF program that only computes sysallow's cgroup test (one helper call, one compare).
    BpfCgroupId,
    Sysallow,
    /// sysallow with its syscall programs on the classic tracepoints (its fallback where raw
    /// tracepoints are unavailable): shows what the raw tracepoint attach saves.
    SysallowTracepoint,
    /// sysallow without argument capture (`SYSALLOW_CAPTURE=off`): the A side of the
    /// capture-on/off comparison.
    SysallowNoCapture,
    /// sysallow without capability recording (`record --no-capabilities`): the A side of the
    /// capabilities-on/off comparison.
    SysallowNoCaps,
    /// sysallow's tracer loaded as `sysallow agent` loads it, watching a node's worth of
    /// containers (`Sizes::pods` leaf cgroups under a kubepods-like tree, a `sleep` each, every
    /// one a target): what a node agent costs an unrelated process, and a recorded container.
    Agent,
    /// The same as `agent --exit-facts` loads it (with `sys_exit`): what counting failed
    /// syscalls costs every syscall on the node.
    AgentExitFacts,
    Bpftrace,
    PerfTrace,
    Strace,
}

impl Config {
    pub(super) fn name(self) -> &'static str {
        match self {
            Config::Untraced => "untraced",
            Config::Floor => "ftrace-floor",
            Config::BpfEmpty => "bpf-empty",
            Config::BpfCgroupId => "bpf-cgroup-id",
            Config::Sysallow => "sysallow",
            Config::SysallowTracepoint => "sysallow-tracepoint",
            Config::SysallowNoCapture => "sysallow-no-capture",
            Config::SysallowNoCaps => "sysallow-no-caps",
            Config::Agent => "agent",
            Config::AgentExitFacts => "agent-exit-facts",
            Config::Bpftrace => "bpftrace",
            Config::PerfTrace => "perf-trace",
            Config::Strace => "strace",
        }
    }

    /// ptrace and perf's per-event records make a syscall ~100x dearer: fewer of them keep the
    /// run short, and the per-syscall figure is the same.
    pub(super) fn syscall_divisor(self) -> u64 {
        match self {
            Config::PerfTrace | Config::Strace => 50,
            _ => 1,
        }
    }

    /// Whether `workload` is measured under this configuration: ptrace only touches its
    /// tracee (no unrelated case for strace); the reference programs record nothing, so only
    /// the per-syscall cost they put on every task (the unrelated case) is of interest.
    pub(super) fn measures(self, workload: Workload) -> bool {
        if workload == Workload::Sockets {
            // The socket loop is there for the capture comparison.
            return matches!(
                self,
                Config::Untraced | Config::Floor | Config::Sysallow | Config::SysallowNoCapture
            );
        }
        if workload == Workload::Mmap {
            // The mmap loop is there for the capabilities comparison.
            return matches!(
                self,
                Config::Untraced | Config::Floor | Config::Sysallow | Config::SysallowNoCaps
            );
        }
        match self {
            Config::Strace => workload != Workload::Unrelated,
            Config::BpfEmpty | Config::BpfCgroupId => workload == Workload::Unrelated,
            // An unrelated process beside the agent, and a container it records.
            Config::Agent | Config::AgentExitFacts => {
                matches!(workload, Workload::Syscalls | Workload::Unrelated)
            }
            // The attach type matters per syscall: the two loops show it.
            Config::SysallowTracepoint | Config::SysallowNoCapture | Config::SysallowNoCaps => {
                matches!(workload, Workload::Syscalls | Workload::Unrelated)
            }
            _ => true,
        }
    }

    /// A sysallow recording (either attach).
    pub(super) fn is_sysallow(self) -> bool {
        matches!(
            self,
            Config::Sysallow
                | Config::SysallowTracepoint
                | Config::SysallowNoCapture
                | Config::SysallowNoCaps
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Workload {
    /// getppid loop in the traced cgroup.
    Syscalls,
    /// getppid loop outside it, while a recording of something else runs.
    Unrelated,
    /// tar of a directory tree into a pipe.
    Files,
    /// fork + exec + wait of /bin/true.
    ForkExec,
    /// socket + close loop in the traced cgroup: a syscall whose argument is captured.
    Sockets,
    /// mmap + munmap loop in the traced cgroup: each mmap makes an advisory CAP_SYS_ADMIN
    /// check, which capability recording counts.
    Mmap,
}

pub(super) const WORKLOADS: [Workload; 6] = [
    Workload::Syscalls,
    Workload::Unrelated,
    Workload::Files,
    Workload::ForkExec,
    Workload::Sockets,
    Workload::Mmap,
];

impl Workload {
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::Syscalls => "syscalls (traced getppid loop)",
            Workload::Unrelated => "unrelated process (getppid loop outside the target)",
            Workload::Files => "files (tar /usr/include | cat)",
            Workload::ForkExec => "fork/exec storm (/bin/true)",
            Workload::Sockets => "sockets (traced socket+close loop)",
            Workload::Mmap => "mmap (traced mmap+munmap loop, a CAP_SYS_ADMIN check each)",
        }
    }

    pub(super) fn key(self) -> &'static str {
        match self {
            Workload::Syscalls => "syscalls",
            Workload::Unrelated => "unrelated",
            Workload::Files => "files",
            Workload::ForkExec => "forkexec",
            Workload::Sockets => "sockets",
            Workload::Mmap => "mmap",
        }
    }

    /// Unit of the figure the workload prints (divided by `scale` for the table).
    pub(super) fn unit(self) -> (&'static str, f64) {
        match self {
            Workload::Syscalls | Workload::Unrelated => ("ns/syscall", 1.0),
            Workload::Files => ("ms/run", 1e6),
            Workload::ForkExec => ("µs/spawn", 1e3),
            Workload::Sockets | Workload::Mmap => ("ns/pair", 1.0),
        }
    }
}

/// One measurement: CPU and wall time per unit of work, in ns.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    pub(super) cpu: f64,
    pub(super) wall: f64,
}

pub(super) struct Sizes {
    pub(super) reps: usize,
    pub(super) syscalls: u64,
    pub(super) spawns: u64,
    /// Directory under /usr that the file workload archives.
    pub(super) files_dir: &'static str,
    pub(super) startup_reps: usize,
    /// Containers the agent configuration watches (kubelet's default maximum is 110 pods).
    pub(super) pods: usize,
}

pub(super) struct Env {
    pub(super) bin: PathBuf,
    pub(super) out: PathBuf,
    pub(super) sysallow: PathBuf,
    /// The reference tracer (`cargo build --example bench_reference`).
    pub(super) reference: PathBuf,
    pub(super) bpftrace_script: PathBuf,
    pub(super) cgroup: BenchCgroup,
    pub(super) v2_mount: PathBuf,
    pub(super) sizes: Sizes,
    /// What the sysallow recorder held while it ran: peak RSS (KiB) and its maps.
    pub(super) idle_rss_kib: Vec<u64>,
    pub(super) maps: Option<Vec<MapInfo>>,
    /// The kernel memory model's bytes per (map, CPUs), from the reference tracer.
    pub(super) map_model: BTreeMap<(String, u64), u64>,
}
