//! `cargo xtask fuzz`: run every libFuzzer target in `fuzz/` for a while, and fail on a panic,
//! a hang (an input slower than 10 s) or memory beyond 2 GiB. The targets cover every parser
//! a user or the host can feed sysallow: documents (profiles in every format, recordings),
//! recordings, the engine API's answers, tracefs format files, mountinfo and /proc/PID/cgroup,
//! and the run-time layer's bundles (and the recordings decided into them).
//! The corpus in `fuzz/corpus/` is committed; new inputs a run finds are added to it
//! (`--minimize` then keeps only those that add coverage).

use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::json;

pub const TARGETS: [&str; 6] = [
    "documents",
    "recording",
    "engine_api",
    "tracefs_format",
    "mountinfo",
    "bundle",
];

/// cargo-fuzz, pinned so that a fresh machine gets what was tested.
const CARGO_FUZZ: &str = "0.13.2";

pub struct Options {
    pub seconds: u64,
    pub minimize: bool,
    pub targets: Vec<String>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    crate::setup::run()?;
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ));
    if !installed {
        crate::run(Command::new("cargo").args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ,
        ]))?;
    }
    let targets: Vec<&str> = if options.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &options.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("no fuzz target {t:?}; there are: {}", TARGETS.join(", "));
            }
        }
        options.targets.iter().map(String::as_str).collect()
    };
    let mut report = Vec::new();
    for target in targets {
        let mut cmd = fuzz_command(&["run", "-O", target, "--"]);
        cmd.args([
            format!("-max_total_time={}", options.seconds),
            "-timeout=10".to_owned(),
            "-rss_limit_mb=2048".to_owned(),
            "-max_len=65536".to_owned(),
            "-print_final_stats=1".to_owned(),
        ]);
        eprintln!("+ {}", crate::shown(&cmd));
        let out = cmd
            .current_dir(crate::root())
            .output()
            .with_context(|| format!("running cargo fuzz for {target}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "fuzz target {target} failed ({}); the input is under fuzz/artifacts/{target}/:\n{}",
                out.status,
                tail.join("\n")
            );
        }
        // libFuzzer's last words: "Done N runs in S second(s)".
        let runs: u64 = stderr
            .lines()
            .find_map(|l| {
                l.strip_prefix("Done ")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .context("libFuzzer did not say how many runs it made")?;
        let corpus = std::fs::read_dir(crate::root().join("fuzz/corpus").join(target))
            .map(|d| d.count())
            .unwrap_or(0);
        eprintln!(
            "fuzz: {target}: {runs} executions in {} s, no failure; corpus {corpus} inputs",
            options.seconds
        );
        if options.minimize {
            crate::run(&mut fuzz_command(&["cmin", "-O", target]))?;
        }
        report.push(json!({"target": target, "seconds": options.seconds, "executions": runs, "corpus": corpus}));
    }
    let out = crate::bench::target_dir().join("fuzz");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        out.join("fuzz.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `cargo +nightly fuzz ARGS`, building sysallow without its eBPF object (the parsers do not
/// need it, and the BPF build does not take sanitizer flags).
fn fuzz_command(args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .arg("fuzz")
        .args(args)
        .env("SYSALLOW_SKIP_EBPF", "1");
    cmd
}
