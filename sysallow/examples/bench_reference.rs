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
//! Usage: `bench_reference empty` | `bench_reference cgroup-test LEVEL CGROUP_ID` |
//! `bench_reference memory CPUS...`

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
    let reference = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["empty"] => Reference::Empty,
        ["cgroup-test", level, id] => Reference::CgroupTest {
            level: level.parse().context("LEVEL")?,
            cgroup_id: id.parse().context("CGROUP_ID")?,
        },
        _ => bail!(
            "usage: bench_reference empty | bench_reference cgroup-test LEVEL CGROUP_ID | \
             bench_reference memory CPUS..."
        ),
    };
    let _attached = ReferenceProgram::attach(reference).context("attaching the reference")?;
    println!("attached");
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
