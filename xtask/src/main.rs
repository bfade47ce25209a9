//! `cargo xtask`: everything a developer or CI runs, so a fresh machine needs two commands.
//!
//! - `setup`: install what a fresh machine lacks (idempotent: checks versions, skips what is
//!   there, takes seconds when everything is present).
//! - `test`: setup, formatting and lint checks, build, every test.
//! - `demo`: setup, then the main job on the example application.
//! - `image`: the container image of sysallow for deploy/ (xtask/src/image.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

mod bench;
mod cycles;
mod fuzz;
mod image;
mod setup;
mod soak;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "sysallow's developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what this machine lacks to build and test sysallow (Debian packages, nightly
    /// rust-src, bpf-linker for LLVM 22, Docker). Idempotent.
    Setup,
    /// Setup, then the import-circle check, cargo fmt --check, clippy -D warnings, build, and every test. Root and
    /// Docker tests skip with a message when not root, unless
    /// SYSALLOW_REQUIRE_PRIVILEGED_TESTS=1 (CI), which turns a skip into a failure.
    Test {
        /// Skip the fmt and clippy checks.
        #[arg(long)]
        no_lint: bool,
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Build release binaries and measure what recording costs, against ftrace's floor,
    /// bpftrace, perf trace and strace: per syscall, for an unrelated process, on file-heavy
    /// and fork/exec-heavy workloads; plus start-up, RSS and kernel map memory. Writes a
    /// markdown table to stdout and target/bench/bench.json. Needs root.
    Bench {
        /// CI smoke: one repetition of small workloads (seconds); asserts nothing about time.
        #[arg(long)]
        quick: bool,
        /// Repetitions (default 5; 1 with --quick).
        #[arg(long)]
        reps: Option<usize>,
        /// Only these configurations (comma-separated names, e.g.
        /// `untraced,ftrace-floor,bpf-empty,sysallow,agent`): a focused run.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Record a load for a long time and check it: THREADS threads at full syscall rate and
    /// FORKS forks during SECONDS; exact counts, zero loss, the recorder's memory flat. Writes
    /// target/soak/soak.json.report. Needs root. CI runs `--seconds 30 --forks 1000`.
    Soak {
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        threads: u32,
        #[arg(long, default_value_t = 20_000)]
        forks: u64,
    },
    /// Run every libFuzzer target (fuzz/) for SECONDS each: documents (profiles in every
    /// format, recordings), recordings, engine API answers, tracefs format files, mountinfo,
    /// run-time layer bundles.
    /// Fails on a panic, a hang (> 10 s) or > 2 GiB. Installs cargo-fuzz. CI runs 30 s each.
    Fuzz {
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Then keep only the corpus inputs that add coverage (cargo fuzz cmin).
        #[arg(long)]
        minimize: bool,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
    /// Fail if modules of a workspace crate import each other in a circle (text parsing of
    /// `crate::`/`super::` paths; limits in xtask/src/cycles.rs).
    Cycles,
    /// Build sysallow's container image offline (`sysallow:dev`, for deploy/): a static
    /// binary with its eBPF object, as a docker-archive tarball that `docker load` and
    /// `ctr -n k8s.io images import` take. Prints its path (target/image/sysallow-dev.tar).
    Image,
    /// Setup, then record the example application's test suite, generate its profile, run the
    /// suite under it, and show a syscall it never made being denied.
    Demo,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::run(),
        Task::Test {
            no_lint,
            cargo_args,
        } => test(no_lint, &cargo_args),
        Task::Demo => demo(),
        Task::Image => image::run_image(),
        Task::Cycles => cycles::run(),
        Task::Bench { quick, reps, only } => bench::run(&bench::Options { quick, reps, only }),
        Task::Fuzz {
            seconds,
            minimize,
            targets,
        } => fuzz::run(&fuzz::Options {
            seconds,
            minimize,
            targets,
        }),
        Task::Soak {
            seconds,
            threads,
            forks,
        } => soak::run(&soak::Options {
            seconds,
            threads,
            forks,
        }),
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Run a command in the workspace root, failing with the command line if it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    cmd.current_dir(root());
    eprintln!("+ {}", shown(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", shown(cmd)))?;
    if !status.success() {
        bail!("{} failed: {status}", shown(cmd));
    }
    Ok(())
}

fn shown(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn test(no_lint: bool, cargo_args: &[String]) -> anyhow::Result<()> {
    setup::run()?;
    // Seconds, and not a lint to opt out of: a module circle is a design fault.
    cycles::run()?;
    if !no_lint {
        run(cargo().args(["fmt", "--all", "--check"]))?;
        run(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
        run(&mut ebpf_clippy())?;
    }
    run(cargo().arg("test").args(cargo_args))?;
    Ok(())
}

/// Clippy on the eBPF crate, which the workspace's clippy leaves out: it builds only for the BPF
/// target, with nightly and `-Z build-std=core` (as aya-build builds it, in release), and
/// `bpf_target_arch` set to the host's architecture the way aya-build sets it.
fn ebpf_clippy() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args([
        "run",
        "nightly",
        "cargo",
        "clippy",
        "--package",
        "sysallow-ebpf",
        "--target",
    ])
    .args([
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--release",
        "--",
    ])
    .args(["-D", "warnings"])
    .env(
        "CARGO_ENCODED_RUSTFLAGS",
        format!("--cfg=bpf_target_arch=\"{}\"", std::env::consts::ARCH),
    );
    // The stable toolchain that runs xtask must not leak into the nightly one (aya-build does
    // the same).
    for key in ["RUSTC", "RUSTC_WORKSPACE_WRAPPER", "RUSTUP_TOOLCHAIN"] {
        cmd.env_remove(key);
    }
    cmd
}

fn demo() -> anyhow::Result<()> {
    setup::run()?;
    run(cargo().args(["build", "--release", "--bins"]))?;
    let root = root();
    let sysallow = root.join("target/release/sysallow");
    let out = root.join("target/demo");
    std::fs::create_dir_all(&out).context("creating target/demo")?;
    let app = root.join("examples/wordfreq/run-tests.sh");
    let profile = out.join("wordfreq.json");
    let recording = out.join("wordfreq.rec.json");

    eprintln!("\n== 1. Record the example's test suite");
    run(Command::new(&sysallow)
        .args(["record", "-o"])
        .arg(&profile)
        .arg("--recording")
        .arg(&recording)
        .arg("--")
        .arg(&app))?;
    eprintln!("\n== 2. What it needed, and why");
    run(Command::new(&sysallow).arg("explain").arg(&recording))?;
    eprintln!("\n== 3. The test suite passes under the profile");
    run(Command::new(&sysallow)
        .args(["run", "--profile"])
        .arg(&profile)
        .arg("--")
        .arg(&app))?;
    eprintln!("\n== 4. A syscall the suite never made is denied (symlink, by ln -s)");
    let target = out.join("denied-link");
    let _ = std::fs::remove_file(&target);
    let status = Command::new(&sysallow)
        .args(["run", "--profile"])
        .arg(&profile)
        .args(["--", "ln", "-s", "nowhere"])
        .arg(&target)
        .status()
        .context("running ln -s under the profile")?;
    if status.success() || target.symlink_metadata().is_ok() {
        bail!("symlink was not denied under the profile: {status}");
    }
    eprintln!("\nsymlink was denied, as it should be.");

    eprintln!("\n== 5. The rest of the run-time layer from the same recording");
    let bundle = out.join("wordfreq.bundle");
    run(Command::new(&sysallow)
        .arg("generate")
        .arg(&recording)
        .arg("-o")
        .arg(&profile)
        .arg("--bundle")
        .arg(&bundle))?;
    let systemd = std::fs::read_to_string(bundle.join("systemd.conf"))
        .with_context(|| format!("reading {}", bundle.join("systemd.conf").display()))?;
    eprintln!("{}", systemd.trim_end());
    eprintln!("\n== 6. The suite passes under all of it (3 runs, output as unconfined)");
    run(Command::new(&sysallow)
        // unittest prints its run time ("Ran 4 tests in 0.152s"): not the bundle's doing.
        .args(["prove", "--runs", "3", "--mask", "in [0-9.]+s", "--bundle"])
        .arg(&bundle)
        .arg("--")
        .arg(&app))?;
    eprintln!(
        "\nProfile: {}\nRecording: {}\nRun-time layer: {}",
        profile.display(),
        recording.display(),
        bundle.display()
    );
    Ok(())
}
