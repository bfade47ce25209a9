//! `cargo xtask bench`'s reference tracer: attaches one of the reference programs
//! ([`tracer::ebpf::Reference`]) to `raw_syscalls:sys_enter`, prints `attached`, and keeps it
//! attached until it is signalled (the kernel detaches the program when this process ends,
//! however it ends).
//!
//! Usage: `bench_reference empty` | `bench_reference cgroup-test LEVEL CGROUP_ID`

use std::io::Write as _;

use anyhow::{Context as _, bail};
use tracer::ebpf::{Reference, ReferenceProgram};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reference = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["empty"] => Reference::Empty,
        ["cgroup-test", level, id] => Reference::CgroupTest {
            level: level.parse().context("LEVEL")?,
            cgroup_id: id.parse().context("CGROUP_ID")?,
        },
        _ => bail!("usage: bench_reference empty | bench_reference cgroup-test LEVEL CGROUP_ID"),
    };
    let _attached = ReferenceProgram::attach(reference).context("attaching the reference")?;
    println!("attached");
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
