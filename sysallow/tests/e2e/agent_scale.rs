//! What `sysallow agent` costs on a node (issue 18, point 4): a node driven as kubelet drives
//! it (root + containerd's CRI) with many pods, each a pause sandbox and one small sleeping
//! container, all selected. Measured on the agent's process: the kernel memory of the maps it
//! holds (fdinfo `memlock`, which must be the memory model's figure for the agent's slots on
//! this kernel, map by map), its user memory (VmRSS, VmHWM) and its CPU time (utime + stime)
//! over a fixed idle window before and with the pods, and while the pods are created and
//! deleted. Every pod must be recorded, nothing may be lost, and nothing is left behind.
//!
//! The pod count is `SYSALLOW_SCALE_PODS` (default 20, for CI's time; 110 is kubelet's default
//! maximum: `SYSALLOW_SCALE_PODS=110`). The figures are printed (run with `--nocapture`). The
//! agent is the test build (debug) unless `SYSALLOW_AGENT_BINARY` names another (CPU figures of
//! a release build: `SYSALLOW_AGENT_BINARY=target/release/sysallow`).

use std::time::{Duration, Instant};

use crate::common::cri::Node;
use crate::common::cri::agent::{Agent, rec_files};
use crate::common::cri::kubelet::{ContainerSpec, Deployment, Kubelet, PodSpec};
use crate::common::image::PROBE;
use crate::kernel_memory::{HeldMap, maps_held_by};
use sysallow::ebpf::memory::{self, KernelSizes};
use sysallow_profile::Recording;

/// The default pod count: enough to show the per-pod cost, quick enough for CI.
const DEFAULT_PODS: usize = 20;
/// The idle windows, long enough for several of the agent's polls (every 500 ms).
const IDLE: Duration = Duration::from_secs(10);
/// Generous bounds (the figures are printed; these catch a leak or a busy loop, not noise).
const RSS_BOUND_MIB: f64 = 128.0;
/// Of one CPU, averaged over an idle window: a fixed part and a part per pod (the agent reads
/// each running container's counts every few polls, and lists them from CRI at each). A guard
/// against a busy loop or a cost growing faster than the pods, generous enough for a debug
/// build on a busy 2-core machine (measured: 0.7 % with no pod, 4.6 % with 20, 17.4 % with 110).
const IDLE_CPU_FIXED: f64 = 0.02;
const IDLE_CPU_PER_POD: f64 = 0.003;

/// The process's CPU time so far (utime + stime, all threads), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name's closing parenthesis: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no failure mode for this name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// `VmRSS` or `VmHWM` of the process, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib / 1024.0
}

/// The agent's CPU time over `window` with nothing changing on the node, as a share of one CPU.
fn idle_share(pid: u32, window: Duration) -> f64 {
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    (cpu_seconds(pid) - before) / window.as_secs_f64()
}

