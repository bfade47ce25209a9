//! `cargo xtask bench`'s reference tracer: attaches one of the reference programs
//! ([`sysallow::ebpf::Reference`]) to `raw_syscalls:sys_enter`, prints `attached`, and keeps it
//! attached until it is signalled (the kernel detaches the program when this process ends,
//! however it ends).
//!
//! With `memory CPUS...` it prints instead, for each map and CPU count, what a recording's map
//! locks in the kernel on a host of that many CPUs with this kernel (`sysallow::ebpf::memory`,
//! with the struct sizes measured on the running kernel), as
//! `NAME<TAB>CPUS<TAB>BYTES` lines, and exits.
//!
//! With `agent KUBEPODS PODS` it loads sysallow's own tracer as `sysallow agent` loads it
//! (`sysallow::agent::tracer::AgentTracer`: KUBEPODS armed leaf-split with the runtime
//! boundary, the agent's slot count, capability checks on), starts a `sleep` in each of PODS
//! leaf cgroups `KUBEPODS/besteffort/pod<i>/ctr` (created here; the caller removes the tree and
//! what runs in it), waits until every one is a target of its own, prints `attached`, and
//! keeps everything as it is until it is signalled: a node's worth of watched containers.
//! `agent-exit-facts` does the same as `sysallow agent --exit-facts` loads it (with
//! `sys_exit`), for what that option costs.
//!
//! Usage: `bench_reference empty` | `bench_reference cgroup-test LEVEL CGROUP_ID` |
//! `bench_reference memory CPUS...` | `bench_reference agent KUBEPODS PODS`

use std::io::Write as _;

use anyhow::{Context as _, bail};
use sysallow::ebpf::{Reference, ReferenceProgram};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("memory") {
        // The running kernel's struct sizes: its build may charge differently from the one the
        // model's constants were read on.
        let here = sysallow::ebpf::possible_cpus()?;
        let sizes = sysallow::ebpf::memory::KernelSizes::measure(here)
            .context("measuring the running kernel's map accounting")?;
        for cpus in &args[1..] {
            let cpus: u32 = cpus.parse().context("CPUS")?;
            for (map, bytes) in sysallow::ebpf::memory::kernel_memory(cpus, &sizes)? {
                println!("{}\t{cpus}\t{bytes}", map.name);
            }
        }
        return Ok(());
    }
    let mode = args.first().map(String::as_str);
    if mode == Some("agent") || mode == Some("agent-exit-facts") {
        let [_, kubepods, pods] = &args[..] else {
            bail!("usage: bench_reference agent|agent-exit-facts KUBEPODS PODS");
        };
        let pods: usize = pods.parse().context("PODS")?;
        let _agent = agent(
            std::path::Path::new(kubepods),
            pods,
            mode == Some("agent-exit-facts"),
        )?;
        println!("attached");
        std::io::stdout().flush()?;
        loop {
            std::thread::park();
        }
    }
    let reference = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["empty"] => Reference::Empty,
        ["cgroup-test", level, id] => Reference::CgroupTest {
            level: level.parse().context("LEVEL")?,
            cgroup_id: id.parse().context("CGROUP_ID")?,
        },
        _ => bail!(
            "usage: bench_reference empty | bench_reference cgroup-test LEVEL CGROUP_ID | \
             bench_reference memory CPUS... | bench_reference agent KUBEPODS PODS"
        ),
    };
    let _attached = ReferenceProgram::attach(reference).context("attaching the reference")?;
    println!("attached");
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}

/// The agent's tracer armed on `kubepods` as the agent loads it (with `sys_exit` if
/// `exit_facts`, as `--exit-facts` does), with `pods` containers (a `sleep` each) made targets.
fn agent(
    kubepods: &std::path::Path,
    pods: usize,
    exit_facts: bool,
) -> anyhow::Result<(
    sysallow::agent::tracer::AgentTracer,
    Vec<std::process::Child>,
)> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::process::CommandExt as _;
    use std::time::{Duration, Instant};

    let mount = sysallow::cgroup::Cgroup2Mount::find().context("finding the cgroup v2 mount")?;
    let root = mount
        .open(kubepods)
        .with_context(|| format!("opening {}", kubepods.display()))?;
    let tracefs = sysallow::privilege::tracefs().context("mounting tracefs")?;
    let tracer = sysallow::agent::tracer::AgentTracer::load(
        &tracefs,
        &root,
        sysallow::agent::tracer::AGENT_SLOTS,
        exit_facts,
    )
    .context("loading the agent's tracer")?;
    let mut sleepers = Vec::with_capacity(pods);
    for i in 0..pods {
        let leaf = kubepods.join(format!("besteffort/pod{i}/ctr"));
        std::fs::create_dir_all(&leaf).with_context(|| format!("creating {}", leaf.display()))?;
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(leaf.join("cgroup.procs"))
            .with_context(|| format!("opening {}/cgroup.procs", leaf.display()))?;
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("3600").stdin(std::process::Stdio::null());
        // SAFETY: only write(2) on a descriptor opened before the fork: the sleeper moves
        // itself into its leaf, and its exec there is a container's first syscall.
        unsafe {
            cmd.pre_exec(move || {
                if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        sleepers.push(cmd.spawn().context("starting a sleeper")?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let targets = tracer.children()?.len();
        if targets >= pods {
            eprintln!("bench_reference: {targets} containers are targets");
            break;
        }
        if Instant::now() > deadline {
            bail!("only {targets} of {pods} containers became targets within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((tracer, sleepers))
}
