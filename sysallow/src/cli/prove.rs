//! `sysallow prove`: run the workload under its whole run-time layer (the bundle) N times and
//! compare each run with an unconfined reference run; `--leave-one-out` shows which grants
//! are needed. See `sysallow::prove` for why this is not `verify`.
//!
//! Exit status: 0 when every run under the bundle behaved as the reference; 4 when one did
//! not (the report says how); 2 for an unusable bundle or recording; 1 for other failures.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use sysallow::prove::command::CommandRunner;
use sysallow::prove::docker::DockerRunner;
use sysallow::prove::{self, Runner};
use sysallow_profile::formats::Document;
use sysallow_profile::hardening::{self, Bundle, Options, SeccompRef};

use super::StatusError;
use super::io::{read_document_quietly, write_output};

/// The status when a run under the bundle behaved differently from the reference.
pub const NOT_PROVED: u8 = 4;

/// Run a workload under its run-time layer and show that it behaves as without it.
///
/// The reference run is unconfined (for a container: `docker run`'s defaults, what it was
/// recorded under); each run under the bundle applies all of it: `--cap-drop ALL --cap-add
/// ...`, no-new-privileges, `--read-only` with the proposed mounts, the user and the seccomp
/// profile (a command: the capability bounding set, no-new-privileges and the profile).
/// Exit status, stdout and stderr must be the same as the reference's: make the workload's
/// output deterministic (no times, no container ids).
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 every run matched the reference; 4 a run did not; 2 unusable \
    bundle or recording; 1 other errors.\n\nExamples:\n  \
    sysallow prove --bundle out/ --image web:1 --runs 10 --leave-one-out\n  \
    sudo sysallow prove --recording app.rec.json --profile app.json -- ./app --selftest"
)]
pub struct Args {
    /// The bundle: `bundle.json`, or the directory `generate --bundle` wrote.
    #[arg(
        long,
        value_name = "BUNDLE",
        conflicts_with = "recording",
        required_unless_present = "recording"
    )]
    pub bundle: Option<PathBuf>,
    /// Decide the bundle from these recordings instead (runs of the same workload, as
    /// `generate --bundle` would, with its defaults; repeatable).
    #[arg(long, value_name = "REC")]
    pub recording: Vec<PathBuf>,
    /// The seccomp profile to run under (default: the one the bundle names).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<PathBuf>,
    /// Run a container of this image (through the `docker` CLI) rather than a command.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// A `docker run` flag for every run, the reference's included (repeatable:
    /// `--docker-arg=--runtime=crun`).
    #[arg(
        long = "docker-arg",
        value_name = "FLAG",
        allow_hyphen_values = true,
        requires = "image"
    )]
    pub docker_args: Vec<String>,
    /// A `docker run` flag for the reference run only: how the workload was recorded, where
    /// that is more than Docker's defaults (`--reference-arg=--cap-add=SYS_NICE`); the runs
    /// under the bundle get the bundle's flags instead.
    #[arg(
        long = "reference-arg",
        value_name = "FLAG",
        allow_hyphen_values = true,
        requires = "image"
    )]
    pub reference_args: Vec<String>,
    /// The docker CLI.
    #[arg(long, value_name = "PATH", default_value = "docker")]
    pub docker: PathBuf,
    /// Runs under the whole bundle.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub runs: u32,
    /// Then one run per grant (each added capability, each proposed mount) without it.
    #[arg(long)]
    pub leave_one_out: bool,
    /// Hide what matches this regular expression in stdout and stderr, the reference's and
    /// every run's alike, before comparing: what varies between any two runs (timings, ids),
    /// such as `--mask 'in [0-9.]+s'` for "Ran 4 tests in 0.309s" (repeatable).
    #[arg(long = "mask", value_name = "REGEX")]
    pub masks: Vec<String>,
    /// Seconds one run may take before it is killed (and counted as timed out).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub timeout: u64,
    /// Write the whole report as JSON here (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The command (for a container: instead of the image's own).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Read the bundle (a file or the directory holding `bundle.json`); a relative seccomp path