#[test]
fn agent_cost_on_a_node_of_many_pods() {
    // Alone: the CPU and memory figures are the agent's, not other tests' beside it.
    require!(alone: cri, agent);
    let pods: usize = std::env::var("SYSALLOW_SCALE_PODS")
        .ok()
        .map(|v| v.parse().expect("SYSALLOW_SCALE_PODS is a number"))
        .unwrap_or(DEFAULT_PODS);
    let node = Node::start();
    let kubelet = Kubelet::new(&node);
    let out = tempfile::tempdir().unwrap();
    let kubelet_dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(&kubelet, out.path(), kubelet_dir.path(), "node-a", &[]);
    let pid = agent.pid();

    // Kernel memory: what the kernel charges for the agent's maps is the model's figure for
    // the agent's slots (preallocated maps: it does not grow with the pods).
    let cpus = sysallow::ebpf::possible_cpus().unwrap();
    let sizes = KernelSizes::measure(cpus).unwrap();
    let model =
        memory::kernel_memory_for(cpus, sysallow::agent::tracer::AGENT_SLOTS, &sizes).unwrap();
    let mut expected: Vec<HeldMap> = model
        .iter()
        .map(|(d, bytes)| {
            (
                (d.map_type, d.key_size, d.value_size, d.max_entries, d.flags),
                *bytes,
            )
        })
        .collect();
    expected.sort();
    let held = maps_held_by(pid);
    assert_eq!(
        held, expected,
        "the agent's maps (left: kernel memlock) differ from the model (right)"
    );
    let kernel_mib = held.iter().map(|(_, m)| m).sum::<u64>() as f64 / 1048576.0;

    let idle_empty = idle_share(pid, IDLE);
    let rss_empty = status_mib(pid, "VmRSS");

    // Churn in: the pods, created one after the other as kubelet would.
    let deployment = Deployment {
        name: "fleet".into(),
        replicas: pods,
        template: PodSpec::new(
            "scale",
            vec![ContainerSpec::new("sleeper", &[PROBE, "sleep", "600"])],
        )
        .recorded(),
    };
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    let running = kubelet.deploy(&deployment);
    let mut agent = agent;
    // Every container recorded: an instance recording each, and the workload written.
    agent.wait_for_instances("scale", "fleet", "sleeper", pods);
    let (create_cpu, create_wall) = (cpu_seconds(pid) - cpu0, t0.elapsed());

    let idle_full = idle_share(pid, IDLE);
    let rss_full = status_mib(pid, "VmRSS");
    assert_eq!(
        maps_held_by(pid),
        expected,
        "the agent's maps changed with {pods} pods"
    );

    // Churn out: every pod deleted as kubelet does; the agent writes each container's end.
    let (cpu1, t1) = (cpu_seconds(pid), Instant::now());
    for pod in &running {
        kubelet.delete_pod(pod);
    }
    // The agent hears of the removals at its next polls.
    std::thread::sleep(Duration::from_secs(3));
    let (delete_cpu, delete_wall) = (cpu_seconds(pid) - cpu1, t1.elapsed());
    let hwm = status_mib(pid, "VmHWM");
    let lines = agent.lines();
    let status = agent.interrupt();
    assert!(status.success(), "sysallow agent: {status}");

    let instances = rec_files(&out.path().join("recordings/scale/fleet/sleeper"));
    assert_eq!(instances.len(), pods, "{instances:?}");
    for path in &instances {
        let rec = Recording::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            rec.losses,
            Default::default(),
            "{}: something was lost",
            path.display()
        );
        let names: Vec<&str> = rec.syscall_names().map(|(_, n)| n).collect();
        assert!(
            names.contains(&"nanosleep") || names.contains(&"clock_nanosleep"),
            "{}: {names:?}",
            path.display()
        );
    }
    let problems = node.stop();
    assert!(problems.is_empty(), "left behind: {problems:?}");

    eprintln!(
        "agent ({}) on a node of {pods} pods ({cpus} CPUs):\n\
         kernel memory (maps, memlock) {kernel_mib:.2} MiB, the model's figure for {} slots\n\
         user memory: VmRSS {rss_empty:.1} MiB with no pod, {rss_full:.1} MiB with {pods}; \
         VmHWM {hwm:.1} MiB\n\
         CPU: idle {:.2}% of a CPU with no pod, {:.2}% with {pods}; \
         {create_cpu:.2} s over {:.1} s creating them ({:.1} ms a pod), \
         {delete_cpu:.2} s over {:.1} s deleting them ({:.1} ms a pod)",
        std::env::var(crate::common::cri::agent::AGENT_BINARY)
            .unwrap_or_else(|_| "the test build".to_owned()),
        sysallow::agent::tracer::AGENT_SLOTS,
        idle_empty * 100.0,
        idle_full * 100.0,
        create_wall.as_secs_f64(),
        create_cpu * 1000.0 / pods as f64,
        delete_wall.as_secs_f64(),
        delete_cpu * 1000.0 / pods as f64,
    );
    assert!(
        hwm < RSS_BOUND_MIB,
        "VmHWM {hwm:.1} MiB with {pods} pods:\n{}",
        lines.join("\n")
    );
    for (n, share) in [(0, idle_empty), (pods, idle_full)] {
        let bound = IDLE_CPU_FIXED + IDLE_CPU_PER_POD * n as f64;
        assert!(
            share < bound,
            "idle with {n} pods: {:.2}% of a CPU (bound {:.2}%)",
            share * 100.0,
            bound * 100.0
        );
    }
}
