//! The side of sysallow that touches the live system: loading and attaching the eBPF programs,
//! resolving targets (spawned command, cgroup, container, pid), collecting recordings, and
//! enforcing profiles. The `sysallow` binary (`main.rs`, `cli/`) is a thin layer over this.

pub mod agent;
pub mod cgroup;
pub mod cri;
pub mod ebpf;
pub mod enforce;
pub mod exec;
pub mod host;
pub mod live;
pub mod output;
pub mod privilege;
pub mod prove;
pub mod reaper;
pub mod record;
pub mod spawn;
pub mod stress;
pub mod target;
