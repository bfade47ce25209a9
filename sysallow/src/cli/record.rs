//! `sysallow record`: run a command with its syscalls recorded, then write the Recording and
//! the profile generated from it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use sysallow::cgroup::Cgroup;
use sysallow::live::LiveOptions;
use sysallow::output::{Output, Owner};
use sysallow::record::naming::ContainerFiles;
use sysallow::record::outputs::{Generation, Outputs, RecordedHow};
use sysallow::record::parent::{ParentSpec, record_parent};
use sysallow::record::repeat::record_repeated;
use sysallow::record::{CommandSpec, WatchSpec, WatchTarget, record_watch};
use sysallow::spawn::RunAs;
use sysallow::target::{Description, Resolver, TargetSpec};
use sysallow_profile::Recording;
use sysallow_profile::recording::Target;

use super::StatusError;
use super::generate::PolicyArgs;

/// Record the syscalls a command or container makes, and write the smallest profile it runs
/// under.
///
/// A command (after `--`) runs in a cgroup of its own, with an eBPF program counting every
/// syscall of it and of every process it starts (threads, forks, execs), from its first syscall
/// after `execve`; nothing of sysallow's own is recorded. The exit status is the command's
/// (128+N if signal N ended it). Signals sent to sysallow are passed to the command, and the
/// outputs are still written in full.
///
/// A container is recorded through its cgroup: --cgroup-parent catches containers from their
/// first syscall, --container attaches to a running one. The runtime's own set-up is left out
/// of the profile (it is kept in the recording, as runtime_setup), its post-filter tail is in.
///
/// Each syscall is counted per ABI (32-bit calls are named by the i386 table) and per program.
/// Anything that could not be recorded is counted and reported.
///
/// Needs root (CAP_BPF and CAP_PERFMON). Under sudo, the command runs as the user who ran sudo
/// and the output files belong to that user; --user changes who the command runs as.
#[derive(ClapArgs)]
#[command(after_help = "Examples:\n  \
    sudo sysallow record --repeat 3 --stress -o app.json --recording app.rec.json -- ./run-tests.sh\n  \
    sysallow run --profile app.json -- ./run-tests.sh\n\n  \
    sudo sysallow record --cgroup-parent sysallow.slice -o out/ &\n  \
    docker run --cgroup-parent=/sysallow.slice --name web IMAGE    # then Ctrl-C sysallow\n  \
    docker run --security-opt seccomp=out/web.json IMAGE\n\n  \
    sudo sysallow record --container web --recording web.rec.json --duration 60\n\n\
    A command's profile is for `sysallow run` and loaders that exec the program directly; a \
    container's includes its runtime's tail (--runtime). `sysallow generate` regenerates a \
    profile from a recording with other flags or formats.")]
pub struct Args {
    /// Write the generated profile here; `-` for stdout. Docker's format, or Podman's for a
    /// Podman container (both read by `--security-opt seccomp=FILE`).
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

    /// Run the command N times and record the union (a merged recording that says, per
    /// syscall, in how many runs it was seen). A syscall made only on some runs (a signal, a
    /// timeout, contention) is then in the profile. The exit status is the first failing
    /// run's, else 0.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,

    /// End the recording once nothing new (no syscall not seen before, in any program) has
    /// appeared for this long, e.g. `2s`, `500ms`, `1m` (a bare number is seconds). A command
    /// is then stopped with SIGTERM and `record` exits 0; a container recording ends. Use it
    /// for a server that keeps serving: the profile is written once its warm-up is over.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    until_stable: Option<Duration>,

    /// Keep every CPU busy while recording (one busy thread per CPU, outside the recorded
    /// cgroup), so that paths taken only under contention are seen: a full pipe, data not
    /// there yet, a held lock. With --repeat, every run is stressed.
    #[arg(long)]
    stress: bool,

    /// Do not record capability checks and privileged execs (the run-time layer:
    /// `privileges` in the recording). They are recorded by default, with a kernel hook on
    /// every capability decision (`fexit/cap_capable` or `tp_btf/cap_capable`, whichever this
    /// kernel loads).
    #[arg(long)]
    no_capabilities: bool,

    /// Record a running container (Docker, containerd, Podman or CRI-O; an id, a unique id
    /// prefix, or a Docker name) until it exits, Ctrl-C, or --duration. The runtime's set-up
    /// is left out (see --cgroup-parent).
    #[arg(long, value_name = "ID|NAME", group = "target")]
    container: Option<String>,

    /// Record every process in this cgroup v2 directory (absolute, or relative to the v2
    /// mount) until it is empty, Ctrl-C, or --duration.
    #[arg(long, value_name = "PATH", group = "target")]
    cgroup: Option<PathBuf>,

    /// Record the cgroup of this process (and everything else in it).
    #[arg(long, value_name = "PID", group = "target")]
    pid: Option<u32>,

