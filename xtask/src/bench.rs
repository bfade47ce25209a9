//! `cargo xtask bench`: what recording costs, against the alternatives, in one run.
//!
//! Configurations (each one a way to do sysallow's job, or a reference point):
//! - `untraced`: the workload alone.
//! - `ftrace-floor`: `raw_syscalls:sys_enter` enabled with a filter that matches nothing. Every
//!   task takes the syscall slow path and the tracepoint fires; nothing is recorded. No
//!   tracepoint-based tool can cost less (FtraceFloor).
//! - `sysallow`: `sysallow record`.
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

mod system;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use system::{Background, BenchCgroup, FtraceFloor, MapInfo, Reference, ReferenceProgram, Tracefs};

pub struct Options {
    /// CI smoke: one repetition of small workloads; asserts nothing about time.
    pub quick: bool,
    /// Repetitions (default 5, 1 with --quick).
    pub reps: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Config {
    Untraced,
    Floor,
    /// An empty BPF program on the sys_enter raw tracepoint.
    BpfEmpty,
    /// A BPF program that only computes the cgroup filter (one helper call, one compare).
    BpfCgroupId,
    Sysallow,
    /// sysallow with its syscall programs on the classic tracepoints (its fallback where raw
    /// tracepoints are unavailable): shows what the raw tracepoint attach saves.
    SysallowTracepoint,
    /// sysallow without argument capture (`SYSALLOW_CAPTURE=off`): the A side of the
    /// capture-on/off comparison.
    SysallowNoCapture,
    Bpftrace,
    PerfTrace,
    Strace,
}

impl Config {
    fn name(self) -> &'static str {
        match self {
            Config::Untraced => "untraced",
            Config::Floor => "ftrace-floor",
            Config::BpfEmpty => "bpf-empty",
            Config::BpfCgroupId => "bpf-cgroup-id",
            Config::Sysallow => "sysallow",
            Config::SysallowTracepoint => "sysallow-tracepoint",
            Config::SysallowNoCapture => "sysallow-no-capture",
            Config::Bpftrace => "bpftrace",
            Config::PerfTrace => "perf-trace",
            Config::Strace => "strace",
        }
    }

    /// ptrace and perf's per-event records make a syscall ~100x dearer: fewer of them keep the
    /// run short, and the per-syscall figure is the same.
    fn syscall_divisor(self) -> u64 {
        match self {
            Config::PerfTrace | Config::Strace => 50,
            _ => 1,
        }
    }

    /// Whether `workload` is measured under this configuration: ptrace only touches its
    /// tracee (no unrelated case for strace); the reference programs record nothing, so only
    /// the per-syscall cost they put on every task (the unrelated case) is of interest.
    fn measures(self, workload: Workload) -> bool {
        if workload == Workload::Sockets {
            // The socket loop is there for the capture comparison.
            return matches!(
                self,
                Config::Untraced | Config::Floor | Config::Sysallow | Config::SysallowNoCapture
            );
        }
        match self {
            Config::Strace => workload != Workload::Unrelated,
            Config::BpfEmpty | Config::BpfCgroupId => workload == Workload::Unrelated,
            // The attach type matters per syscall: the two loops show it.
            Config::SysallowTracepoint | Config::SysallowNoCapture => {
                matches!(workload, Workload::Syscalls | Workload::Unrelated)
            }
            _ => true,
        }
    }

    /// A sysallow recording (either attach).
    fn is_sysallow(self) -> bool {
        matches!(
            self,
            Config::Sysallow | Config::SysallowTracepoint | Config::SysallowNoCapture
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
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
}

const WORKLOADS: [Workload; 5] = [
    Workload::Syscalls,
    Workload::Unrelated,
    Workload::Files,
    Workload::ForkExec,
    Workload::Sockets,
];

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Syscalls => "syscalls (traced getppid loop)",
            Workload::Unrelated => "unrelated process (getppid loop outside the target)",
            Workload::Files => "files (tar /usr/include | cat)",
            Workload::ForkExec => "fork/exec storm (/bin/true)",
            Workload::Sockets => "sockets (traced socket+close loop)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Workload::Syscalls => "syscalls",
            Workload::Unrelated => "unrelated",
            Workload::Files => "files",
            Workload::ForkExec => "forkexec",
            Workload::Sockets => "sockets",
        }
    }

    /// Unit of the figure the workload prints (divided by `scale` for the table).
    fn unit(self) -> (&'static str, f64) {
        match self {
            Workload::Syscalls | Workload::Unrelated => ("ns/syscall", 1.0),
            Workload::Files => ("ms/run", 1e6),
            Workload::ForkExec => ("µs/spawn", 1e3),
            Workload::Sockets => ("ns/pair", 1.0),
        }
    }
}

