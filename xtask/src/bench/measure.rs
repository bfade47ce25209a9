//! Running one workload under one configuration and reading what it measured; start-up.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::*;

pub(super) fn workload_argv(env: &Env, workload: Workload, config: Config) -> Vec<OsString> {
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
        Workload::Mmap => vec![bin("mmap"), (env.sizes.syscalls / 10).to_string().into()],
        Workload::ForkExec => vec![
            bin("forkexec"),
            env.sizes.spawns.to_string().into(),
            "/bin/true".into(),
        ],
    }
}

/// Run `workload` once under `config` and return what it measured.
pub(super) fn measure(
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
        Config::BpfEmpty => Some(start_reference(env, &["empty".to_owned()])?),
        Config::BpfCgroupId => {
            let (id, level) = env.cgroup.id_and_level()?;
            Some(start_reference(
                env,
                &["cgroup-test".to_owned(), level.to_string(), id.to_string()],
            )?)
        }
        Config::Agent | Config::AgentExitFacts => Some(start_reference(
            env,
            &[
                if config == Config::Agent {
                    "agent"
                } else {
                    "agent-exit-facts"
                }
                .to_owned(),
                env.cgroup.kubepods.display().to_string(),
                env.sizes.pods.to_string(),
            ],
        )?),
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
    let agent = matches!(config, Config::Agent | Config::AgentExitFacts);
    if agent && inside {
        // A container of one more pod: the kernel makes it a target at its exec there.
        let leaf = env.cgroup.kubepods_leaf("pod-bench")?;
        system::BenchCgroup::enter_dir(&leaf, &mut cmd)?;
    } else if inside && !config.is_sysallow() {
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
            env.idle_rss_kib
                .extend(system::status_kib(bg.pid(), "VmHWM"));
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
    if let Some(reference) = reference {
        reference.stop(libc::SIGTERM, Duration::from_secs(10))?;
    }
    if agent {
        // Its containers' sleepers (the next load starts its own).
        env.cgroup.kill_kubepods();
    }
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

pub(super) fn parse_sample(stdout: &str) -> anyhow::Result<Sample> {
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

pub(super) fn sysallow_record(env: &Env, name: &str, config: Config) -> Command {
    let mut cmd = Command::new(&env.sysallow);
    if config == Config::SysallowTracepoint {
        cmd.env("SYSALLOW_ATTACH", "tracepoint");
    }
    if config == Config::SysallowNoCapture {
        cmd.env("SYSALLOW_CAPTURE", "off");
    }
    cmd.arg("record");
    if config == Config::SysallowNoCaps {
        cmd.arg("--no-capabilities");
    }
    cmd.arg("--recording")
        .arg(env.out.join(format!("{name}.rec.json")))
        .arg("--");
    cmd
}

pub(super) fn perf_trace() -> Command {
    let mut cmd = Command::new("perf");
    cmd.args(["trace", "-s", "-o", "/dev/null", "--"]);
    cmd
}

/// Start a tracer that wraps `sleep` (a recording of something else) and wait until the sleep
/// runs under it, i.e. everything is attached.
/// The reference tracer (`sysallow/examples/bench_reference.rs`): one of the reference programs
/// from sysallow's own eBPF object, loaded with aya, attached until it is stopped.
pub(super) fn start_reference(env: &Env, args: &[String]) -> anyhow::Result<Background> {
    let mut cmd = Command::new(&env.reference);
    cmd.args(args);
    let (bg, stdout) = Background::spawn("bench_reference", &mut cmd)?;
    system::wait_for_line(stdout, "attached", Duration::from_secs(20))?;
    Ok(bg)
}

/// The kernel memory model for larger hosts (`bench_reference memory`), per (map, CPUs).
pub(super) fn map_model(reference: &Path) -> anyhow::Result<BTreeMap<(String, u64), u64>> {
    let mut cmd = Command::new(reference);
    cmd.arg("memory").args(MODEL_CPUS.map(|c| c.to_string()));
    let out = cmd
        .output()
        .with_context(|| format!("running {}", crate::shown(&cmd)))?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            crate::shown(&cmd),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut model = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, cpus, bytes] = fields[..] else {
            bail!("bench_reference memory: unexpected line {line:?}");
        };
        model.insert((name.to_owned(), cpus.parse()?), bytes.parse()?);
    }
    Ok(model)
}

pub(super) fn start_wrapper(name: &str, mut cmd: Command) -> anyhow::Result<Background> {
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
pub(super) fn start_bpftrace(env: &Env) -> anyhow::Result<Background> {
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
pub(super) fn remove_left_cgroup(env: &Env, pid: u32) {
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
pub(super) struct Startup {
    /// `sysallow record -- stamp`, ms.
    pub(super) recorded_ms: Vec<f64>,
    /// `stamp` spawned directly, ms (the cost of one spawn and exec).
    pub(super) direct_ms: Vec<f64>,
    /// Peak RSS of `sysallow record -- stamp` (wait4), KiB.
    pub(super) rss_kib: Vec<u64>,
}

pub(super) fn startup(env: &Env) -> anyhow::Result<Startup> {
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

pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(super) fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}