    /// Arm a parent cgroup before any container exists, then start containers under it
    /// (`docker run --cgroup-parent=/NAME ...`): each one is recorded from its first syscall
    /// and gets its own recording and profile, named after the container, in the directory
    /// given with -o. The runtime's set-up (mounts, pivot_root, ...) is left out: a process
    /// counts once it has installed the container's seccomp filter, or from the entrypoint's
    /// exec when the container runs unconfined. Ends with Ctrl-C or --duration.
    #[arg(long, value_name = "NAME", group = "target")]
    cgroup_parent: Option<String>,

    /// How the profile (-o) is generated: the same flags as `sysallow generate`, which can
    /// regenerate it from the recording at any time.
    #[command(flatten)]
    policy: PolicyArgs,

    /// The command to record, with its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
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
    // Files belong to the user who asked for them: the one who ran sudo.
    let owner = RunAs::sudo_user().transpose()?.map(|user| Owner {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups: user.groups.iter().map(|g| g.as_raw()).collect(),
    });
    let owner = owner.as_ref();
    let targets = usize::from(!args.command.is_empty())
        + usize::from(args.container.is_some())
        + usize::from(args.cgroup.is_some())
        + usize::from(args.pid.is_some())
        + usize::from(args.cgroup_parent.is_some());
    match targets {
        0 => anyhow::bail!(
            "what to record? give a command after `--`, or --container, --cgroup, --pid, or \
             --cgroup-parent"
        ),
        1 => {}
        _ => anyhow::bail!(
            "give one target: a command after `--`, --container, --cgroup, --pid, or \
             --cgroup-parent"
        ),
    }
    if args.repeat > 1 && args.command.is_empty() {
        anyhow::bail!(
            "--repeat runs a command several times: give the command after `--` (for containers, \
             record several runs with --cgroup-parent and `sysallow merge` their recordings)"
        );
    }
    // Every capability the recording will need, named at once before anything is created.
    let creates_cgroup = !args.command.is_empty() || args.cgroup_parent.is_some();
    sysallow::privilege::check_record(&sysallow::privilege::RecordNeeds {
        creates_cgroup_in: creates_cgroup
            .then(|| sysallow::cgroup::Cgroup2Mount::find().map(|m| m.path))
            .transpose()?,
        runs_as_invoking_user: owner.is_some() && !args.command.is_empty(),
        gives_outputs_to_invoking_user: owner.is_some(),
    })?;
    // Dropped (the busy threads stopped) when the recording ends.
    let _stress = args.stress.then(|| {
        let stress = sysallow::stress::Stress::start();
        eprintln!(
            "sysallow: --stress: {} busy thread(s) keep the CPUs contended",
            stress.threads()
        );
        stress
    });
    if let Some(parent) = &args.cgroup_parent {
        return record_under_parent(&args, parent, duration, owner);
    }
    if !args.command.is_empty() {
        return record_one_command(&args, duration, owner);
    }
    record_one_cgroup(&args, duration, owner)
}

/// `record -- CMD`.
fn record_one_command(
    args: &Args,
    duration: Option<Duration>,
    owner: Option<&Owner>,
) -> anyhow::Result<u8> {
    let run_as = match &args.user {
        Some(user) => Some(RunAs::lookup(user)?),
        None => RunAs::sudo_user().transpose()?,
    };
    // Prepared before the command runs: an unwritable path fails now, not after the workload.
    let outputs = prepare_outputs(args, owner)?;
    let spec = CommandSpec {
        argv: &args.command,
        run_as: run_as.as_ref(),
        duration,
        live: LiveOptions::for_terminal(args.until_stable),
        capabilities: !args.no_capabilities,
    };
    let repeated = record_repeated(&spec, args.repeat, |run| {
        if run.stragglers > 0 {
            eprintln!(
                "sysallow: the command left {} process(es) running; they were stopped",
                run.stragglers
            );
        }
        if run.of > 1 {
            eprintln!("sysallow: {run}");
        }
    })
    .map_err(|err| {
        anyhow::Error::new(StatusError {
            status: err.status(),
            message: sysallow_profile::error_chain(&err),
        })
    })?;
    for warning in &repeated.warnings {
        eprintln!("sysallow: warning: {warning}");
    }
    let how = RecordedHow {
        runs: args.repeat,
        stressed: args.stress,
        container_run: false,
    };
    write_outputs(outputs, &repeated.recording, &args.policy, how)?;
    Ok(repeated.status)
}

/// `record --container`, `--cgroup`, `--pid`.
fn record_one_cgroup(
    args: &Args,
    duration: Option<Duration>,
    owner: Option<&Owner>,
) -> anyhow::Result<u8> {
    if args.user.is_some() {
        anyhow::bail!("--user is for a command sysallow starts (after `--`)");
    }
    let target = resolve_target(args)?;
    let outputs = prepare_outputs(args, owner)?;
    let shown = target.shown;
    let spec = WatchSpec {
        target: target.watch,
        duration,
        live: LiveOptions::for_terminal(args.until_stable),
        capabilities: !args.no_capabilities,
    };
    let announce = Box::new(|| eprintln!("sysallow: recording {shown} (Ctrl-C to stop)"));
    // Not split: the watch yields exactly this cgroup's recording.
    let watched = record_watch(spec, announce, |_| unreachable_child()).context("recording")?;
    if let Some(one) = watched.into_iter().next() {
        let how = RecordedHow {
            runs: 1,
            stressed: args.stress,
            container_run: matches!(one.recording.target, Target::Container { .. }),
        };
        write_outputs(outputs, &one.recording, &args.policy, how)?;
    }
    Ok(0)
}