/// One measurement: CPU and wall time per unit of work, in ns.
#[derive(Clone, Copy, Debug)]
struct Sample {
    cpu: f64,
    wall: f64,
}

struct Sizes {
    reps: usize,
    syscalls: u64,
    spawns: u64,
    /// Directory under /usr that the file workload archives.
    files_dir: &'static str,
    startup_reps: usize,
}

struct Env {
    bin: PathBuf,
    out: PathBuf,
    sysallow: PathBuf,
    bpftrace_script: PathBuf,
    cgroup: BenchCgroup,
    v2_mount: PathBuf,
    sizes: Sizes,
    /// What the sysallow recorder held while it ran: peak RSS (KiB) and its maps.
    idle_rss_kib: Vec<u64>,
    maps: Option<Vec<MapInfo>>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let sizes = if options.quick {
        Sizes {
            reps: options.reps.unwrap_or(1),
            syscalls: 100_000,
            spawns: 20,
            files_dir: "include/linux",
            startup_reps: 2,
        }
    } else {
        Sizes {
            reps: options.reps.unwrap_or(5),
            syscalls: 1_000_000,
            spawns: 400,
            files_dir: "include",
            startup_reps: 7,
        }
    };
    if !is_root() {
        bail!("the bench loads eBPF programs and enables ftrace events: run it as root");
    }
    system::catch_interrupts();
    let (tools, unavailable) = tools(options.quick);
    let target_dir = target_dir();
    crate::run(crate::cargo().args(["build", "--release", "-p", "tracer"]))?;
    let sysallow = target_dir.join("release/sysallow");
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
        bpftrace_script: crate::root().join("bench/count.bt"),
        v2_mount: system::cgroup_v2_mount()?,
        cgroup,
        sizes,
        idle_rss_kib: Vec::new(),
        maps: None,
    };

    let mut configs = vec![
        Config::Untraced,
        Config::Floor,
        Config::BpfEmpty,
        Config::BpfCgroupId,
        Config::Sysallow,
        Config::SysallowTracepoint,
        Config::SysallowNoCapture,
    ];
    configs.extend(tools);
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
fn target_dir() -> PathBuf {
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

fn workload_argv(env: &Env, workload: Workload, config: Config) -> Vec<OsString> {
    let bin = |name: &str| env.bin.join(name).into_os_string();
    match workload {
        Workload::Syscalls | Workload::Unrelated => vec![
            bin("getppid"),
            (env.sizes.syscalls / config.syscall_divisor())
                .to_string()
                .into(),
        ],
        Workload::Files => vec![
            bin("timeit"),
            "sh".into(),
            "-c".into(),
            format!(
                "tar -C /usr -cf - {} | cat > /dev/null",
                env.sizes.files_dir
            )
            .into(),
        ],
        Workload::Sockets => vec![bin("sockets"), (env.sizes.syscalls / 10).to_string().into()],
        Workload::ForkExec => vec![
            bin("forkexec"),
            env.sizes.spawns.to_string().into(),
            "/bin/true".into(),
        ],
    }
}

/// Run `workload` once under `config` and return what it measured.
fn measure(
    env: &mut Env,
    tracefs: &Path,
    config: Config,
    workload: Workload,
) -> anyhow::Result<Sample> {
    let argv = workload_argv(env, workload, config);
    let inside = workload != Workload::Unrelated;
    let floor = match config {
        Config::Floor => Some(FtraceFloor::enable(tracefs)?),
        _ => None,
    };
    let reference = match config {
        Config::BpfEmpty => Some(ReferenceProgram::attach(&Reference::Empty)?),
        Config::BpfCgroupId => {
            let (id, level) = env.cgroup.id_and_level()?;
            Some(ReferenceProgram::attach(&Reference::CgroupId {
                level,
                id,
            })?)
        }
        _ => None,
    };
    // A tracer that runs beside the workload rather than wrapping it.
    let background = match (config, inside) {
        (Config::Bpftrace, _) => Some(start_bpftrace(env)?),
        (c, false) if c.is_sysallow() => Some(start_wrapper(
            "sysallow record -- sleep",
            sysallow_record(env, "idle", c),
        )?),
        (Config::PerfTrace, false) => Some(start_wrapper("perf trace -s -- sleep", perf_trace())?),
        _ => None,
    };
    let mut cmd = match (config, inside) {
        (c, true) if c.is_sysallow() => sysallow_record(env, workload.key(), c),
        (Config::Strace, true) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-c", "-o", "/dev/null"]);
            c
        }
        (Config::PerfTrace, true) => perf_trace(),
        _ => Command::new(&argv[0]),
    };
    if cmd.get_program() == argv[0] {
        cmd.args(&argv[1..]);
    } else {
        cmd.args(&argv);
    }
    if inside && !config.is_sysallow() {
        env.cgroup.enter(&mut cmd)?;
    }
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", crate::shown(&cmd)))?;
    if let Some(mut bg) = background {
        if !bg.alive() {
            bail!("the background tracer ended before the workload did");
        }
        if config == Config::Sysallow {
            // What the recorder holds while it records: memory and maps.
            env.idle_rss_kib.extend(system::peak_rss_kib(bg.pid()));
            if env.maps.is_none() {
                env.maps = Some(system::maps_of(bg.pid())?);
            }
        }
        let pid = bg.pid();
        let signal = if config.is_sysallow() {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        bg.stop(signal, Duration::from_secs(30))?;
        if config.is_sysallow() {
            remove_left_cgroup(env, pid);
        }
    }
    drop(reference);
    if let Some(floor) = floor {
        let recorded = FtraceFloor::recorded(tracefs);
        drop(floor);
        if recorded != 0 {
            eprintln!("bench: warning: the ftrace ring buffer holds {recorded} entries");
        }
    }
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{} failed ({}):\n{}",
            crate::shown(&cmd),
            output.status,
            err.lines().rev().take(10).collect::<Vec<_>>().join("\n")
        );
    }
    parse_sample(&String::from_utf8_lossy(&output.stdout))
        .with_context(|| format!("reading the result of {}", crate::shown(&cmd)))
}

