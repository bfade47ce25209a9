//! `cargo xtask bench`: what recording costs, against the alternatives, in one run.
//!
//! Configurations (each one a way to do sysallow's job, or a reference point):
//! - `untraced`: the workload alone.
//! - `ftrace-floor`: `raw_syscalls:sys_enter` enabled with a filter that matches nothing. Every
//!   task takes the syscall slow path and the tracepoint fires; nothing is recorded. No
//!   tracepoint-based tool can cost less (FtraceFloor).
//! - `sysallow`: `sysallow record`.
//! - `agent`: sysallow's tracer as `sysallow agent` loads it (a kubepods-like cgroup armed
//!   leaf-split with the runtime boundary, the agent's slots, capability checks on), with 110
//!   containers (a `sleep` each) made targets: an unrelated process's loop against `bpf-empty`,
//!   a recorded container's loop against `sysallow`. `agent-exit-facts`: the same as
//!   `agent --exit-facts` (a `sys_exit` program too), what that option costs.
//! - `bpftrace`: count per syscall id, filtered by cgroup (bench/count.bt).
//! - `perf-trace`: `perf trace -s`; `strace`: `strace -f -c`.
//! - BCC syscount where it works (it compiles against kernel headers at run time).
//!
//! Workloads: a getppid loop (ns per syscall) inside the traced cgroup; the same loop outside
//! it while a recording of something else runs (the cost every other process on the machine
//! pays); a file-heavy real program (tar of /usr/include into a pipe); a fork/exec storm. Each
//! workload measures itself (bench/*.c), so a tracer's start-up is never in the numbers; the
//! primary figure is CPU time of the workload's processes (user + system), where an in-kernel
//! tracer's cost lands and where the other users of this shared, noisy machine do not. Wall
//! time is kept too (it is the figure for strace, whose cost is in another process).
//!
//! Configurations are interleaved (the order rotates each repetition) to spread drift; medians
//! and min-max are reported, and every ratio is against a baseline measured in the same run.

mod configs;
mod measure;
mod report;
pub(crate) mod system;

use configs::{Config, Env, Sample, Sizes, WORKLOADS, Workload};
use measure::{Startup, measure, median, min_max, startup};
use report::{MODEL_CPUS, Report};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use system::{Background, BenchCgroup, FtraceFloor, MapInfo, Tracefs};

pub struct Options {
    /// CI smoke: one repetition of small workloads; asserts nothing about time.
    pub quick: bool,
    /// Repetitions (default 5, 1 with --quick).
    pub reps: Option<usize>,
    /// Only these configurations (by name), for a focused run; all when empty.
    pub only: Vec<String>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let sizes = if options.quick {
        Sizes {
            reps: options.reps.unwrap_or(1),
            syscalls: 100_000,
            spawns: 20,
            files_dir: "include/linux",
            startup_reps: 2,
            pods: 110,
        }
    } else {
        Sizes {
            reps: options.reps.unwrap_or(5),
            syscalls: 1_000_000,
            spawns: 400,
            files_dir: "include",
            startup_reps: 7,
            pods: 110,
        }
    };
    if !is_root() {
        bail!("the bench loads eBPF programs and enables ftrace events: run it as root");
    }
    system::catch_interrupts();
    let (tools, unavailable) = tools(options.quick);
    let target_dir = target_dir();
    crate::run(crate::cargo().args([
        "build",
        "--release",
        "-p",
        "sysallow",
        "--bins",
        "--example",
        "bench_reference",
    ]))?;
    let sysallow = target_dir.join("release/sysallow");
    let reference = target_dir.join("release/examples/bench_reference");
    let map_model = measure::map_model(&reference)?;
    let out = target_dir.join("bench");
    let bin = out.join("bin");
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    compile_workloads(&bin)?;

    // Guards: dropped in reverse order, also on error or Ctrl-C.
    let tracefs = Tracefs::get()?;
    let cgroup = BenchCgroup::create()?;
    let mut env = Env {
        bin,
        out: out.clone(),
        sysallow,
        reference,
        bpftrace_script: crate::root().join("bench/count.bt"),
        v2_mount: system::cgroup_v2_mount()?,
        cgroup,
        sizes,
        idle_rss_kib: Vec::new(),
        maps: None,
        map_model,
    };