/// in it is relative to the bundle's directory.
fn read_bundle(path: &Path) -> anyhow::Result<Bundle> {
    let (file, dir) = if path.is_dir() {
        (path.join("bundle.json"), path.to_owned())
    } else {
        (
            path.to_owned(),
            path.parent().map(Path::to_owned).unwrap_or_default(),
        )
    };
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut bundle = Bundle::from_json(&text).map_err(|err| StatusError {
        status: 2,
        message: format!(
            "{}: {}",
            file.display(),
            sysallow_profile::error_chain(&err)
        ),
    })?;
    if let Some(seccomp) = &mut bundle.seccomp
        && Path::new(&seccomp.path).is_relative()
    {
        let beside = dir.join(&seccomp.path);
        if beside.exists() {
            seccomp.path = beside.display().to_string();
        }
    }
    Ok(bundle)
}

fn bundle_from_recordings(paths: &[PathBuf]) -> anyhow::Result<Bundle> {
    let mut recordings = Vec::new();
    for path in paths {
        match read_document_quietly(path, 2)? {
            Document::Recording(rec) => recordings.push(rec),
            Document::Profile(_) => {
                return Err(StatusError {
                    status: 2,
                    message: format!("{} is a profile, not a recording", path.display()),
                }
                .into());
            }
        }
    }
    let source = recordings
        .first()
        .map(|r| hardening::describe_target(&r.target))
        .unwrap_or_default();
    let options = Options::default();
    let decided = hardening::decide(&recordings, &options).map_err(|err| StatusError {
        status: 2,
        message: err.to_string(),
    })?;
    Ok(Bundle::new(decided, source, &options))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut bundle = match &args.bundle {
        Some(path) => read_bundle(path)?,
        None => bundle_from_recordings(&args.recording)?,
    };
    if let Some(profile) = &args.profile {
        bundle.seccomp = Some(SeccompRef {
            path: profile.display().to_string(),
            localhost_profile: String::new(),
        });
    }
    if args.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    if bundle.pairs_non_root_with_unusable_caps() {
        eprintln!(
            "sysallow: warning: the bundle runs as non-root user {} with added capabilities it \
             would not hold (they go only in the bounding set): expect the runs to differ",
            bundle.user.user.as_deref().unwrap_or("?")
        );
    }
    let timeout = Duration::from_secs(args.timeout);
    let runner: Box<dyn Runner> = match &args.image {
        Some(image) => Box::new(DockerRunner {
            cli: args.docker.clone(),
            image: image.clone(),
            command: args.command.clone(),
            run_args: args.docker_args.clone(),
            reference_args: args.reference_args.clone(),
            timeout,
        }),
        None => {
            if args.command.is_empty() {
                anyhow::bail!("give the command after `--`, or a container image with --image");
            }
            Box::new(CommandRunner {
                argv: args.command.clone(),
                profile: bundle.seccomp.as_ref().map(|s| PathBuf::from(&s.path)),
                sysallow: std::env::current_exe().context("finding this program")?,
                timeout,
            })
        }
    };
    let masks = prove::mask::compile(&args.masks)
        .map_err(|err| anyhow::anyhow!(sysallow_profile::error_chain(&err)))?;
    let masked;
    let runner: &dyn Runner = if masks.is_empty() {
        runner.as_ref()
    } else {
        masked = prove::mask::Masked {
            inner: runner.as_ref(),
            masks,
        };
        &masked
    };
    eprintln!(
        "sysallow: proving the run-time layer of {} on {}",
        bundle.source,
        runner.describe()
    );
    let report = prove::prove(runner, &bundle, args.runs, args.leave_one_out, &|line| {
        eprintln!("sysallow: {line}")
    })
    .map_err(|err| anyhow::anyhow!(sysallow_profile::error_chain(&err)))?;
    eprintln!(
        "sysallow: {}/{} runs under the bundle behaved as the unconfined run",
        report.matched,
        report.runs.len()
    );
    if args.leave_one_out {
        let unshown: Vec<String> = report
            .leave_one_out
            .iter()
            .filter(|n| !n.needed)
            .map(|n| {
                n.variant
                    .describe()
                    .trim_start_matches("without ")
                    .to_owned()
            })
            .collect();
        if unshown.is_empty() {
            eprintln!("sysallow: leave-one-out: every grant was needed");
        } else {
            eprintln!(
                "sysallow: leave-one-out: not shown to be needed: {} (this workload's run did \
                 not need it; another input might)",
                unshown.join(", ")
            );
        }
    }
    if let Some(path) = &args.report {
        write_output(Some(path), &report.to_json())?;
    }
    Ok(if report.proved() { 0 } else { NOT_PROVED })
}
