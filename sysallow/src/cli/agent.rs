//! `sysallow agent`: record the pods of one Kubernetes node, through its container runtime's CRI.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use sysallow::agent::outputs::Layout;
use sysallow::agent::select::{Selection, parse_selector};
use sysallow::agent::tracer::AGENT_SLOTS;
use sysallow::agent::{AgentConfig, run_agent};
use sysallow::cri::CONTAINERD_ENDPOINT;

use super::generate::PolicyArgs;
use super::record::parse_duration;

/// Record the pods of this Kubernetes node as kubelet runs them, and give each workload
/// container its seccomp profile.
///
/// The agent arms kubelet's `kubepods` cgroup once: every container started below it is
/// recorded from its first syscall, the runtime's set-up left out, however late the agent
/// hears of its pod. It names containers through the runtime's CRI (the API kubelet talks:
/// containerd's or CRI-O's socket) from the labels kubelet sets, groups replicas into their
/// workload (Deployment, StatefulSet, DaemonSet, Job), and merges their recordings per
/// (namespace, workload, container, architecture): two replicas give one profile.
///
/// Selected pods: those whose pod annotation (--annotation) is "true", every pod of a
/// --namespace, and pods whose labels match --selector (within the namespaces when both are
/// given). An annotation "false" opts a pod out. Pause containers are never recorded.
///
/// A container is written when it exits, when its pod is removed, and while it runs once
/// nothing new appeared for --stable-after (again whenever something new appears). SIGINT or
/// SIGTERM end the agent after writing every container it has. The instance recordings are
/// the agent's state: a restarted agent loses nothing it wrote.
#[derive(ClapArgs)]
#[command(after_help = "Outputs, per workload container:\n  \
    OUTPUT-DIR/recordings/NS/WORKLOAD/CONTAINER/NODE-POD-ID12.rec.json   one per container instance\n  \
    OUTPUT-DIR/recordings/NS/WORKLOAD/CONTAINER.NODE.rec.json            merged (sysallow merge takes several nodes')\n  \
    OUTPUT-DIR/manifests/NS/WORKLOAD-CONTAINER.seccompprofile.yaml       Security Profiles Operator SeccompProfile\n  \
    OUTPUT-DIR/manifests/NS/WORKLOAD-CONTAINER.securitycontext.yaml      the securityContext to apply\n  \
    KUBELET-SECCOMP-DIR/profiles/sysallow/NS/KIND-WORKLOAD/CONTAINER.json  the profile kubelet hands the runtime\n\n\
    Examples:\n  \
    sysallow agent                                          # pods annotated sysallow.dev/record: \"true\"\n  \
    sysallow agent --namespace shop --selector app=web     # web pods of namespace shop\n  \
    sysallow agent --runtime-endpoint unix:///var/run/crio/crio.sock\n\n\
    Apply a result: put the securityContext snippet in the container's spec; kubelet then \
    enforces the profile on this node (copy the localhost profile to every node that runs the \
    workload, or `kubectl apply` the SeccompProfile where the Security Profiles Operator runs).")]
pub struct Args {
    /// The container runtime's CRI endpoint (kubelet's --container-runtime-endpoint).
    /// CRI-O: unix:///var/run/crio/crio.sock.
    #[arg(long, value_name = "ENDPOINT", default_value = CONTAINERD_ENDPOINT)]
    runtime_endpoint: String,

    /// Where recordings and manifests go.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/sysallow")]
    output_dir: PathBuf,

    /// kubelet's seccomp directory (`<kubelet root-dir>/seccomp`), which localhostProfile
    /// paths are relative to.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/kubelet/seccomp")]
    kubelet_seccomp_dir: PathBuf,

    /// The pod annotation that selects a pod when it is "true" (and opts it out when
    /// "false").
    #[arg(long, value_name = "KEY", default_value = "sysallow.dev/record")]
    annotation: String,

    /// Record every pod of this namespace (repeatable).
    #[arg(long, value_name = "NS")]
    namespace: Vec<String>,

    /// Record pods whose labels match: key=value[,key=value...] (within --namespace when
    /// given).
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector_arg)]
    selector: Option<Vec<(String, String)>>,

    /// kubelet's top cgroup, below the cgroup v2 mount (default: kubepods or kubepods.slice,
    /// waited for if kubelet has not made it yet).
    #[arg(long, value_name = "PATH")]
    cgroup_root: Option<String>,

    /// Write a running container once nothing new appeared for this long (again when
    /// something new appears): 30s, 2m, 500ms.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    stable_after: Duration,

    /// This node's name, in the recordings' file names so that several nodes' recordings
    /// merge (default: the hostname).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,

    /// End after this long (for tests); otherwise it runs until SIGINT or SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Program slots in the kernel: a recorded container takes two plus one per program it
    /// runs (pause containers and unselected pods none; a finished container's are reused).
    /// 512 serves 110 pods of one container running a couple of programs each. Kernel memory:
    /// 33 MiB at 2 CPUs, 89 MiB from 16 CPUs (256: 18 MiB / 46 MiB; 1024: 64 MiB / 176 MiB).
    /// Running out is counted in the recordings' losses (program_slots_full).
    #[arg(long, value_name = "N", default_value_t = AGENT_SLOTS,
          value_parser = clap::value_parser!(u32).range(i64::from(sysallow_common::MIN_SLOTS)..=i64::from(sysallow_common::SLOTS_LIMIT)))]
    slots: u32,

    /// Also record how syscalls failed (EPERM, ENOSYS, and those a seccomp filter the pod runs
    /// under denied before entry), so that `generate` answers them as they were answered
    /// while recorded. Off by default: it attaches a program to every syscall's exit, which
    /// every process on the node then runs (about doubling what the agent costs an unrelated
    /// process's syscall). Without it, the syscalls a pod's filter denied while recorded are
    /// not seen, and get the profile's default errno (EPERM), except the calls C libraries
    /// fall back from on ENOSYS (clone3, faccessat2, ...), which the profile answers ENOSYS
    /// either way.
    #[arg(long)]
    exit_facts: bool,

    #[command(flatten)]
    policy: PolicyArgs,
}

fn parse_selector_arg(text: &str) -> Result<Vec<(String, String)>, String> {
    parse_selector(text).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let node = match args.node {
        Some(node) => node,
        // The kernel's node name is the hostname (what kubelet names its node by default).
        None => nix::sys::utsname::uname()
            .context("reading the hostname (give --node)")?
            .nodename()
            .to_string_lossy()
            .into_owned(),
    };
    let policy = args.policy.clone();
    let config = AgentConfig {
        runtime_endpoint: args.runtime_endpoint,
        layout: Layout {
            output_dir: args.output_dir,
            kubelet_seccomp_dir: args.kubelet_seccomp_dir,
            node,
        },
        selection: Selection {
            annotation: args.annotation,
            namespaces: args.namespace,
            selector: args.selector.unwrap_or_default(),
        },
        cgroup_root: args.cgroup_root,
        stable_after: args.stable_after,
        duration: args.duration,
        slots: args.slots,
        exit_facts: args.exit_facts,
        policy: Box::new(move |first| policy.policy(first)),
    };
    run_agent(config, &|event| eprintln!("sysallow agent: {event}")).context("sysallow agent")?;
    Ok(0)
}