/// Never called for a target that is not split; a plain cgroup description if it were.
fn unreachable_child() -> Target {
    Target::Cgroup {
        path: String::new(),
        pid: None,
    }
}

/// `record --cgroup-parent NAME -o DIR`.
fn record_under_parent(
    args: &Args,
    parent: &str,
    duration: Option<Duration>,
    owner: Option<&Owner>,
) -> anyhow::Result<u8> {
    if args.user.is_some() {
        anyhow::bail!("--user is for a command sysallow starts (after `--`)");
    }
    if args.recording.is_some() {
        anyhow::bail!(
            "with --cgroup-parent, -o names a directory that gets NAME.json and NAME.rec.json \
             for each container; --recording is not used"
        );
    }
    let Some(dir) = &args.output else {
        anyhow::bail!("--cgroup-parent needs -o DIR: each container's files are written there");
    };
    if dir.as_os_str() == "-" {
        anyhow::bail!("--cgroup-parent writes one profile per container: -o must be a directory");
    }
    match owner {
        // As the user who ran sudo would: theirs, and only where they may.
        Some(owner) => owner.create_dir_all(dir),
        None => std::fs::create_dir_all(dir),
    }
    .with_context(|| format!("creating {}", dir.display()))?;
    // Fail now if the directory cannot be written, not after the containers ran.
    drop(Output::prepare(&dir.join(".sysallow-check"), owner)?);

    let spec = ParentSpec {
        name: parent,
        duration,
        live: LiveOptions::for_terminal(args.until_stable),
        capabilities: !args.no_capabilities,
    };
    let recorded = record_parent(spec, &|event| eprintln!("sysallow: {event}"))?;
    if recorded.watched.is_empty() {
        eprintln!("sysallow: no container started under {}", recorded.flag);
    }
    let mut files = ContainerFiles::new(dir);
    for one in recorded.watched {
        let names = files.next(&one.recording.target, &one.cgroup);
        let outputs = Outputs::prepare(Some(&names.profile), Some(&names.recording), owner)?;
        let how = RecordedHow {
            runs: 1,
            stressed: args.stress,
            container_run: true,
        };
        write_outputs(outputs, &one.recording, &args.policy, how)?;
        eprintln!("sysallow: wrote {}", names.profile.display());
    }
    Ok(0)
}

/// The -o and --recording outputs, prepared before recording.
fn prepare_outputs(args: &Args, owner: Option<&Owner>) -> anyhow::Result<Outputs> {
    Ok(Outputs::prepare(
        args.output.as_deref(),
        args.recording.as_deref(),
        owner,
    )?)
}

/// Write a recording's outputs with the policy flags given to `record` (for the recording's
/// kind of target: a container gets its runtime's tail), and say the summary.
fn write_outputs(
    outputs: Outputs,
    recording: &Recording,
    policy: &PolicyArgs,
    how: RecordedHow,
) -> anyhow::Result<()> {
    let generation = Generation {
        policy: &policy.policy(recording),
        imports: policy.imports,
    };
    outputs.write(recording, &generation, how, &mut |line| {
        eprintln!("sysallow: {line}")
    })?;
    Ok(())
}

/// A resolved --container, --cgroup or --pid.
struct Resolved {
    watch: WatchTarget,
    shown: String,
}

/// Resolve --container, --cgroup or --pid to the cgroup to watch.
fn resolve_target(args: &Args) -> anyhow::Result<Resolved> {
    let spec = if let Some(path) = &args.cgroup {
        TargetSpec::Cgroup(path.clone())
    } else if let Some(pid) = args.pid {
        TargetSpec::Pid(pid)
    } else if let Some(container) = &args.container {
        TargetSpec::Container(container.clone())
    } else {
        anyhow::bail!("no target given");
    };
    let target = Resolver::new()?.resolve(&spec)?;
    // A container's runtime set-up is left out; a plain cgroup or pid has no runtime.
    let boundary = matches!(target.description, Description::Container(_));
    Ok(Resolved {
        shown: target.to_string(),
        watch: WatchTarget {
            cgroup: Cgroup::from_dir(&target.cgroup),
            description: target.recording_target(),
            boundary,
            split: false,
        },
    })
}

/// `2s`, `500ms`, `1m30s`, or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("{text:?} is not a positive duration")),
        Err(_) => humantime::parse_duration(text.trim())
            .map_err(|e| format!("{text:?} is not a duration such as 2s or 500ms: {e}"))?,
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is not a positive duration"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_users_write_them() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