fn parse_sample(stdout: &str) -> anyhow::Result<Sample> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("the workload printed nothing")?;
    let mut fields = line.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(cpu)), Some(Ok(wall))) => Ok(Sample { cpu, wall }),
        _ => bail!("unexpected workload output {line:?}"),
    }
}

fn sysallow_record(env: &Env, name: &str, config: Config) -> Command {
    let mut cmd = Command::new(&env.sysallow);
    if config == Config::SysallowTracepoint {
        cmd.env("SYSALLOW_ATTACH", "tracepoint");
    }
    if config == Config::SysallowNoCapture {
        cmd.env("SYSALLOW_CAPTURE", "off");
    }
    cmd.args(["record", "--recording"])
        .arg(env.out.join(format!("{name}.rec.json")))
        .arg("--");
    cmd
}

fn perf_trace() -> Command {
    let mut cmd = Command::new("perf");
    cmd.args(["trace", "-s", "-o", "/dev/null", "--"]);
    cmd
}

/// Start a tracer that wraps `sleep` (a recording of something else) and wait until the sleep
/// runs under it, i.e. everything is attached.
fn start_wrapper(name: &str, mut cmd: Command) -> anyhow::Result<Background> {
    cmd.args(["sleep", "3600"]).stderr(Stdio::null());
    let (bg, stdout) = Background::spawn(name, &mut cmd)?;
    system::drain(stdout);
    let deadline = Instant::now() + Duration::from_secs(20);
    let sleeping = |pid: u32| {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let dir = e.path();
                fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == "sleep")
                    && fs::read_to_string(dir.join("stat")).is_ok_and(|s| {
                        s.rsplit(')')
                            .next()
                            .and_then(|r| r.split_whitespace().nth(1))
                            .is_some_and(|ppid| ppid == pid.to_string())
                    })
            })
    };
    while !sleeping(bg.pid()) {
        if Instant::now() > deadline {
            bail!("{name}: the command did not start within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(bg)
}

/// bpftrace counting the work cgroup's syscalls per id; returns once its probes are attached
/// (its BEGIN probe runs after the others are attached and prints "ready").
fn start_bpftrace(env: &Env) -> anyhow::Result<Background> {
    let mut cmd = Command::new("bpftrace");
    cmd.arg(&env.bpftrace_script)
        .arg(&env.cgroup.work)
        .stderr(Stdio::null());
    let (bg, stdout) = Background::spawn("bpftrace", &mut cmd)?;
    system::wait_for_line(stdout, "ready", Duration::from_secs(60))?;
    Ok(bg)
}

/// A recorder killed before it could clean up leaves its cgroup: remove it (what is in it is
/// the sleep this bench started).
fn remove_left_cgroup(env: &Env, pid: u32) {
    let dir = env.v2_mount.join("sysallow").join(format!("run-{pid}"));
    if dir.exists() {
        let _ = fs::write(dir.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while fs::remove_dir(&dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Start-up: the clock just before spawning, against the clock `stamp` reads when it runs.
struct Startup {
    /// `sysallow record -- stamp`, ms.
    recorded_ms: Vec<f64>,
    /// `stamp` spawned directly, ms (the cost of one spawn and exec).
    direct_ms: Vec<f64>,
    /// Peak RSS of `sysallow record -- stamp` (wait4), KiB.
    rss_kib: Vec<u64>,
}

fn startup(env: &Env) -> anyhow::Result<Startup> {
    let mut s = Startup {
        recorded_ms: Vec::new(),
        direct_ms: Vec::new(),
        rss_kib: Vec::new(),
    };
    let stamp = env.bin.join("stamp");
    for _ in 0..env.sizes.startup_reps {
        system::check_interrupted()?;
        for recorded in [false, true] {
            let mut cmd = if recorded {
                let mut c = sysallow_record(env, "startup", Config::Sysallow);
                c.arg(&stamp);
                c
            } else {
                Command::new(&stamp)
            };
            cmd.stdout(Stdio::piped()).stderr(Stdio::null());
            let before = system::monotonic_ns();
            let mut child = cmd
                .spawn()
                .with_context(|| format!("starting {}", crate::shown(&cmd)))?;
            let mut text = String::new();
            if let Some(mut out) = child.stdout.take() {
                use std::io::Read as _;
                out.read_to_string(&mut text)?;
            }
            let (status, rss) = system::wait4(child)?;
            if status != 0 {
                bail!("{} failed: wait status {status}", crate::shown(&cmd));
            }
            let at: i128 = text
                .trim()
                .parse()
                .with_context(|| format!("stamp printed {text:?}"))?;
            let ms = (at - before) as f64 / 1e6;
            if recorded {
                s.recorded_ms.push(ms);
                s.rss_kib.push(rss);
            } else {
                s.direct_ms.push(ms);
            }
        }
    }
    eprintln!(
        "   start-up {:.1} ms (direct spawn {:.1} ms), peak RSS {} KiB",
        median(&s.recorded_ms),
        median(&s.direct_ms),
        s.rss_kib.iter().max().copied().unwrap_or(0)
    );
    Ok(s)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

/// Memory the kernel charges for a map on a host with `cpus` possible CPUs, from the map's
/// real size on this host (`memlock`, the kernel's own `map_mem_usage`) plus what each more
/// CPU adds. Per CPU, following kernel/bpf/arraymap.c and hashtab.c (`*_map_mem_usage`):
/// - per-CPU array: max_entries x round_up(value_size, 8);
/// - preallocated hash: one spare element (`htab_has_extra_elems`: the 48-byte `htab_elem`
///   header, round_up(key, 8) and round_up(value, 8)), its `extra_elems` pointer (8) and
///   the `map_locked` counters (8 x int);
/// - plain array: nothing.
fn per_cpu_bytes(map: &MapInfo) -> u64 {
    const BPF_MAP_TYPE_HASH: u32 = 1;
    const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
    const BPF_F_NO_PREALLOC: u64 = 1;
    let r8 = |n: u64| n.div_ceil(8) * 8;
    match map.map_type {
        BPF_MAP_TYPE_PERCPU_ARRAY => map.max_entries * r8(map.value_size),
        BPF_MAP_TYPE_HASH if map.map_flags & BPF_F_NO_PREALLOC == 0 => {
            48 + r8(map.key_size) + r8(map.value_size) + 8 + 4 * 8
        }
        BPF_MAP_TYPE_HASH => 4 * 8,
        _ => 0,
    }
}

fn map_bytes_at(map: &MapInfo, here: u64, cpus: u64) -> u64 {
    (map.memlock + per_cpu_bytes(map) * cpus).saturating_sub(per_cpu_bytes(map) * here)
}

fn map_type_name(map_type: u32) -> String {
    match map_type {
        1 => "hash".to_owned(),
        2 => "array".to_owned(),
        5 => "percpu_hash".to_owned(),
        6 => "percpu_array".to_owned(),
        other => other.to_string(),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct Report<'a> {
    results: &'a BTreeMap<(Workload, Config), Vec<Sample>>,
    configs: &'a [Config],
    unavailable: &'a [(String, String)],
    /// Tracing programs of others seen at the start or the end of the repetitions.
    foreign: &'a [String],
    startup: &'a Startup,
    env: &'a Env,
    possible_cpus: u64,
}

/// The targets.
const FLOOR_TARGET: f64 = 1.05;
const REAL_TARGET: f64 = 1.03;
const STARTUP_TARGET_MS: f64 = 100.0;
const RSS_TARGET_MIB: f64 = 20.0;
const MAP_HOST_CPUS: u64 = 64;
/// Argument capture on a socket-heavy loop: at most this, against capture off.
const CAPTURE_TARGET: f64 = 1.05;

impl Report<'_> {
    fn cpu_median(&self, workload: Workload, config: Config) -> Option<f64> {
        let samples = self.results.get(&(workload, config))?;
        Some(median(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>()))
    }

    fn ratio(&self, workload: Workload, config: Config, base: Config) -> Option<f64> {
        Some(self.cpu_median(workload, config)? / self.cpu_median(workload, base)?)
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let reps = self.env.sizes.reps;
        md.push_str(&format!(
            "\n## sysallow overhead benchmark\n\nkernel {}, {} CPUs online, {} repetition(s), \
             configurations interleaved. Figures are medians of the workload's own CPU time \
             (user + system of its processes) per unit; min-max across repetitions; wall time \
             for reference (strace's cost is in the strace process, so read its wall column).\n\n",
            kernel_release(),
            system::num_cpus(),
            reps
        ));
        md.push_str(
            "| workload | configuration | CPU median | min-max | wall median | x untraced | x floor |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for workload in WORKLOADS {
            let (unit, scale) = workload.unit();
            for config in self.configs {
                let Some(samples) = self.results.get(&(workload, *config)) else {
                    continue;
                };
                let cpu: Vec<f64> = samples.iter().map(|s| s.cpu / scale).collect();
                let wall: Vec<f64> = samples.iter().map(|s| s.wall / scale).collect();
                let (lo, hi) = min_max(&cpu);
                let fmt_ratio = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.3}"));
                md.push_str(&format!(
                    "| {} | {} | {:.1} {unit} | {lo:.1}-{hi:.1} | {:.1} | {} | {} |\n",
                    workload.name(),
                    config.name(),
                    median(&cpu),
                    median(&wall),
                    fmt_ratio(self.ratio(workload, *config, Config::Untraced)),
                    fmt_ratio(self.ratio(workload, *config, Config::Floor)),
                ));
            }
        }
        for (tool, reason) in self.unavailable {
            md.push_str(&format!("\nNot measured: {tool}: {reason}\n"));
        }
        if !self.foreign.is_empty() {
            md.push_str(&format!(
                "\nOther tracing programs were loaded during the run (they add to every \
                 configuration): {}\n",
                self.foreign.join(", ")
            ));
        }
        md.push_str("\n### Targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
        for (name, value, limit, shown) in self.targets() {
            let verdict = match value {
                _ if limit.is_infinite() => "stated",
                Some(v) if v <= limit => "met",
                Some(_) => "MISSED",
                None => "not measured",
            };
            md.push_str(&format!("| {name} | {shown} | {verdict} |\n"));
        }
        md.push_str(&format!(
            "\n### Kernel map memory (sysallow's maps, as loaded)\n\nPer map: the kernel's own \
             accounting on this host ({} possible CPUs, `memlock` in fdinfo) plus, for each \
             more CPU, what a per-CPU array or a preallocated hash adds per CPU (see \
             `per_cpu_bytes`).\n\n| map | type | key | value | entries | here | per CPU | \
             {MAP_HOST_CPUS} CPUs |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            self.possible_cpus
        ));
        let maps = self.env.maps.as_deref().unwrap_or(&[]);
        for map in maps {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.2} MiB | {} B | {:.2} MiB |\n",
                map.name,
                map_type_name(map.map_type),
                map.key_size,
                map.value_size,
                map.max_entries,
                mib(map.memlock),
                per_cpu_bytes(map),
                mib(map_bytes_at(map, self.possible_cpus, MAP_HOST_CPUS)),
            ));
        }
        let (here, big) = self.map_totals();
        md.push_str(&format!(
            "| total | | | | | {:.2} MiB | | {:.2} MiB |\n",
            mib(here),
            mib(big)
        ));
        md
    }

    fn map_totals(&self) -> (u64, u64) {
        let maps = self.env.maps.as_deref().unwrap_or(&[]);
        (
            maps.iter().map(|m| m.memlock).sum(),
            maps.iter()
                .map(|m| map_bytes_at(m, self.possible_cpus, MAP_HOST_CPUS))
                .sum(),
        )
    }

    /// (target, measured value in the limit's unit, limit, shown).
    fn targets(&self) -> Vec<(String, Option<f64>, f64, String)> {
        let mut t = Vec::new();
        let r = |w, c, b| self.ratio(w, c, b);
        for (workload, base, limit, what) in [
            (
                Workload::Syscalls,
                Config::Floor,
                FLOOR_TARGET,
                "traced getppid loop, x floor",
            ),
            (
                Workload::Unrelated,
                Config::Floor,
                FLOOR_TARGET,
                "unrelated process, x floor",
            ),
            (
                Workload::Files,
                Config::Untraced,
                REAL_TARGET,
                "file-heavy workload, x untraced",
            ),
            (
                Workload::ForkExec,
                Config::Untraced,
                REAL_TARGET,
                "fork/exec storm, x untraced",
            ),
        ] {
            let value = r(workload, Config::Sysallow, base);
            t.push((
                format!("{what} <= {limit}"),
                value,
                limit,
                value.map_or("-".to_owned(), |v| format!("{v:.3}")),
            ));
        }
        // Argument capture, on against off in the same run: the socket loop pays for it
        // (capped), the getppid loops must not change beyond noise (stated).
        for (workload, limit, what) in [
            (
                Workload::Sockets,
                CAPTURE_TARGET,
                "socket+close loop, capture on / off",
            ),
            (
                Workload::Syscalls,
                f64::INFINITY,
                "traced getppid loop, capture on / off",
            ),
            (
                Workload::Unrelated,
                f64::INFINITY,
                "unrelated process, capture on / off",
            ),
        ] {
            let value = r(workload, Config::Sysallow, Config::SysallowNoCapture);
            t.push((
                if limit.is_finite() {
                    format!("{what} <= {limit}")
                } else {
                    format!("{what} (stated)")
                },
                value,
                limit,
                value.map_or("-".to_owned(), |v| format!("{v:.3}")),
            ));
        }
        let startup = median(&self.startup.recorded_ms);
        t.push((
            format!("start-up (record -- stamp, spawn to exec) < {STARTUP_TARGET_MS} ms"),
            Some(startup),
            STARTUP_TARGET_MS,
            format!(
                "{startup:.1} ms (a direct spawn+exec: {:.1} ms)",
                median(&self.startup.direct_ms)
            ),
        ));
        let rss = self
            .startup
            .rss_kib
            .iter()
            .chain(&self.env.idle_rss_kib)
            .max()
            .map(|k| *k as f64 / 1024.0);
        t.push((
            format!("recorder peak RSS < {RSS_TARGET_MIB} MiB"),
            rss,
            RSS_TARGET_MIB,
            rss.map_or("-".to_owned(), |r| format!("{r:.1} MiB")),
        ));
        let (_, big) = self.map_totals();
        t.push((
            format!("kernel map memory on a {MAP_HOST_CPUS}-CPU host (stated)"),
            Some(0.0),
            f64::INFINITY,
            format!("{:.1} MiB", mib(big)),
        ));
        t
    }

    fn json(&self, quick: bool, bench_secs: f64) -> serde_json::Value {
        let mut rows = Vec::new();
        for ((workload, config), samples) in self.results {
            let (unit, scale) = workload.unit();
            let cpu: Vec<f64> = samples.iter().map(|s| s.cpu / scale).collect();
            let wall: Vec<f64> = samples.iter().map(|s| s.wall / scale).collect();
            rows.push(json!({
                "workload": workload.key(),
                "config": config.name(),
                "unit": unit,
                "cpu": cpu,
                "wall": wall,
                "cpu_median": median(&cpu),
                "wall_median": median(&wall),
                "ratio_untraced": self.ratio(*workload, *config, Config::Untraced),
                "ratio_floor": self.ratio(*workload, *config, Config::Floor),
            }));
        }
        let maps: Vec<_> = self
            .env
            .maps
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|m| {
                json!({
                    "name": m.name, "type": m.map_type, "key_size": m.key_size,
                    "value_size": m.value_size, "max_entries": m.max_entries,
                    "flags": m.map_flags, "bytes_here": m.memlock,
                    "bytes_per_cpu": per_cpu_bytes(m),
                    "bytes_64_cpus": map_bytes_at(m, self.possible_cpus, MAP_HOST_CPUS),
                })
            })
            .collect();
        let (here, big) = self.map_totals();
        json!({
            "quick": quick,
            "kernel": kernel_release(),
            "cpus_online": system::num_cpus(),
            "cpus_possible": self.possible_cpus,
            "repetitions": self.env.sizes.reps,
            "sizes": {
                "syscalls": self.env.sizes.syscalls,
                "spawns": self.env.sizes.spawns,
                "files_dir": format!("/usr/{}", self.env.sizes.files_dir),
            },
            "floor_filter": system::FLOOR_FILTER,
            "bench_seconds": bench_secs,
            "results": rows,
            "unavailable": self.unavailable.iter().map(|(t, r)| json!({"tool": t, "reason": r})).collect::<Vec<_>>(),
            "foreign_tracing_programs": self.foreign,
            "startup": {
                "recorded_ms": self.startup.recorded_ms,
                "direct_ms": self.startup.direct_ms,
                "recorded_median_ms": median(&self.startup.recorded_ms),
                "direct_median_ms": median(&self.startup.direct_ms),
            },
            "rss_kib": {
                "record_true_wait4": self.startup.rss_kib,
                "recording_vmhwm": self.env.idle_rss_kib,
            },
            "map_memory": {
                "maps": maps,
                "bytes_here": here,
                "bytes_64_cpus": big,
            },
            "targets": self.targets().into_iter().map(|(name, value, limit, shown)| json!({
                "target": name,
                "value": value,
                "limit": if limit.is_finite() { Some(limit) } else { None },
                "shown": shown,
                "met": value.map(|v| v <= limit),
            })).collect::<Vec<_>>(),
        })
    }
}
