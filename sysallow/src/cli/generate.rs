//! `sysallow generate`: turn recordings into a profile for where it is deployed.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use sysallow::output::Output;
use sysallow_profile::Recording;
use sysallow_profile::args::ArgsLevel;
use sysallow_profile::formats::{self, Document, Format};
use sysallow_profile::generate::{DefaultErrno, GenerationPolicy, generate};
use sysallow_profile::imports::ImportsMode;
use sysallow_profile::runtime::RuntimeChoice;

use super::io::{read_document, warn};

/// Build the smallest seccomp profile from one or more recordings (`sysallow record
/// --recording`, or `sysallow merge`).
///
/// Allowed: every syscall observed, in the observed ABIs only, plus a few essentials, the
/// companions of what was observed and the ways to wait the programs can take (see
/// --no-essentials, --no-companions, --no-timing-paths), plus what the policy flags add. Never wider than Docker's default: clone, socket and personality only for
/// the argument values Docker's default allows (no namespace flags, no AF_ALG or AF_VSOCK),
/// and clone3 answered with ENOSYS even when observed, so that glibc falls back to clone.
/// Denied: everything else, with the default errno. "New syscall with an older fallback"
/// (clone3, faccessat2, statx, openat2, ...) gets ENOSYS when not observed, so libc and Go
/// fall back. Every rule carries a comment saying why it is there (`sysallow explain` shows
/// them).
#[derive(ClapArgs)]
#[command(after_help = "Examples:\n  \
    sysallow generate app.rec.json -o app.json\n  \
    sysallow generate web.rec.json --runtime runc -o web.json && \
        docker run --security-opt seccomp=web.json IMAGE\n  \
    sysallow generate run1.rec.json run2.rec.json --format podman -o web.json\n  \
    sysallow generate app.rec.json --format systemd >> /etc/systemd/system/app.service.d/seccomp.conf\n  \
    sysallow generate web.rec.json -o web.json --bundle web-bundle/   # + capabilities, read-only, user\n\n\
    Kubernetes: with the Security Profiles Operator, `--format kubernetes` writes a SeccompProfile \
    resource to `kubectl apply`; the operator installs it on every node as \
    /var/lib/kubelet/seccomp/operator/NAMESPACE/NAME.json, and a pod uses it with \
    securityContext.seccompProfile: {type: Localhost, localhostProfile: \
    operator/NAMESPACE/NAME.json}. Without the operator, copy a `--format oci` (or docker) \
    file to /var/lib/kubelet/seccomp/profiles/NAME.json on every node and use \
    localhostProfile: profiles/NAME.json (the path is relative to the kubelet's seccomp \
    directory, /var/lib/kubelet/seccomp by default).\n\n\
    Warnings (names an old libseccomp drops, unnamed syscall numbers, recording losses, what \
    a format cannot express) go to stderr.")]
pub struct Args {
    /// Recordings to build from (several are merged: a syscall any of them saw is allowed).
    #[arg(value_name = "REC", required = true)]
    recordings: Vec<PathBuf>,

    /// Write the profile here (atomically); `-` for stdout (the default).
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
    output: PathBuf,

    /// Output format: docker (`--security-opt seccomp=FILE`), oci (runtime-spec
    /// linux.seccomp, for runc/crun config.json and kubelet Localhost profiles), podman
    /// (containers-common, with errno names), kubernetes (Security Profiles Operator
    /// SeccompProfile YAML), systemd (SystemCallFilter= lines for a unit). Default: podman
    /// when the first recording is of a Podman container, else docker.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,

    /// Name of the Kubernetes resource (default: the output file's stem); also the compose
    /// service's and the Kubernetes container's name in a --bundle.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Also decide the run-time layer (capabilities, no-new-privileges, a non-root user, a
    /// read-only root with tmpfs mounts) from the recordings' privileges, and write it into
    /// DIR beside the profile: bundle.json (every decision and its reason; `explain` and
    /// `diff` read it), docker.sh (`--cap-drop ALL --cap-add ...`, and as drops from
    /// Docker's 14 defaults), podman.sh, compose.yaml, kubernetes.yaml (securityContext,
    /// volumes, the Pod Security level met), systemd.conf. The outputs name the profile
    /// (-o); a non-root user is never set together with a capability it would not have.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,

    /// The user to propose where a non-root user fits (the image's USER, or `UID[:GID]`);
    /// 65534 (nobody) by default. Only with --bundle.
    #[arg(long, value_name = "USER", requires = "bundle")]
    user: Option<String>,

    #[command(flatten)]
    policy: PolicyArgs,
}

/// The generation policy flags, shared by every command that generates a profile.
#[derive(ClapArgs, Clone, Debug, Default)]
pub struct PolicyArgs {
    /// Add the syscalls this container runtime makes after installing the filter (never its
    /// set-up: mount, pivot_root, ...): none, runc, crun, or a measured version (runc@1.1.5,
    /// runc@1.2.8/1.3.3); a bare name takes every measured version of it. Default: the
    /// recorded runtime (runc when unknown) for a container recording, none for a command or
    /// cgroup recording (sysallow run, or a wrapper that execs the program directly).
    #[arg(long, value_name = "RUNTIME", value_parser = parse_runtime)]
    pub runtime: Option<RuntimeChoice>,

    /// The container runs with no-new-privileges (`--security-opt no-new-privileges`): the
    /// runtime tail is smaller.
    #[arg(long)]
    pub no_new_privileges: bool,

    /// Errno for denied syscalls: eperm ("not permitted", what Docker answers) or enosys
    /// ("not implemented", callers fall back). Docker before 23 ignores it and uses EPERM.
    #[arg(long, value_name = "ERRNO", default_value = "eperm", value_parser = parse_errno)]
    pub default_errno: DefaultErrno,

    /// Do not answer unobserved new syscalls (clone3, faccessat2, statx, ...) with ENOSYS.
    #[arg(long)]
    pub no_fallbacks: bool,

    /// Allow the time calls that normally go through the vDSO (clock_gettime, gettimeofday,
    /// time, getcpu), needed where the vDSO is unavailable.
    #[arg(long)]
    pub vdso: bool,

    /// Also allow the equivalents of observed syscalls (open/openat/openat2,
    /// stat/newfstatat/statx, clone/clone3, poll/ppoll, dup2/dup3, ...), for a profile that
    /// survives another libc or libc version.
    #[arg(long)]
    pub portable: bool,

    /// Build from the syscalls of programs whose path matches GLOB only (repeatable; `*`
    /// does not cross `/`, `**` does). The container runtime's own calls are always kept.
    #[arg(long, value_name = "GLOB")]
    pub only_exe: Vec<String>,

    /// Leave out syscalls made only by programs whose path matches GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude_exe: Vec<String>,

    /// Do not add the essentials every profile gets by default: rt_sigreturn (sigreturn on
    /// i386), restart_syscall, exit and exit_group. A recording sees them only if a signal
    /// handler ran, a sleep was interrupted, or a thread ended; without rt_sigreturn the
    /// first signal handler that returns kills the program.
    #[arg(long)]
    pub no_essentials: bool,

    /// Do not add the companions of observed syscalls: the other ways to wait on file
    /// descriptors (poll, ppoll, select, pselect6, epoll_wait, epoll_pwait) when one was
    /// seen; futex and sched_yield when processes or threads were created; rt_sigsuspend
    /// when a child was waited for. Each is needed only under contention, on a full pipe or
    /// while a child still runs, paths a quiet recording rarely takes.
    #[arg(long)]
    pub no_companions: bool,

    /// Do not add the timing paths: the ways to wait (on file descriptors, in a sleep, on a
    /// lock, for a signal, for a child) that a program can take, each class allowed whole.
    /// A program can wait a way when it was seen waiting that way, when its own imports can
    /// make such a call (xz imports poll), or, for the fd waits, when its imports are not
    /// read (static, or in a container) and it made a pipe or socket. One quiet recording
    /// misses these often (xz polls only when its output pipe is full); every one is
    /// ordinary in Docker's default.
    #[arg(long)]
    pub no_timing_paths: bool,

    /// The static cross-check of each recorded program's own dynamic imports (glibc and musl
    /// tables): `advise` (the default) lists the syscalls its imported functions can make
    /// that the recording never saw (record's summary, the recording, explain); `allow` also
    /// adds those in ordinary risk classes to the profile, each with its reason (risky ones
    /// are only advised); `off` does not read the programs. Statically linked programs have
    /// nothing to read.
    #[arg(long, value_name = "MODE", default_value = "advise", value_parser = parse_imports)]
    pub imports: ImportsMode,

    /// Argument rules from the values the recorder captured in the kernel. Every level keeps
    /// the profile within Docker's default (clone without namespace flags, clone3 answered
    /// with ENOSYS, socket without AF_ALG/AF_VSOCK, Docker's personality values). `safe` (the
    /// default) narrows that to what was observed: namespace flags only where observed, the
    /// socket domains observed, the personality values observed. `strict` also allows only
    /// the ioctl requests, prctl options, fcntl commands, setsockopt options and socket types
    /// observed, and write+execute memory only where observed (W^X). `off`: the Docker
    /// ceiling alone. A set with more distinct values than the recorder keeps gets no rule.
    #[arg(long, value_name = "LEVEL", default_value = "safe", value_parser = parse_args_level)]
    pub args: ArgsLevel,
}

impl PolicyArgs {
    /// The policy for recordings of `first`'s kind, with these flags applied.
    pub fn policy(&self, first: &Recording) -> GenerationPolicy {
        let base = GenerationPolicy::for_target(&first.target);
        GenerationPolicy {
            runtime: self.runtime.clone().unwrap_or(base.runtime),
            // The flag, or what the engine reported for a recorded container.
            no_new_privileges: self.no_new_privileges || base.no_new_privileges,
            default_errno: self.default_errno,
            fallbacks: !self.no_fallbacks,
            vdso: self.vdso,
            portable: self.portable,
            only_exe: self.only_exe.clone(),
            exclude_exe: self.exclude_exe.clone(),
            essentials: !self.no_essentials,
            companions: !self.no_companions,
            timing_paths: !self.no_timing_paths,
            imports: self.imports,
            args: self.args,
        }
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_runtime(s: &str) -> Result<RuntimeChoice, String> {
    s.parse()
}

fn parse_errno(s: &str) -> Result<DefaultErrno, String> {
    s.parse()
}

fn parse_imports(s: &str) -> Result<ImportsMode, String> {
    s.parse()
}

fn parse_args_level(s: &str) -> Result<ArgsLevel, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Fail on an unwritable output before doing the work.
    let output = Output::prepare(&args.output, None)
        .with_context(|| format!("preparing {}", args.output.display()))?;
    let mut recordings = Vec::new();
    for path in &args.recordings {
        match read_document(path, 1)? {
            Document::Recording(rec) => recordings.push(rec),
            Document::Profile(_) => anyhow::bail!(
                "{}: is a profile, not a recording (generate reads recordings; `sysallow merge` \
                 combines profiles)",
                path.display()
            ),
        }
    }
    let Some(first) = recordings.first() else {
        anyhow::bail!("no recordings given");
    };
    let kinds: std::collections::BTreeSet<String> = recordings.iter().map(target_kind).collect();
    if args.policy.runtime.is_none() && kinds.len() > 1 {
        warn(&format!(
            "the recordings are of different kinds ({}); the default --runtime follows the \
             first one; pass --runtime to choose",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let policy = args.policy.policy(first);
    let format = args
        .format
        .unwrap_or_else(|| Format::for_target(&first.target));
    let generated = generate(&recordings, &policy).context("generating the profile")?;
    for warning in &generated.warnings {
        warn(warning);
    }
    for note in formats::notes(&generated.profile, format) {
        warn(&note);
    }
    let name = args.name.clone().unwrap_or_else(|| {
        args.output
            .file_stem()
            .filter(|_| args.output.as_os_str() != "-")
            .map_or_else(
                || "sysallow-profile".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            )
    });
    // The run-time layer is decided before anything is written: a recording without
    // privileges fails here, leaving no profile behind.
    let bundle = match &args.bundle {
        Some(_) => {
            let profile = (args.output.as_os_str() != "-").then_some(args.output.as_path());
            if profile.is_none() {
                warn(
                    "the profile goes to stdout: the bundle's outputs name no seccomp profile \
                     (give -o FILE)",
                );
            }
            Some(super::bundle::decide(
                &recordings,
                profile,
                &name,
                args.user.clone(),
            )?)
        }
        None => None,
    };
    let text = formats::write_named(&generated.profile, format, &name);
    output
        .commit(&text)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if let (Some(dir), Some(bundle)) = (&args.bundle, &bundle) {
        super::bundle::write(dir, bundle)?;
        for note in &bundle.notes {
            warn(note);
        }
        eprintln!(
            "sysallow: wrote the run-time layer into {}: {}",
            dir.display(),
            super::bundle::summary(bundle)
        );
    }
    if args.output.as_os_str() != "-" {
        let allowed: usize = generated
            .profile
            .syscalls
            .iter()
            .filter(|r| r.action == sysallow_profile::profile::Action::Allow)
            .map(|r| r.names.len())
            .sum();
        eprintln!(
            "sysallow: wrote {} ({} format, runtime {}, {allowed} syscalls allowed)",
            args.output.display(),
            format,
            policy.runtime
        );
    }
    Ok(0)
}

/// The recording's `target.kind` as written in the file (command, container, cgroup, ...).
fn target_kind(rec: &Recording) -> String {
    serde_json::to_value(&rec.target)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
