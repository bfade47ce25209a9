//! `sysallow record`: run a command with its syscalls recorded, then write the Recording and
//! the profile generated from it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use tracer::output::Output;
use tracer::record::{CommandSpec, record_command};
use tracer::spawn::{Ended, RunAs};

use super::StatusError;

/// Record the syscalls a command makes, and write the smallest profile it runs under.
///
/// The command runs in a cgroup of its own with an eBPF program counting every syscall of it
/// and of every process it starts (threads, forks, execs), from its first syscall after
/// `execve`. Nothing of sysallow's own is recorded. When it ends, the profile (-o) and the raw
/// recording (--recording) are written; the exit status is the command's (128+N if a signal
/// N ended it). Signals sent to sysallow are passed to the command, and the outputs are still
/// written in full.
///
/// Needs root (CAP_BPF and CAP_PERFMON). Under sudo, the command runs as the user who ran sudo
/// and the output files belong to that user; --user changes who the command runs as.
#[derive(ClapArgs)]
#[command(after_help = "Examples:\n  \
    sudo sysallow record -o app.json --recording app.rec.json -- ./run-tests.sh\n  \
    sysallow run --profile app.json -- ./run-tests.sh\n\n\
    The profile is for `sysallow run` and for seccomp loaders that exec the program directly. \
    For a container runtime, regenerate from the recording with the runtime's tail:\n  \
    sysallow generate app.rec.json --runtime runc -o docker-profile.json")]
pub struct Args {
    /// Write the generated profile (Docker format) here; `-` for stdout.
    #[arg(short = 'o', long = "output", value_name = "PROFILE")]
    output: Option<PathBuf>,

    /// Write the raw Recording (versioned JSON: every syscall, per ABI, per program, with
    /// counts) here. Keep it: `generate`, `merge`, `diff` and `explain` read it.
    #[arg(long, value_name = "REC")]
    recording: Option<PathBuf>,

    /// Run the command as this user (name or uid). Default: the user who ran sudo, else the
    /// current user.
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// Stop the command (SIGTERM) after this many seconds, then write the outputs.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,

    /// The command to record, with its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.output.is_none() && args.recording.is_none() {
        anyhow::bail!(
            "nothing to write: give -o PROFILE and/or --recording REC (`-o -` prints the profile)"
        );
    }
    let duration = match args.duration {
        Some(secs) if secs.is_finite() && secs > 0.0 => Some(Duration::from_secs_f64(secs)),
        Some(secs) => anyhow::bail!("--duration must be a positive number of seconds, not {secs}"),
        None => None,
    };
    let run_as = match &args.user {
        Some(user) => Some(RunAs::lookup(user)?),
        None => RunAs::sudo_user().transpose()?,
    };
    // Files belong to the user who asked for them: the one who ran sudo.
    let owner = match RunAs::sudo_user().transpose()? {
        Some(user) => Some((user.uid.as_raw(), user.gid.as_raw())),
        None => None,
    };
    // Prepared before the command runs: an unwritable path fails now, not after the workload.
    let profile_out = args
        .output
        .as_deref()
        .map(|p| Output::prepare(p, owner))
        .transpose()?;
    let recording_out = args
        .recording
        .as_deref()
        .map(|p| Output::prepare(p, owner))
        .transpose()?;

    let spec = CommandSpec {
        argv: &args.command,
        run_as: run_as.as_ref(),
        duration,
    };
    let result = record_command(&spec).map_err(|err| {
        let status = err.status();
        anyhow::Error::new(StatusError {
            status,
            message: err.to_string(),
        })
    })?;

    let recording = &result.recording;
    if result.stragglers > 0 {
        eprintln!(
            "sysallow: the command left {} process(es) running; they were stopped",
            result.stragglers
        );
    }
    for (cause, n) in recording.losses.nonzero() {
        eprintln!("sysallow: warning: {n} event(s) could not be recorded fully: {cause}");
    }
    if let Some(out) = recording_out {
        out.commit(&recording.to_json())
            .context("writing the recording")?;
    }
    drop(profile_out);
    let syscalls: usize = recording.abis.values().map(|a| a.syscalls.len()).sum();
    eprintln!(
        "sysallow: recorded {syscalls} distinct syscalls from {} program(s) in {} ms",
        recording.programs().len(),
        recording.duration_ms
    );
    Ok(match result.ended {
        Ended::Code(code) => code as u8,
        Ended::Signal(signal) => (128 + signal) as u8,
    })
}
