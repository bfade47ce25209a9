//! `cargo xtask soak`: a recording under load, checked for zero loss and exact counts.
//!
//! The workload (`bench/soak.c`) runs THREADS threads calling getppid at full rate for the
//! duration while forking FORKS children, and prints exactly how many calls and forks it made.
//! The recording must count exactly that many getppid calls, one clone per fork and thread,
//! lose nothing (every loss counter at zero), and the recorder's memory must stay flat. The
//! counters are 64 bit: ten minutes at ten million syscalls a second is 6e9, far from 2^64.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

pub struct Options {
    pub seconds: u64,
    pub threads: u32,
    pub forks: u64,
}

/// What the recorder may grow by while it records (resident memory, last sample over first).
const RSS_GROWTH_LIMIT_KIB: u64 = 2048;

pub fn run(options: &Options) -> anyhow::Result<()> {
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the soak records with eBPF: run it as root");
    }
    let target_dir = crate::bench::target_dir();
    crate::run(crate::cargo().args(["build", "--release", "-p", "sysallow", "--bins"]))?;
    let sysallow = target_dir.join("release/sysallow");
    let out = target_dir.join("soak");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let soak = out.join("soak");
    crate::run(
        Command::new("gcc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
            .arg(&soak)
            .arg(crate::root().join("bench/soak.c")),
    )?;

    let recording = out.join("soak.rec.json");
    eprintln!(
        "soak: recording {} threads at full getppid rate and {} forks for {} s",
        options.threads, options.forks, options.seconds
    );
    let started = Instant::now();
    let mut recorder = Command::new(&sysallow)
        .args(["record", "-o"])
        .arg(out.join("soak.json"))
        .arg("--recording")
        .arg(&recording)
        .arg("--")
        .arg(&soak)
        .args([
            options.seconds.to_string(),
            options.threads.to_string(),
            options.forks.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", sysallow.display()))?;
    let stdout = recorder.stdout.take().context("the workload's stdout")?;
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout));
    // The recorder's resident memory, once a second while it records.
    let mut rss_kib = Vec::new();
    let status = loop {
        if let Some(status) = recorder.try_wait()? {
            break status;
        }
        rss_kib.extend(crate::bench::system::status_kib(recorder.id(), "VmRSS"));
        std::thread::sleep(Duration::from_secs(1));
    };
    let printed = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the stdout reader panicked"))??;
    ensure!(status.success(), "sysallow record ended with {status}");
    let made = |what: &str| -> anyhow::Result<u64> {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(what)?.trim().parse().ok())
            .with_context(|| format!("the workload did not print `{what} N`: {printed:?}"))
    };
    let (getppid_made, forks_made) = (made("getppid")?, made("forks")?);

    let rec: Value = serde_json::from_str(
        &fs::read_to_string(&recording)
            .with_context(|| format!("reading {}", recording.display()))?,
    )?;
    let count = |name: &str| {
        rec["abis"]["x86_64"]["syscalls"][name]["count"]
            .as_u64()
            .unwrap_or(0)
    };
    let losses: Vec<(String, u64)> = rec["losses"]
        .as_object()
        .context("the recording has no losses")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(u64::MAX)))
        .filter(|(_, v)| *v != 0)
        .collect();
    let clones = count("clone") + count("clone3");
    let expected_clones = forks_made + u64::from(options.threads);
    let (first, last, max) = (
        rss_kib.get(1).or(rss_kib.first()).copied().unwrap_or(0),
        rss_kib.last().copied().unwrap_or(0),
        rss_kib.iter().copied().max().unwrap_or(0),
    );
    let report = json!({
        "seconds": options.seconds,
        "threads": options.threads,
        "forks": forks_made,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "getppid": {"made": getppid_made, "recorded": count("getppid")},
        "clone_and_clone3": {"made": expected_clones, "recorded": clones},
        "losses": losses.iter().map(|(k, v)| json!({k: v})).collect::<Vec<_>>(),
        "recorder_rss_kib": {"first": first, "last": last, "max": max, "samples": rss_kib.len()},
    });
    fs::write(
        out.join("soak.json.report"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);

    ensure!(losses.is_empty(), "the recording lost events: {losses:?}");
    ensure!(
        count("getppid") == getppid_made,
        "getppid: the workload made {getppid_made}, the recording counted {}",
        count("getppid")
    );
    ensure!(
        clones == expected_clones,
        "clone + clone3: {expected_clones} forks and threads were made, {clones} recorded"
    );
    ensure!(
        last <= first + RSS_GROWTH_LIMIT_KIB,
        "the recorder grew from {first} KiB to {last} KiB (limit +{RSS_GROWTH_LIMIT_KIB} KiB)"
    );
    eprintln!(
        "soak: passed: {getppid_made} getppid calls counted exactly, {expected_clones} clones, \
         no loss, recorder {first} -> {last} KiB resident"
    );
    Ok(())
}