    let mut configs = vec![
        Config::Untraced,
        Config::Floor,
        Config::BpfEmpty,
        Config::BpfCgroupId,
        Config::Sysallow,
        Config::SysallowTracepoint,
        Config::SysallowNoCapture,
        Config::SysallowNoCaps,
        Config::Agent,
        Config::AgentExitFacts,
    ];
    configs.extend(tools);
    if !options.only.is_empty() {
        let known: Vec<&str> = configs.iter().map(|c| c.name()).collect();
        if let Some(unknown) = options.only.iter().find(|o| !known.contains(&o.as_str())) {
            bail!(
                "--only {unknown}: no such configuration here (known: {})",
                known.join(", ")
            );
        }
        configs.retain(|c| options.only.iter().any(|o| o == c.name()));
    }
    let mut results: BTreeMap<(Workload, Config), Vec<Sample>> = BTreeMap::new();
    let mut foreign = system::tracing_programs();
    if !foreign.is_empty() {
        eprintln!(
            "bench: warning: tracing BPF programs of someone else are loaded (they add to every \
             configuration): {}",
            foreign.join(", ")
        );
    }
    let started = Instant::now();
    // One untraced round first, not counted: the page cache holds the file tree afterwards
    // (the first tar otherwise reads from disk) and the binaries are paged in.
    eprintln!("\n== warm-up (not counted)");
    for workload in WORKLOADS {
        measure(&mut env, &tracefs.path, Config::Untraced, workload)?;
    }
    for rep in 0..env.sizes.reps {
        let mut order = configs.clone();
        order.rotate_left(rep % configs.len());
        eprintln!(
            "\n== repetition {}/{}: {}",
            rep + 1,
            env.sizes.reps,
            order
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for config in &order {
            for workload in WORKLOADS {
                if !config.measures(workload) {
                    continue;
                }
                system::check_interrupted()?;
                let sample = measure(&mut env, &tracefs.path, *config, workload)
                    .with_context(|| format!("{} under {}", workload.key(), config.name()))?;
                let (unit, scale) = workload.unit();
                eprintln!(
                    "   {:<12} {:<10} {:>12.1} {unit} cpu, {:>12.1} wall",
                    config.name(),
                    workload.key(),
                    sample.cpu / scale,
                    sample.wall / scale
                );
                results.entry((workload, *config)).or_default().push(sample);
            }
        }
    }
    // The last reference tracer has just been signalled: the kernel frees its programs a
    // moment after the process ends (they were seen here as "loaded during the run"), so look
    // once they are gone.
    std::thread::sleep(std::time::Duration::from_secs(2));
    for program in system::tracing_programs() {
        if !foreign.contains(&program) {
            foreign.push(program);
        }
    }
    eprintln!("\n== recorder start-up and memory");
    let startup = startup(&env)?;
    let bench_secs = started.elapsed().as_secs_f64();

    let report = Report {
        results: &results,
        configs: &configs,
        unavailable: &unavailable,
        foreign: &foreign,
        startup: &startup,
        env: &env,
        possible_cpus: system::possible_cpus()?,
    };
    let markdown = report.markdown();
    println!("{markdown}");
    let json = report.json(options.quick, bench_secs);
    let path = out.join("bench.json");
    fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    fs::write(out.join("bench.md"), &markdown).context("writing bench.md")?;
    eprintln!("bench: wrote {} and bench.md", path.display());
    drop(env);
    drop(tracefs);
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() == 0 }
}

/// Where cargo puts the binaries (CARGO_TARGET_DIR is honoured, as cargo does).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                crate::root().join(p)
            }
        })
        .unwrap_or_else(|| crate::root().join("target"))
}

/// The alternatives that work on this machine, installing the missing ones (Debian packages)
/// first; and those that do not, with the reason.
fn tools(quick: bool) -> (Vec<Config>, Vec<(String, String)>) {
    const PACKAGES: &[&str] = &["bpftrace", "bpfcc-tools", "strace", "linux-perf"];
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if !missing.is_empty() {
        let installed = crate::run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        if let Err(e) = installed {
            eprintln!("bench: could not install {}: {e:#}", missing.join(" "));
        }
    }
    let mut found = Vec::new();
    let mut unavailable = Vec::new();
    let mut probe = |config: Option<Config>, name: &str, cmd: &mut Command| {
        let out = cmd.stdin(Stdio::null()).output();
        match out {
            Ok(o) if o.status.success() => {
                if let Some(c) = config {
                    found.push(c);
                } else {
                    unavailable.push((
                        name.to_owned(),
                        "works here, but the bench has no runner for it yet".to_owned(),
                    ));
                }
            }
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let last = err
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                unavailable.push((name.to_owned(), format!("{}: {last}", o.status)));
            }
            Err(e) => unavailable.push((name.to_owned(), format!("not installed ({e})"))),
        }
    };
    probe(
        Some(Config::Bpftrace),
        "bpftrace",
        Command::new("bpftrace").args(["-e", "BEGIN { exit(); }"]),
    );
    probe(
        Some(Config::PerfTrace),
        "perf trace -s",
        Command::new("perf").args(["trace", "-s", "-o", "/dev/null", "--", "true"]),
    );
    probe(
        Some(Config::Strace),
        "strace -f -c",
        Command::new("strace").args(["-f", "-c", "-o", "/dev/null", "true"]),
    );
    // BCC compiles its C at run time against the running kernel's headers. Probing costs
    // several seconds, so the quick mode leaves it out.
    if !quick {
        probe(
            None,
            "BCC syscount",
            Command::new("timeout").args(["60", "syscount-bpfcc", "-d", "1"]),
        );
        if let Some((_, reason)) = unavailable.iter_mut().find(|(n, _)| n == "BCC syscount") {
            let headers = Path::new("/lib/modules")
                .join(kernel_release())
                .join("build");
            if !headers.exists() {
                reason.push_str(&format!(
                    " (BCC compiles against kernel headers: {} is missing and the kernel has no \
                     /sys/kernel/kheaders.tar.xz)",
                    headers.display()
                ));
            }
        }
    }
    (found, unavailable)
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Compile the C workloads in bench/ (at bench time, with this machine's gcc).
fn compile_workloads(bin: &Path) -> anyhow::Result<()> {
    let src = crate::root().join("bench");
    for (name, extra) in [
        ("getppid", &[][..]),
        ("sockets", &[][..]),
        ("mmap", &[][..]),
        ("forkexec", &[][..]),
        ("timeit", &[][..]),
        ("stamp", &["-static"][..]),
    ] {
        crate::run(
            Command::new("gcc")
                .args(["-O2", "-Wall", "-Wextra", "-Werror"])
                .args(extra)
                .arg("-o")
                .arg(bin.join(name))
                .arg(src.join(format!("{name}.c"))),
        )?;
    }
    Ok(())
}
