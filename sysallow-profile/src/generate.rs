//! Generation policy: from Recordings to the smallest Profile under which the workload still
//! runs where it is deployed.
//!
//! What [`GenerationPolicy::default`] produces (what `sysallow record -o` writes for a spawned command):
//! - `defaultAction: SCMP_ACT_ERRNO` with an explicit `defaultErrnoRet: 1` (EPERM);
//! - every observed syscall allowed; only the observed ABIs listed (`architectures`, or
//!   `archMap` when a native ABI and its compat ABI were both observed);
//! - "new syscall with an older fallback" answered with ENOSYS when it was not observed
//!   ([`FALLBACKS`]), so libc and Go fall back instead of failing;
//! - the highest syscall of each ABI named with the default errno (see [`pin_rule`]);
//! - the [`ESSENTIALS`] (signal return, restart, exit), which recordings rarely see yet every
//!   program may need, and the [`COMPANIONS`] of what was observed (the other ways to wait on
//!   file descriptors, futex for threads), each with its reason;
//! - never wider than Docker's default (`ceiling.rs`): observed `clone`, `socket` and
//!   `personality` only for the argument values Docker's default allows, and `clone3` answered
//!   with ENOSYS even when observed, `clone` allowed in its place.
//!
//! Names are those of the tables in `abi.rs`. The output is sorted and deterministic: the same
//! recordings and policy give the same bytes on any machine (the local libseccomp only adds
//! warnings, see [`libseccomp_warnings`]).
//!
//! Limitation: a rule's names apply to every listed architecture (Docker's format has no
//! per-ABI name list), so a name observed in one ABI is allowed in every listed ABI that has
//! it. Policy additions (tails, fallbacks, --vdso, --portable) are only added when an observed
//! ABI has the name, so no name of another ABI is invented.
//!
//! # Why-strings
//!
//! Every rule carries a `comment` saying why it is there. `sysallow explain` recognises these
//! prefixes; keep them stable (they are the constants in [`why`]):
//!
//! | prefix | meaning |
//! | --- | --- |
//! | `observed` | seen in the recording(s); `observed: in K of N recordings` after a merge |
//! | `runtime tail: ` | the container runtime calls it after installing the filter (`runtime.rs`) |
//! | `policy: --vdso` | added by `--vdso` |
//! | `policy: --portable` | added by `--portable` as an equivalent of an observed syscall |
//! | `policy: essential` | in every profile unless `--no-essentials` ([`ESSENTIALS`]) |
//! | `policy: companion` | a companion of an observed syscall unless `--no-companions` |
//! | `policy: timing path` | a way to wait the program can take, unless `--no-timing-paths` (`timing.rs`) |
//! | `policy: replaces ` | allowed in place of a syscall the ceiling denies (`clone` for `clone3`) |
//! | `verify: ` | added by `sysallow verify -o`: the profile would have denied it (`fix.rs`) |
//! | `policy: imports` | a recorded program imports a function that makes it (`imports.rs`) |
//! | `filter in place: ` | answered as the filter the workload ran under answered it, or as the kernel did |
//! | `fallback: ` | ENOSYS so callers fall back to an older syscall |
//! | `errno pin: ` | names the highest syscall so runc's ENOSYS stub cannot change the errno |
//! | `merged: ` | written by `merge` for profiles |

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::abi::Abi;
use crate::args::ArgsLevel;
use crate::ceiling::{self, Ceiling};
use crate::imports::ImportsMode;
pub use crate::local_libseccomp::{
    libseccomp_knows, libseccomp_unknown, libseccomp_version, libseccomp_warnings,
};
use crate::policy::describe_arg;
use crate::profile::{Action, ArchMapEntry, ArgCondition, Profile, SyscallRule};
use crate::recording::{CONTAINER_RUNTIME, Recording, Target};
use crate::runtime::{OciRuntime, RuntimeChoice, tails_for};

pub use crate::errno::{ENOSYS, EPERM};
pub use crate::why;

/// The errno a denied syscall gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultErrno {
    /// "Operation not permitted": what Docker answers, and what callers treat as "denied".
    #[default]
    Eperm,
    /// "Function not implemented": callers treat the syscall as absent and fall back.
    Enosys,
}

impl DefaultErrno {
    pub fn number(self) -> u32 {
        match self {
            DefaultErrno::Eperm => EPERM,
            DefaultErrno::Enosys => ENOSYS,
        }
    }
}

impl std::str::FromStr for DefaultErrno {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "eperm" => Ok(DefaultErrno::Eperm),
            "enosys" => Ok(DefaultErrno::Enosys),
            _ => Err(format!("unknown errno {s:?} (expected eperm or enosys)")),
        }
    }
}

/// What to put in a profile besides what was observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationPolicy {
    /// Whose post-filter tail to add.
    pub runtime: RuntimeChoice,
    /// The container runs with no-new-privileges (a smaller runtime tail).
    pub no_new_privileges: bool,
    pub default_errno: DefaultErrno,
    /// Answer unobserved [`FALLBACKS`] with ENOSYS.
    pub fallbacks: bool,
    /// Allow the time calls that usually go through the vDSO ([`VDSO`]).
    pub vdso: bool,
    /// Allow the equivalents of observed syscalls ([`EQUIVALENTS`]).
    pub portable: bool,
    /// Build from the syscalls of programs matching one of these globs only.
    pub only_exe: Vec<String>,
    /// Leave out the syscalls made only by programs matching one of these globs.
    pub exclude_exe: Vec<String>,
    /// Allow the [`ESSENTIALS`].
    pub essentials: bool,
    /// Allow the [`COMPANIONS`] of observed syscalls.
    pub companions: bool,
    /// Allow the timing classes a program can take (`timing.rs`).
    pub timing_paths: bool,
    /// What the static cross-check of the recorded programs' imports adds (`imports.rs`).
    pub imports: ImportsMode,
    /// How far argument rules go beyond the Docker ceiling (`args.rs`).
    pub args: ArgsLevel,
}

impl Default for GenerationPolicy {
    fn default() -> Self {
        GenerationPolicy {
            runtime: RuntimeChoice::None,
            no_new_privileges: false,
            default_errno: DefaultErrno::Eperm,
            fallbacks: true,
            vdso: false,
            portable: false,
            only_exe: Vec::new(),
            exclude_exe: Vec::new(),
            essentials: true,
            companions: true,
            timing_paths: true,
            imports: ImportsMode::default(),
            args: ArgsLevel::default(),
        }
    }
}

impl GenerationPolicy {
    /// The default policy for what was recorded: no runtime tail for a command or a cgroup
    /// (sysallow or a wrapper applies the profile and execs directly), the recorded runtime's
    /// tail (runc when unknown: Docker's, containerd's and Kubernetes' default) for a container.
    /// A container recording already holds the tail measured during the recording (attributed
    /// to `(container runtime)`); the data tail adds what other measured versions need.
    pub fn for_target(target: &Target) -> GenerationPolicy {
        match target {
            Target::Container {
                runtime,
                no_new_privileges,
                ..
            } => GenerationPolicy {
                runtime: RuntimeChoice::OciRuntime {
                    // The OCI runtime the engine reported; runc (Docker's default) if unknown.
                    runtime: match runtime.as_deref() {
                        Some(r) if r.contains("crun") => OciRuntime::Crun,
                        _ => OciRuntime::Runc,
                    },
                    version: None,
                },
                no_new_privileges: *no_new_privileges,
                ..GenerationPolicy::default()
            },
            _ => GenerationPolicy::default(),
        }
    }
}

/// A generated profile and what the user should know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub profile: Profile,
    /// Messages for stderr: names old libseccomp drops, unnamed numbers, losses, ...
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("no recordings given")]
    NoRecordings,
    #[error("invalid glob {pattern:?}")]
    Glob {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("--only-exe {patterns} matched none of the recorded programs: {programs}")]
    NoProgramMatched { patterns: String, programs: String },
    #[error("nothing to build a profile from: no syscall was recorded{detail}")]
    Empty { detail: String },
}

/// "New syscall with an older fallback": answered with ENOSYS when not observed, so the caller
/// falls back. Each entry says who falls back.
pub const FALLBACKS: &[(&str, &str)] = &[
    (
        "clone3",
        "glibc 2.34+ posix_spawn/pthread_create/system/popen fall back to clone only on ENOSYS \
         (FIELD-NOTES; Docker's default profile answers clone3 with ENOSYS too)",
    ),
    (
        "faccessat2",
        "glibc 2.33+ faccessat(AT_EACCESS/AT_SYMLINK_NOFOLLOW) falls back on ENOSYS (FIELD-NOTES)",
    ),
    (
        "statx",
        "glibc and Go fall back to fstatat/newfstatat on ENOSYS (FIELD-NOTES)",
    ),
    (
        "openat2",
        "callers of openat2 (runc 1.2+ via filepath-securejoin, systemd) fall back to openat on \
         ENOSYS",
    ),
    (
        "close_range",
        "glibc closefrom() and Python's os.closerange fall back to closing fds one by one",
    ),
    (
        "epoll_pwait2",
        "event loops that probe epoll_pwait2 for finer timeouts fall back to epoll_pwait on ENOSYS",
    ),
    (
        "futex_waitv",
        "Wine/Proton probe futex_waitv and fall back to futex on ENOSYS",
    ),
    (
        "fchmodat2",
        "glibc 2.39+ fchmodat(AT_SYMLINK_NOFOLLOW) tries fchmodat2 and falls back on ENOSYS",
    ),
    (
        "pidfd_open",
        "Go 1.23+ os/exec probes pidfd_open and keeps the classic wait path when it is absent",
    ),
    (
        "preadv2",
        "glibc preadv2 with flags 0 falls back to preadv on ENOSYS",
    ),
    (
        "pwritev2",
        "glibc pwritev2 with flags 0 falls back to pwritev on ENOSYS",
    ),
    (
        "copy_file_range",
        "Go's io.Copy and coreutils cp fall back to read/write when copy_file_range is absent",
    ),
    // 32-bit ABIs: glibc 2.34+ built for kernels before 5.1 (Debian's is) tries the 64-bit-time
    // syscall first and falls back to the old one on ENOSYS (sysdeps/unix/sysv/linux/*time64*).
    ("clock_gettime64", TIME64),
    ("clock_nanosleep_time64", TIME64),
    ("clock_getres_time64", TIME64),
    ("futex_time64", TIME64),
    ("ppoll_time64", TIME64),
    ("pselect6_time64", TIME64),
    ("utimensat_time64", TIME64),
    ("recvmmsg_time64", TIME64),
    ("semtimedop_time64", TIME64),
    ("rt_sigtimedwait_time64", TIME64),
    ("timerfd_settime64", TIME64),
    ("timerfd_gettime64", TIME64),
    ("timer_settime64", TIME64),
    ("timer_gettime64", TIME64),
    ("mq_timedsend_time64", TIME64),
    ("mq_timedreceive_time64", TIME64),
    ("sched_rr_get_interval_time64", TIME64),
];

const TIME64: &str = "glibc 2.34+ on 32-bit ABIs tries the 64-bit-time syscall first and falls \
                      back to the old one on ENOSYS";

/// Allowed in every profile (unless `--no-essentials`): they take no argument that matters, do
/// nothing to anyone else, and are needed on paths a recording rarely takes. Without
/// `rt_sigreturn` the first signal handler that returns kills the program with SIGSEGV.
pub const ESSENTIALS: &[(&str, &str)] = &[
    (
        "rt_sigreturn",
        "returns from a signal handler; a recording sees it only if a signal arrived, and \
         without it the first handler that returns kills the program (SIGSEGV)",
    ),
    (
        "sigreturn",
        "i386: returns from a signal handler with an old-style frame (as rt_sigreturn)",
    ),
    (
        "restart_syscall",
        "the kernel restarts an interrupted sleep (nanosleep, poll, futex) with it after a \
         stop signal, e.g. SIGSTOP/SIGCONT or a debugger",
    ),
    (
        "exit",
        "ends a thread; a program that never ended a thread while recorded may do so later",
    ),
    (
        "exit_group",
        "ends the process; a program that was killed or exec'd away while recorded never \
         made it",
    ),
];

/// When a program was seen doing one of `when`, it may do the rest of `add` on a path the
/// recording did not take: contention, a full pipe, data not there yet, a child still running.
#[derive(Debug)]
pub struct Companion {
    pub when: &'static [&'static str],
    pub add: &'static [&'static str],
    pub reason: &'static str,
}

/// The companion rules (unless `--no-companions`). Each costs at most a handful of names, all
/// ordinary in Docker's default.
pub const COMPANIONS: &[Companion] = &[
    Companion {
        when: WAITS_ON_FDS,
        add: WAITS_ON_FDS,
        reason: "waits on file descriptors: a program that waits one way may wait another on \
                 a path not taken while recorded (xz polls only when its output pipe is full; \
                 event loops switch between poll, select and epoll)",
    },
    Companion {
        when: &["clone", "clone3", "fork", "vfork"],
        add: &["futex", "sched_yield"],
        reason: "threads and processes that share memory wait on each other's locks with futex \
                 only under contention, which a quiet recording may never see",
    },
    Companion {
        when: &["wait4", "waitid", "waitpid"],
        add: &["rt_sigsuspend"],
        reason: "a shell's wait builtin blocks in rt_sigsuspend only while the child is still \
                 running (dash, busybox sh); denied, the shell spins at 100% CPU",
    },
];

const WAITS_ON_FDS: &[&str] = &[
    "poll",
    "ppoll",
    "ppoll_time64",
    "select",
    "_newselect",
    "pselect6",
    "pselect6_time64",
    "epoll_wait",
    "epoll_pwait",
];

/// Time calls that usually go through the vDSO, so a tracer does not see them, yet are
/// syscalls where the vDSO is unavailable (FIELD-NOTES: glibc fallbacks).
pub const VDSO: &[&str] = &[
    "clock_gettime",
    "clock_gettime64",
    "getcpu",
    "gettimeofday",
    "time",
];

/// Groups of syscalls that do the same thing; which one a program uses depends on its libc,
/// libc version and ABI. `--portable` allows every member of a group one of which was observed.
pub const EQUIVALENTS: &[&[&str]] = &[
    &["open", "openat", "openat2"],
    &[
        "stat",
        "lstat",
        "fstat",
        "newfstatat",
        "statx",
        "stat64",
        "lstat64",
        "fstat64",
        "fstatat64",
    ],
    &["clone", "clone3", "fork", "vfork"],
    &["poll", "ppoll", "ppoll_time64"],
    &["select", "_newselect", "pselect6", "pselect6_time64"],
    &["dup2", "dup3"],
    &["pipe", "pipe2"],
    &["access", "faccessat", "faccessat2"],
    &["epoll_wait", "epoll_pwait", "epoll_pwait2"],
    &["epoll_create", "epoll_create1"],
    &["eventfd", "eventfd2"],
    &["signalfd", "signalfd4"],
    &["inotify_init", "inotify_init1"],
    &["accept", "accept4"],
    &["chmod", "fchmodat", "fchmodat2"],
    &["chown", "lchown", "fchownat", "chown32", "lchown32"],
    &["rename", "renameat", "renameat2"],
    &["unlink", "unlinkat", "rmdir"],
    &["mkdir", "mkdirat"],
    &["link", "linkat"],
    &["symlink", "symlinkat"],
    &["readlink", "readlinkat"],
    &["getdents", "getdents64"],
    &["wait4", "waitid", "waitpid"],
    &[
        "utime",
        "utimes",
        "utimensat",
        "futimesat",
        "utimensat_time64",
    ],
    &["mmap", "mmap2"],
    &["sendfile", "sendfile64"],
    &["getrlimit", "ugetrlimit", "prlimit64"],
    &["nanosleep", "clock_nanosleep", "clock_nanosleep_time64"],
    &["futex", "futex_time64"],
    &["clock_gettime", "clock_gettime64"],
];

/// Which of a recording's programs count.
struct ProgramFilter {
    only: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl ProgramFilter {
    fn new(policy: &GenerationPolicy) -> Result<Self, GenerateError> {
        Ok(ProgramFilter {
            only: globs(&policy.only_exe)?,
            exclude: globs(&policy.exclude_exe)?,
        })
    }

    /// The container runtime's post-filter calls always count: without them the container
    /// does not start, whichever program the user is interested in.
    fn keeps(&self, program: &str) -> bool {
        if program == CONTAINER_RUNTIME {
            return true;
        }
        self.only.as_ref().is_none_or(|g| g.is_match(program))
            && self.exclude.as_ref().is_none_or(|g| !g.is_match(program))
    }
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>, GenerateError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| GenerateError::Glob {
            pattern: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|source| GenerateError::Glob {
            pattern: patterns.join(" "),
            source,
        })
}

/// Why a name is allowed; the order is the precedence (an observed name stays "observed").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    Observed(String),
    RuntimeTail(String),
    /// In place of a syscall the ceiling denies (the denied name).
    Replaces(String),
    Essential(&'static str),
    /// The observed names that call for it, and the rule's reason.
    Companion(String, &'static str),
    /// A timing class (its name and reason) and what opened it.
    Timing(&'static str, &'static str, String),
    /// Which program imports which functions that make it.
    Imported(String),
    Vdso,
    Portable(String),
}

impl Reason {
    fn comment(&self) -> String {
        match self {
            Reason::Observed(detail) if detail.is_empty() => why::OBSERVED.to_owned(),
            Reason::Observed(detail) => format!("{}: {detail}", why::OBSERVED),
            Reason::RuntimeTail(detail) => format!("{}{detail}", why::RUNTIME_TAIL),
            Reason::Vdso => format!(
                "{} (time calls usually made through the vDSO, needed where it is unavailable)",
                why::VDSO
            ),
            Reason::Portable(of) => format!("{}: equivalent of {of}", why::PORTABLE),
            Reason::Replaces(name) => format!(
                "{}{name}, which Docker's default denies (see the rule for {name})",
                why::REPLACES
            ),
            Reason::Essential(reason) => format!("{}: {reason}", why::ESSENTIAL),
            Reason::Companion(of, reason) => {
                format!("{}: of {of}; {reason}", why::COMPANION)
            }
            Reason::Timing(class, reason, trigger) => format!(
                "{}: {class}, {reason}, which one recording may never see; {trigger} \
                 (--no-timing-paths)",
                why::TIMING
            ),
            Reason::Imported(by) => format!(
                "{}: {by}, a path the recording did not take (--imports allow)",
                why::IMPORTS
            ),
        }
    }
}

/// Build a profile from `recordings` under `policy`. See the module documentation.
pub fn generate(
    recordings: &[Recording],
    policy: &GenerationPolicy,
) -> Result<Generated, GenerateError> {
    let mut draft = Draft::observe(recordings, policy)?;
    draft.add_runtime_tail();
    draft.add_flag_additions();
    draft.add_essentials_and_companions();
    draft.add_timing_paths();
    draft.add_imports();
    draft.answer_as_recorded();
    draft.replace_per_ceiling();
    Ok(draft.finish())
}

/// A profile being built, one named step at a time (see [`generate`]): the observed ABIs, why
/// each allowed name is there, and what is answered with an errno instead.
struct Draft<'a> {
    recordings: &'a [Recording],
    policy: &'a GenerationPolicy,
    filter: ProgramFilter,
    abis: BTreeSet<Abi>,
    /// Observed names, with how many recordings (after merges: inputs) saw each.
    seen_in: BTreeMap<String, u32>,
    reasons: BTreeMap<String, Reason>,
    /// Names answered with an errno as they were while recorded, with the rule's comment.
    answered: BTreeMap<String, (u32, String)>,
    /// Names the ceiling denies although observed: (name, errno, why).
    replaced: Vec<(String, u32, &'static str)>,
    warnings: Vec<String>,
}

impl<'a> Draft<'a> {
    /// Step 1: what was observed, by the selected programs, per ABI.
    fn observe(
        recordings: &'a [Recording],
        policy: &'a GenerationPolicy,
    ) -> Result<Draft<'a>, GenerateError> {
        if recordings.is_empty() {
            return Err(GenerateError::NoRecordings);
        }
        let filter = ProgramFilter::new(policy)?;
        let mut warnings = Vec::new();
        if filter.only.is_some() {
            let all: BTreeSet<&str> = recordings.iter().flat_map(|r| r.programs()).collect();
            if !all
                .iter()
                .any(|p| *p != CONTAINER_RUNTIME && filter.keeps(p))
            {
                return Err(GenerateError::NoProgramMatched {
                    patterns: policy.only_exe.join(" "),
                    programs: all.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
        }
        let total_inputs: u32 = recordings
            .iter()
            .map(|r| r.coverage.as_ref().map_or(1, |c| c.inputs.max(1)))
            .sum();
        let mut abis: BTreeSet<Abi> = BTreeSet::new();
        let mut seen_in: BTreeMap<String, u32> = BTreeMap::new();
        for rec in recordings {
            let mut names_here: BTreeMap<&str, u32> = BTreeMap::new();
            for (abi, abi_rec) in &rec.abis {
                for (name, sc) in &abi_rec.syscalls {
                    if !sc.programs.keys().any(|p| filter.keeps(p)) {
                        continue;
                    }
                    abis.insert(*abi);
                    if abi.syscall_nr(name).is_none() {
                        warnings.push(format!(
                            "{name} is not a {abi} syscall in sysallow's table; kept as recorded"
                        ));
                    }
                    let runs = rec
                        .coverage
                        .as_ref()
                        .and_then(|c| c.syscalls.get(abi).and_then(|m| m.get(name)).copied())
                        .unwrap_or(1);
                    let entry = names_here.entry(name.as_str()).or_default();
                    *entry = (*entry).max(runs);
                }
                for (nr, sc) in &abi_rec.unnamed {
                    if sc.programs.keys().any(|p| filter.keeps(p)) {
                        abis.insert(*abi);
                        warnings.push(format!(
                            "{abi} syscall number {nr} ({} calls) has no name in sysallow's \
                             table (a kernel newer than the table?); a profile can only name \
                             syscalls, so it stays denied",
                            sc.count
                        ));
                    }
                }
            }
            for (name, runs) in names_here {
                *seen_in.entry(name.to_owned()).or_default() += runs;
            }
            let lost = rec.losses.nonzero();
            if !lost.is_empty() {
                let lost: Vec<String> = lost.iter().map(|(k, n)| format!("{k}={n}")).collect();
                warnings.push(format!(
                    "the recording started at {} reports losses ({}): the profile may miss \
                     syscalls",
                    rec.started_at,
                    lost.join(", ")
                ));
            }
        }
        if abis.is_empty() {
            let detail = if policy.only_exe.is_empty() && policy.exclude_exe.is_empty() {
                String::new()
            } else {
                " by the selected programs".to_owned()
            };
            return Err(GenerateError::Empty { detail });
        }
        let reasons = seen_in
            .iter()
            .map(|(name, runs)| {
                let detail = if *runs >= total_inputs {
                    String::new()
                } else {
                    format!("in {runs} of {total_inputs} recordings")
                };
                (name.clone(), Reason::Observed(detail))
            })
            .collect();
        Ok(Draft {
            recordings,
            policy,
            filter,
            abis,
            seen_in,
            reasons,
            answered: BTreeMap::new(),
            replaced: Vec::new(),
            warnings,
        })
    }

    /// Whether an observed ABI has `name`: policy additions never invent a name of another
    /// ABI (a rule's names apply to every listed architecture).
    fn exists(&self, name: &str) -> bool {
        self.abis.iter().any(|abi| abi.syscall_nr(name).is_some())
    }

    /// The first observed ABI that has `name`.
    fn abi_of(&self, name: &str) -> Option<Abi> {
        self.abis
            .iter()
            .copied()
            .find(|abi| abi.syscall_nr(name).is_some())
    }

    /// Allow `name` for `reason`, unless it is allowed already (the first reason stays) or no
    /// observed ABI has it.
    fn allow(&mut self, name: &str, reason: Reason) {
        if self.exists(name) && !self.reasons.contains_key(name) {
            self.reasons.insert(name.to_owned(), reason);
        }
    }

    /// Step 2: the container runtime's measured post-filter tail (`--runtime`).
    fn add_runtime_tail(&mut self) {
        let policy = self.policy;
        let tails = tails_for(&policy.runtime, policy.no_new_privileges);
        let tails = if tails.is_empty() && policy.runtime != RuntimeChoice::None {
            self.warnings.push(format!(
                "no measured tail for {} {} no-new-privileges; using the tail measured with it \
                 (measure this combination: record a container under it)",
                policy.runtime,
                if policy.no_new_privileges {
                    "with"
                } else {
                    "without"
                }
            ));
            tails_for(&policy.runtime, true)
        } else {
            tails
        };
        let mut tail_names: BTreeMap<&str, Vec<&'static crate::runtime::RuntimeTail>> =
            BTreeMap::new();
        for tail in &tails {
            for name in tail.syscalls {
                tail_names.entry(name).or_default().push(tail);
            }
        }
        for (name, tails) in tail_names {
            let versions: Vec<&str> = tails.iter().map(|t| t.version).collect();
            let nnp = if tails.iter().all(|t| t.no_new_privileges) {
                "with"
            } else {
                "without"
            };
            let sources: BTreeSet<&str> = tails.iter().map(|t| t.source).collect();
            let detail = format!(
                "{} {} {nnp} no-new-privileges ({})",
                tails[0].runtime,
                versions.join(", "),
                sources.into_iter().collect::<Vec<_>>().join("; ")
            );
            self.allow(name, Reason::RuntimeTail(detail));
        }
    }

    /// Step 3: what `--vdso` and `--portable` add.
    fn add_flag_additions(&mut self) {
        if self.policy.vdso {
            for name in VDSO {
                self.allow(name, Reason::Vdso);
            }
        }
        if self.policy.portable {
            for group in EQUIVALENTS {
                let of = self.observed_of(group);
                if of.is_empty() {
                    continue;
                }
                for name in *group {
                    self.allow(name, Reason::Portable(of.join(", ")));
                }
            }
        }
    }

    /// Which of `names` were observed: what makes a group of equivalents or a companion apply.
    fn observed_of(&self, names: &[&'static str]) -> Vec<&'static str> {
        names
            .iter()
            .copied()
            .filter(|n| self.seen_in.contains_key(*n))
            .collect()
    }

    /// Step 4: the essentials, and the companions of what was observed.
    fn add_essentials_and_companions(&mut self) {
        if self.policy.essentials {
            for (name, reason) in ESSENTIALS {
                self.allow(name, Reason::Essential(reason));
            }
        }
        if self.policy.companions {
            for companion in COMPANIONS {
                let of = self.observed_of(companion.when);
                if of.is_empty() {
                    continue;
                }
                for name in companion.add {
                    self.allow(name, Reason::Companion(of.join(", "), companion.reason));
                }
            }
        }
    }

    /// Step 5: the timing classes the programs can take (`timing.rs`).
    fn add_timing_paths(&mut self) {
        if !self.policy.timing_paths {
            return;
        }
        let filter = &self.filter;
        let found = crate::timing::applicable(self.recordings, |p| filter.keeps(p));
        for (class, trigger) in found {
            let trigger = trigger.to_string();
            for name in class.members {
                self.allow(
                    name,
                    Reason::Timing(class.name, class.reason, trigger.clone()),
                );
            }
        }
    }

    /// Step 6: with `--imports allow`, the ordinary syscalls the programs' imports imply.
    fn add_imports(&mut self) {
        if self.policy.imports != ImportsMode::Allow {
            return;
        }
        let mut risky: BTreeSet<String> = BTreeSet::new();
        let recordings = self.recordings;
        for rec in recordings {
            for (program, imports) in &rec.imports {
                let Some(abi) = imports.abi.filter(|a| self.abis.contains(a)) else {
                    continue;
                };
                if !self.filter.keeps(program) {
                    continue;
                }
                for (name, functions) in &imports.unseen {
                    if self.reasons.contains_key(name) || abi.syscall_nr(name).is_none() {
                        continue;
                    }
                    if crate::risk::classify(abi, name).risky {
                        risky.insert(name.clone());
                        continue;
                    }
                    self.reasons.insert(
                        name.clone(),
                        Reason::Imported(format!("{program} imports {}", functions.join(", "))),
                    );
                }
            }
        }
        if !risky.is_empty() {
            self.warnings.push(format!(
                "imports imply syscalls in a risky class that the recording never saw; advised, \
                 not allowed: {} (sysallow explain lists who imports them)",
                risky.into_iter().collect::<Vec<_>>().join(" ")
            ));
        }
    }

    /// Step 7: what the workload was answered while recorded, it is answered again: a syscall
    /// a filter in place denied before entry gets that filter's errno (the workload got it,
    /// and coped), and one whose every call failed with ENOSYS (a probe) keeps ENOSYS.
    fn answer_as_recorded(&mut self) {
        let recordings = self.recordings;
        for rec in recordings {
            for (abi, denied) in &rec.denied_by_filter {
                for (name, failures) in denied {
                    if self.reasons.contains_key(name) || abi.syscall_nr(name).is_none() {
                        continue;
                    }
                    let errno = failures.errno();
                    self.answered.entry(name.clone()).or_insert_with(|| {
                        (
                            errno,
                            format!(
                                "{}the filter the workload ran under denied it before entry \
                                 ({} call(s) got {}), so it gets the same",
                                why::FILTER,
                                failures.eperm + failures.enosys,
                                crate::errno::errno_name(errno).unwrap_or("an errno")
                            ),
                        )
                    });
                }
            }
        }
        let probes: Vec<String> = self
            .reasons
            .iter()
            .filter(|(name, reason)| {
                matches!(reason, Reason::Observed(_)) && only_enosys(recordings, name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in probes {
            self.reasons.remove(&name);
            self.answered.insert(
                name,
                (
                    ENOSYS,
                    format!(
                        "{}every call got ENOSYS while recorded (a probe that then fell back), \
                         so it keeps ENOSYS",
                        why::FILTER
                    ),
                ),
            );
        }
    }

    /// Step 8: the ceiling: what Docker's default denies although it has a replacement is
    /// denied as Docker does, and the replacement allowed (clone3 -> clone).
    fn replace_per_ceiling(&mut self) {
        for (name, instead, why_denied) in ceiling::REPLACED_BY {
            let Some(abi) = self.abi_of(name) else {
                continue;
            };
            let Ceiling::Denied { errno } = ceiling::ceiling(abi, name) else {
                continue;
            };
            if self.reasons.remove(*name).is_none() {
                continue;
            }
            self.replaced.push(((*name).to_owned(), errno, why_denied));
            self.allow(instead, Reason::Replaces((*name).to_owned()));
        }
    }

    /// Step 9: the allow rules: unrestricted names grouped by reason, in the order of
    /// `Reason`; then the names allowed only for some argument values (the Docker ceiling,
    /// narrowed by `--args` to the values observed).
    fn allow_rules(&mut self) -> Vec<SyscallRule> {
        let mut by_reason: BTreeMap<Reason, Vec<String>> = BTreeMap::new();
        let mut restricted: Vec<SyscallRule> = Vec::new();
        for (name, reason) in &self.reasons {
            let limit = self
                .abi_of(name)
                .map_or(Ceiling::Unrestricted, |abi| ceiling::ceiling(abi, name));
            if let Ceiling::Denied { .. } = limit
                && matches!(reason, Reason::Observed(_))
            {
                self.warnings.push(format!(
                    "{name} was observed and is allowed, though Docker's default denies it to a \
                     container without extra capabilities: this profile is wider than Docker's \
                     default there (sysallow diff --against docker-default shows it)"
                ));
            }
            // clone stands in for clone3 too: the flags seen on either.
            let mut captured = vec![name.as_str()];
            if name == "clone" && self.replaced.iter().any(|(r, _, _)| r == "clone3") {
                captured.push("clone3");
            }
            let observed = observed_args(self.recordings, &captured);
            match argument_rules(
                name,
                reason,
                &limit,
                &observed,
                self.policy.args,
                &mut self.warnings,
            ) {
                Some(rules) => restricted.extend(rules),
                None => by_reason
                    .entry(reason.clone())
                    .or_default()
                    .push(name.clone()),
            }
        }
        let mut syscalls: Vec<SyscallRule> = by_reason
            .into_iter()
            .map(|(reason, names)| SyscallRule {
                names,
                action: Action::Allow,
                comment: reason.comment(),
                ..SyscallRule::default()
            })
            .collect();
        syscalls.extend(restricted);
        syscalls
    }

    /// Step 10: the errno rules: what is answered as recorded, what the ceiling replaces, the
    /// fallbacks (ENOSYS for unobserved new syscalls), and the errno pin.
    fn errno_rules(&self, named_so_far: &[SyscallRule]) -> Vec<SyscallRule> {
        let default_errno = self.policy.default_errno.number();
        let mut syscalls = Vec::new();
        for (name, (errno, why_answered)) in &self.answered {
            syscalls.push(SyscallRule {
                names: vec![name.clone()],
                action: Action::Errno,
                errno_ret: Some(*errno),
                comment: why_answered.clone(),
                ..SyscallRule::default()
            });
        }
        for (name, errno, why_denied) in &self.replaced {
            if *errno != default_errno {
                let errno_name = crate::errno::errno_name(*errno).unwrap_or("errno");
                syscalls.push(SyscallRule {
                    names: vec![name.clone()],
                    action: Action::Errno,
                    errno_ret: Some(*errno),
                    comment: format!(
                        "{}{errno_name} although observed, as Docker's default answers it: \
                         {why_denied}",
                        why::FALLBACK
                    ),
                    ..SyscallRule::default()
                });
            }
        }
        // With ENOSYS as the default every denied syscall already falls back.
        if self.policy.fallbacks && default_errno != ENOSYS {
            // One rule per reason, in the order of FALLBACKS.
            let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
            for (name, reason) in FALLBACKS {
                if self.exists(name)
                    && !self.reasons.contains_key(*name)
                    && !self.answered.contains_key(*name)
                    && !self.replaced.iter().any(|(r, _, _)| r == name)
                {
                    match groups.iter_mut().find(|(r, _)| r == reason) {
                        Some((_, names)) => names.push((*name).to_owned()),
                        None => groups.push((reason, vec![(*name).to_owned()])),
                    }
                }
            }
            for (reason, mut names) in groups {
                names.sort();
                syscalls.push(SyscallRule {
                    names,
                    action: Action::Errno,
                    errno_ret: Some(ENOSYS),
                    comment: format!("{}ENOSYS because {reason}", why::FALLBACK),
                    ..SyscallRule::default()
                });
            }
        }
        let named: BTreeSet<&str> = named_so_far
            .iter()
            .chain(&syscalls)
            .flat_map(|r| r.names.iter().map(String::as_str))
            .collect();
        if let Some(pin) = pin_rule(&self.abis, &named, default_errno) {
            syscalls.push(pin);
        }
        syscalls
    }

    /// The profile, with its architectures and the warnings the local libseccomp gives.
    fn finish(mut self) -> Generated {
        let mut syscalls = self.allow_rules();
        let errnos = self.errno_rules(&syscalls);
        syscalls.extend(errnos);
        let mut profile = Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(self.policy.default_errno.number()),
            default_errno: None,
            architectures: Vec::new(),
            arch_map: Vec::new(),
            flags: Vec::new(),
            listener_path: None,
            syscalls,
        };
        set_architectures(&mut profile, &self.abis);
        self.warnings.extend(libseccomp_warnings(&profile));
        Generated {
            profile,
            warnings: self.warnings,
        }
    }
}

/// Whether every recorded call of `name`, in every recording and ABI that saw it, failed with
/// ENOSYS.
fn only_enosys(recordings: &[Recording], name: &str) -> bool {
    let mut seen = false;
    for rec in recordings {
        for abi_rec in rec.abis.values() {
            if let Some(sc) = abi_rec.syscalls.get(name) {
                seen = true;
                if sc.count == 0 || sc.failed.enosys < sc.count {
                    return false;
                }
            }
        }
    }
    seen
}

/// The values of a captured argument over every recording, as far as they can be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Observed {
    /// Not captured (a recording made before sysallow captured arguments, or a name that is
    /// not observed at all).
    Unknown,
    /// Captured, but not completely: why.
    Incomplete(String),
    Values(BTreeSet<u64>),
}

fn observed_args(recordings: &[Recording], names: &[&str]) -> Observed {
    let mut values = BTreeSet::new();
    let mut seen = false;
    for rec in recordings {
        for abi_rec in rec.abis.values() {
            for name in names {
                let Some(sc) = abi_rec.syscalls.get(*name) else {
                    continue;
                };
                seen = true;
                if rec.losses.arg_map_full > 0 {
                    return Observed::Incomplete(
                        "the recording lost argument values (arg_map_full)".to_owned(),
                    );
                }
                let Some(args) = &sc.args else {
                    return Observed::Unknown;
                };
                if args.overflow {
                    return Observed::Incomplete(format!(
                        "{name} had more distinct argument values than the recorder keeps"
                    ));
                }
                values.extend(args.values.iter().copied());
            }
        }
    }
    if seen {
        Observed::Values(values)
    } else {
        Observed::Unknown
    }
}

/// The allow rules of `name` when it is allowed only for some argument values, or None when it
/// is allowed whatever its arguments. The ceiling always holds; `level` narrows it to the
/// observed values where they are known.
fn argument_rules(
    name: &str,
    reason: &Reason,
    limit: &Ceiling,
    observed: &Observed,
    level: ArgsLevel,
    warnings: &mut Vec<String>,
) -> Option<Vec<SyscallRule>> {
    let rule = |args: Vec<ArgCondition>, why: String| SyscallRule {
        names: vec![name.to_owned()],
        action: Action::Allow,
        comment: format!("{}; {why}", reason.comment()),
        args,
        ..SyscallRule::default()
    };
    let ceiling_rules = |sets: &[Vec<ArgCondition>]| -> Vec<SyscallRule> {
        sets.iter()
            .map(|args| {
                let conds: Vec<String> = args.iter().map(describe_arg).collect();
                rule(
                    args.clone(),
                    format!(
                        "only if {}, as Docker's default allows it",
                        conds.join(" && ")
                    ),
                )
            })
            .collect()
    };
    let values = match observed {
        Observed::Values(values) if level != ArgsLevel::Off => Some(values),
        Observed::Incomplete(why) if level != ArgsLevel::Off => {
            if crate::args::rules(name, &BTreeSet::new(), level).is_some() {
                warnings.push(format!(
                    "{name}: no argument rule from the recording ({why}); allowed as far as \
                     Docker's default allows it"
                ));
            }
            None
        }
        _ => None,
    };
    let observed_rules = values.and_then(|v| crate::args::rules(name, v, level).map(|r| (v, r)));
    let described = |v: &BTreeSet<u64>| -> String {
        let shown: Vec<String> = v.iter().map(|x| crate::args::describe(name, *x)).collect();
        shown.join("; ")
    };
    match (limit, observed_rules) {
        (Ceiling::Args(ceiling), None) => Some(ceiling_rules(ceiling)),
        (Ceiling::Args(ceiling), Some((values, sets))) if name == "clone" => {
            // The ceiling (no namespace flags), and each namespace pattern that was observed:
            // a container that used one had the capability for it.
            let mut rules = ceiling_rules(ceiling);
            for (value, args) in values.iter().zip(&sets) {
                if args.iter().all(|c| c.value_two == 0) {
                    continue;
                }
                warnings.push(format!(
                    "clone with namespace flags ({}) was observed and is allowed: wider than \
                     Docker's default for a container without CAP_SYS_ADMIN",
                    crate::args::describe(name, *value & crate::args::NAMESPACE_FLAGS)
                ));
                rules.push(rule(
                    args.clone(),
                    format!(
                        "namespace flags {} only as observed (--args {})",
                        crate::args::describe(name, *value & crate::args::NAMESPACE_FLAGS),
                        level.name()
                    ),
                ));
            }
            rules.dedup_by(|a, b| a.args == b.args);
            Some(rules)
        }
        (Ceiling::Args(ceiling), Some((values, sets))) => {
            // Observed values, as far as the ceiling allows them.
            let mut rules = Vec::new();
            for (value, args) in values.iter().zip(&sets) {
                if ceiling.iter().any(|c| crate::policy::implies_all(args, c)) {
                    rules.push(rule(
                        args.clone(),
                        format!(
                            "only {} as observed (--args {})",
                            crate::args::describe_at(name, *value, level),
                            level.name()
                        ),
                    ));
                } else {
                    warnings.push(format!(
                        "{name} {} was observed, but Docker's default denies it: not allowed",
                        crate::args::describe(name, *value)
                    ));
                }
            }
            rules.dedup_by(|a, b| a.args == b.args);
            Some(rules)
        }
        (Ceiling::Unrestricted, Some((values, sets))) => {
            let mut rules: Vec<SyscallRule> = sets
                .into_iter()
                .map(|args| {
                    rule(
                        args,
                        format!(
                            "only the observed values (--args strict): {}",
                            described(values)
                        ),
                    )
                })
                .collect();
            rules.dedup_by(|a, b| a.args == b.args);
            // Observed with no value kept (cannot happen for a counted syscall): no rule.
            (!rules.is_empty()).then_some(rules)
        }
        _ => None,
    }
}

/// `archMap` when a native ABI and its compat ABI were both observed (what Docker's own
/// profile uses), else a flat `architectures` list.
fn set_architectures(profile: &mut Profile, abis: &BTreeSet<Abi>) {
    let mut rest: BTreeSet<Abi> = abis.clone();
    let mut arch_map = Vec::new();
    for native in [Abi::X86_64, Abi::Aarch64] {
        let compat: Vec<Abi> = native.host_abis()[1..]
            .iter()
            .copied()
            .filter(|a| abis.contains(a))
            .collect();
        if abis.contains(&native) && !compat.is_empty() {
            rest.remove(&native);
            for c in &compat {
                rest.remove(c);
            }
            arch_map.push(ArchMapEntry {
                architecture: native.scmp_arch().to_owned(),
                sub_architectures: compat.iter().map(|a| a.scmp_arch().to_owned()).collect(),
            });
        }
    }
    if arch_map.is_empty() {
        profile.architectures = abis.iter().map(|a| a.scmp_arch().to_owned()).collect();
    } else {
        // `architectures` and `archMap` are exclusive; an ABI without its pair gets an entry
        // of its own.
        for abi in rest {
            arch_map.push(ArchMapEntry {
                architecture: abi.scmp_arch().to_owned(),
                sub_architectures: Vec::new(),
            });
        }
        profile.arch_map = arch_map;
    }
}

/// The highest syscall that widely deployed old libseccomp versions resolve, per ABI. A
/// runtime on such a libseccomp drops newer names, so this is the highest one it sees in a
/// profile. Data (not the local library) so that the output does not depend on the machine
/// that generates it. Measured with `ScmpSyscall::from_name_by_arch` against Debian 12's
/// libseccomp 2.5.4-1+deb12u1, which Debian patched to know syscalls up to Linux 6.7 (the test
/// `old_libseccomp_pins_match_debian_12s_patched_2_5_4_where_it_is_installed` re-checks it).
pub const OLD_LIBSECCOMP_HIGHEST: &[(Abi, &str, &str)] = &[
    (Abi::X86_64, "futex_requeue", "libseccomp 2.5.4 (Debian 12)"),
    (Abi::X86, "futex_requeue", "libseccomp 2.5.4 (Debian 12)"),
    (
        Abi::Aarch64,
        "futex_requeue",
        "libseccomp 2.5.4 (Debian 12)",
    ),
    (Abi::Arm, "futex_requeue", "libseccomp 2.5.4 (Debian 12)"),
];

/// runc answers ENOSYS, not the default errno, for any syscall numbered above the highest one
/// the profile names (its BPF stub for syscalls newer than the profile; FIELD-NOTES, measured
/// with runc 1.1.5); crun does not. So the errno a denied syscall gets would depend on which
/// syscalls happen to be listed. Naming the highest syscall of each ABI with the default errno
/// makes every runtime answer the same. The highest that the local libseccomp knows is named
/// too ([`OLD_LIBSECCOMP_HIGHEST`]): a runtime on an old libseccomp drops names it does not
/// know, and then that one is the highest it sees.
pub fn pin_rule(abis: &BTreeSet<Abi>, named: &BTreeSet<&str>, errno: u32) -> Option<SyscallRule> {
    if errno == ENOSYS {
        return None;
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for abi in abis {
        let mut by_nr: Vec<(u32, &str)> = abi
            .syscall_names()
            .into_iter()
            .filter_map(|n| abi.syscall_nr(n).map(|nr| (nr, n)))
            .collect();
        by_nr.sort_unstable();
        if let Some((_, highest)) = by_nr.last() {
            names.insert((*highest).to_owned());
        }
        for (pin_abi, name, _) in OLD_LIBSECCOMP_HIGHEST {
            if pin_abi == abi {
                names.insert((*name).to_owned());
            }
        }
    }
    names.retain(|n| !named.contains(n.as_str()));
    if names.is_empty() {
        return None;
    }
    Some(SyscallRule {
        names: names.into_iter().collect(),
        action: Action::Errno,
        errno_ret: Some(errno),
        comment: format!(
            "{}the highest syscalls, denied with the default errno, so that runc (which answers \
             ENOSYS above the highest named syscall) denies like every other runtime",
            why::ERRNO_PIN
        ),
        ..SyscallRule::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::UNATTRIBUTED;

    fn recording(target: Target, calls: &[(Abi, &str, &str)]) -> Recording {
        let mut rec = crate::recording::for_tests(target);
        for (abi, name, program) in calls {
            let nr = abi.syscall_nr(name).expect("test names are real");
            rec.add(*abi, nr, program, 1);
        }
        rec
    }

    fn command(calls: &[(Abi, &str, &str)]) -> Recording {
        recording(crate::recording::command_for_tests(&["app"]), calls)
    }

    fn basic() -> Recording {
        command(&[
            (Abi::X86_64, "execve", UNATTRIBUTED),
            (Abi::X86_64, "read", "/usr/bin/app"),
            (Abi::X86_64, "write", "/usr/bin/app"),
            (Abi::X86_64, "openat", "/usr/bin/app"),
            (Abi::X86_64, "clone", "/usr/bin/helper"),
            (Abi::X86_64, "exit_group", "/usr/bin/app"),
        ])
    }

    fn rule_of<'a>(p: &'a Profile, name: &str) -> Option<&'a SyscallRule> {
        p.syscalls
            .iter()
            .find(|r| r.names.iter().any(|n| n == name))
    }

    fn allowed(p: &Profile) -> BTreeSet<String> {
        p.syscalls
            .iter()
            .filter(|r| r.action == Action::Allow)
            .flat_map(|r| r.names.iter().cloned())
            .collect()
    }

    /// The policy without the additions made for paths a recording did not take.
    fn observed_only() -> GenerationPolicy {
        GenerationPolicy {
            essentials: false,
            companions: false,
            timing_paths: false,
            ..GenerationPolicy::default()
        }
    }

    #[test]
    fn default_policy_allows_exactly_what_was_observed() {
        let g = generate(&[basic()], &observed_only()).unwrap();
        let p = &g.profile;
        assert_eq!(p.default_action, Action::Errno);
        assert_eq!(p.default_errno_ret, Some(EPERM));
        assert_eq!(p.architectures, vec!["SCMP_ARCH_X86_64".to_owned()]);
        assert!(p.arch_map.is_empty());
        let expected: BTreeSet<String> =
            ["clone", "execve", "exit_group", "openat", "read", "write"]
                .into_iter()
                .map(String::from)
                .collect();
        assert_eq!(allowed(p), expected);
        assert_eq!(rule_of(p, "read").unwrap().comment, "observed");
        for rule in &p.syscalls {
            assert!(!rule.comment.is_empty(), "{rule:?} has no why");
            assert!(rule.names.is_sorted());
        }
    }

    #[test]
    fn fallbacks_get_enosys_only_when_not_observed() {
        let p = generate(&[basic()], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let clone3 = rule_of(&p, "clone3").unwrap();
        assert_eq!(
            (clone3.action, clone3.errno_ret),
            (Action::Errno, Some(ENOSYS))
        );
        assert!(clone3.comment.starts_with(why::FALLBACK));
        // A 32-bit-only fallback is not added for an x86_64-only profile.
        assert!(rule_of(&p, "clock_gettime64").is_none());

        let mut rec = basic();
        rec.add(Abi::X86_64, 332, "/usr/bin/app", 1); // statx
        let p = generate(&[rec], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let statx = rule_of(&p, "statx").unwrap();
        assert_eq!(statx.action, Action::Allow);
        assert_eq!(
            p.syscalls
                .iter()
                .filter(|r| r.names.contains(&"statx".into()))
                .count(),
            1
        );

        let p = generate(
            &[basic()],
            &GenerationPolicy {
                default_errno: DefaultErrno::Enosys,
                ..GenerationPolicy::default()
            },
        )
        .unwrap()
        .profile;
        assert_eq!(p.default_errno_ret, Some(ENOSYS));
        assert!(
            rule_of(&p, "clone3").is_none(),
            "redundant with an ENOSYS default"
        );
    }

    #[test]
    fn highest_syscall_is_pinned_to_the_default_errno() {
        let p = generate(&[basic()], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let pin = p
            .syscalls
            .iter()
            .find(|r| r.comment.starts_with(why::ERRNO_PIN))
            .unwrap();
        assert_eq!(pin.errno_ret, Some(EPERM));
        let highest = Abi::X86_64
            .syscall_names()
            .into_iter()
            .max_by_key(|n| Abi::X86_64.syscall_nr(n))
            .unwrap();
        assert!(pin.names.iter().any(|n| n == highest), "{pin:?}");
    }

    /// The pins are data read on Debian 12's libseccomp 2.5.4-1+deb12u1, whose Debian patch
    /// adds syscalls up to Linux 6.7 (upstream 2.5.4 stops earlier, under the same version
    /// string). Checked against the local library only where it is that build: a 2.5.4 that
    /// knows the pinned name; elsewhere the test says why it checked nothing.
    #[test]
    fn old_libseccomp_pins_match_debian_12s_patched_2_5_4_where_it_is_installed() {
        let debian_build = libseccomp_version() == "2.5.4"
            && OLD_LIBSECCOMP_HIGHEST
                .iter()
                .all(|(abi, name, _)| libseccomp_knows(*abi, name));
        if !debian_build {
            eprintln!(
                "old_libseccomp_pins: not checked: the local libseccomp ({}) is not Debian 12's \
                 patched 2.5.4",
                libseccomp_version()
            );
            return;
        }
        for (abi, name, _) in OLD_LIBSECCOMP_HIGHEST {
            let nr = abi.syscall_nr(name).unwrap();
            let newer_known = abi
                .syscall_names()
                .into_iter()
                .filter(|n| abi.syscall_nr(n).is_some_and(|x| x > nr))
                .find(|n| libseccomp_knows(*abi, n));
            assert_eq!(
                newer_known, None,
                "{abi}: this libseccomp 2.5.4 knows a newer one than the pin"
            );
        }
    }

    #[test]
    fn runtime_tails_are_added_with_their_provenance_and_nnp_is_smaller() {
        let runc = |nnp| GenerationPolicy {
            runtime: "runc".parse().unwrap(),
            no_new_privileges: nnp,
            ..GenerationPolicy::default()
        };
        let without = generate(&[basic()], &runc(false)).unwrap().profile;
        let with = generate(&[basic()], &runc(true)).unwrap().profile;
        let capset = rule_of(&without, "capset").unwrap();
        assert_eq!(capset.action, Action::Allow);
        assert!(
            capset.comment.starts_with(why::RUNTIME_TAIL),
            "{}",
            capset.comment
        );
        assert!(capset.comment.contains("1.1.5"));
        assert!(rule_of(&with, "capset").is_none_or(|r| r.action != Action::Allow));
        assert!(allowed(&with).is_subset(&allowed(&without)));
        // runc 1.2's openat2 is in the tail, so it is allowed, not answered with ENOSYS.
        assert_eq!(rule_of(&with, "openat2").unwrap().action, Action::Allow);
        // An observed name stays "observed".
        assert_eq!(rule_of(&with, "write").unwrap().comment, "observed");
        // Never a set-up call.
        for setup in ["mount", "pivot_root", "sethostname"] {
            assert!(!allowed(&without).contains(setup));
        }
        let crun = generate(
            &[basic()],
            &GenerationPolicy {
                runtime: "crun".parse().unwrap(),
                no_new_privileges: true,
                ..GenerationPolicy::default()
            },
        )
        .unwrap()
        .profile;
        // crun 1.8.1's measured tail with no-new-privileges: close and execve only.
        let mut expected = allowed(
            &generate(&[basic()], &GenerationPolicy::default())
                .unwrap()
                .profile,
        );
        expected.extend(["close".to_owned(), "execve".to_owned()]);
        assert_eq!(allowed(&crun), expected);
    }

    #[test]
    fn container_recordings_default_to_the_runtime_tail() {
        let target = Target::Container {
            id: "abc".into(),
            name: None,
            engine: Some("docker".into()),
            runtime: None,
            no_new_privileges: false,
            cgroup: "/docker/abc".into(),
        };
        // The OCI runtime and no-new-privileges the engine reported choose the tail.
        let crun_nnp = Target::Container {
            id: "abc".into(),
            name: None,
            engine: Some("docker".into()),
            runtime: Some("crun".into()),
            no_new_privileges: true,
            cgroup: "/docker/abc".into(),
        };
        let policy = GenerationPolicy::for_target(&crun_nnp);
        assert_eq!(policy.runtime, "crun".parse::<RuntimeChoice>().unwrap());
        assert!(policy.no_new_privileges);
        assert_eq!(
            GenerationPolicy::for_target(&target).runtime,
            "runc".parse::<RuntimeChoice>().unwrap()
        );
        let cmd = Target::Command {
            argv: vec![],
            user: None,
        };
        assert_eq!(
            GenerationPolicy::for_target(&cmd),
            GenerationPolicy::default()
        );
    }

    #[test]
    fn vdso_and_portable_add_marked_rules() {
        let p = generate(
            &[basic()],
            &GenerationPolicy {
                vdso: true,
                portable: true,
                ..GenerationPolicy::default()
            },
        )
        .unwrap()
        .profile;
        assert!(
            rule_of(&p, "gettimeofday")
                .unwrap()
                .comment
                .starts_with(why::VDSO)
        );
        let open = rule_of(&p, "open").unwrap();
        assert_eq!(open.action, Action::Allow);
        assert!(open.comment.starts_with(why::PORTABLE));
        assert!(open.comment.contains("openat"));
        // clone3 is in clone's group, but the ceiling answers it with ENOSYS all the same.
        assert_eq!(rule_of(&p, "clone3").unwrap().errno_ret, Some(ENOSYS));
        // Names of other ABIs are not invented for an x86_64 profile.
        assert!(rule_of(&p, "mmap2").is_none());
        assert!(rule_of(&p, "clock_gettime64").is_none());
    }

    #[test]
    fn only_and_exclude_exe_choose_programs() {
        let only = GenerationPolicy {
            only_exe: vec!["/usr/bin/app".into()],
            ..GenerationPolicy::default()
        };
        let p = generate(&[basic()], &only).unwrap().profile;
        assert!(!allowed(&p).contains("clone"));
        assert!(
            !allowed(&p).contains("execve"),
            "unattributed is not /usr/bin/app"
        );
        assert!(allowed(&p).contains("read"));

        let exclude = GenerationPolicy {
            exclude_exe: vec!["**/helper".into()],
            ..GenerationPolicy::default()
        };
        let p = generate(&[basic()], &exclude).unwrap().profile;
        assert!(!allowed(&p).contains("clone"));
        assert!(allowed(&p).contains("execve"));

        let none = GenerationPolicy {
            only_exe: vec!["/nope/*".into()],
            ..GenerationPolicy::default()
        };
        let err = generate(&[basic()], &none).unwrap_err().to_string();
        assert!(err.contains("/usr/bin/app"), "{err}");
        let bad = GenerationPolicy {
            only_exe: vec!["a[".into()],
            ..GenerationPolicy::default()
        };
        assert!(matches!(
            generate(&[basic()], &bad),
            Err(GenerateError::Glob { .. })
        ));
    }

    #[test]
    fn container_runtime_calls_survive_program_filters() {
        let rec = recording(
            Target::Container {
                id: "abc".into(),
                name: None,
                engine: Some("docker".into()),
                runtime: Some("runc".into()),
                no_new_privileges: false,
                cgroup: "/docker/abc".into(),
            },
            &[
                (Abi::X86_64, "capset", CONTAINER_RUNTIME),
                (Abi::X86_64, "read", "/bin/app"),
            ],
        );
        let policy = GenerationPolicy {
            only_exe: vec!["/bin/app".into()],
            ..GenerationPolicy::default()
        };
        let p = generate(&[rec], &policy).unwrap().profile;
        assert_eq!(rule_of(&p, "capset").unwrap().comment, "observed");
    }

    #[test]
    fn compat_abi_gives_an_arch_map_and_its_fallbacks() {
        let rec = command(&[
            (Abi::X86_64, "execve", UNATTRIBUTED),
            (Abi::X86, "open", "/tmp/a32"),
        ]);
        let p = generate(&[rec], &GenerationPolicy::default())
            .unwrap()
            .profile;
        assert!(p.architectures.is_empty());
        assert_eq!(p.arch_map.len(), 1);
        assert_eq!(p.arch_map[0].architecture, "SCMP_ARCH_X86_64");
        assert_eq!(
            p.arch_map[0].sub_architectures,
            vec!["SCMP_ARCH_X86".to_owned()]
        );
        assert_eq!(
            rule_of(&p, "clock_gettime64").unwrap().errno_ret,
            Some(ENOSYS)
        );
    }

    #[test]
    fn unnamed_numbers_and_losses_warn() {
        let mut rec = basic();
        rec.add(Abi::X86_64, 999, "/usr/bin/app", 2);
        rec.losses.counter_missing = 3;
        let g = generate(&[rec], &GenerationPolicy::default()).unwrap();
        assert!(
            g.warnings.iter().any(|w| w.contains("999")),
            "{:?}",
            g.warnings
        );
        assert!(g.warnings.iter().any(|w| w.contains("counter_missing=3")));
    }

    #[test]
    fn names_unknown_to_old_libseccomp_are_kept_with_a_warning() {
        // mseal (x86_64 462) postdates libseccomp 2.5.4, which Debian 12 ships.
        let mut rec = basic();
        rec.add(Abi::X86_64, 462, "/usr/bin/app", 1);
        let g = generate(&[rec], &GenerationPolicy::default()).unwrap();
        assert!(allowed(&g.profile).contains("mseal"));
        if !libseccomp_knows(Abi::X86_64, "mseal") {
            assert!(
                g.warnings.iter().any(|w| w.starts_with("mseal")),
                "{:?}",
                g.warnings
            );
        }
    }

    #[test]
    fn output_is_deterministic_whatever_the_input_order() {
        let a = basic();
        let b = command(&[(Abi::X86_64, "mmap", "/usr/bin/app")]);
        let policy = GenerationPolicy {
            runtime: "runc".parse().unwrap(),
            vdso: true,
            portable: true,
            ..GenerationPolicy::default()
        };
        let ab = generate(&[a.clone(), b.clone()], &policy).unwrap();
        let ba = generate(&[b, a], &policy).unwrap();
        assert_eq!(ab, ba);
        let mmap = rule_of(&ab.profile, "mmap").unwrap();
        assert_eq!(mmap.comment, "observed: in 1 of 2 recordings");
    }

    #[test]
    fn no_recordings_is_an_error() {
        assert!(matches!(
            generate(&[], &GenerationPolicy::default()),
            Err(GenerateError::NoRecordings)
        ));
        let empty = command(&[]);
        assert!(matches!(
            generate(&[empty], &GenerationPolicy::default()),
            Err(GenerateError::Empty { .. })
        ));
    }

    fn rules_of<'a>(p: &'a Profile, name: &str) -> Vec<&'a SyscallRule> {
        p.syscalls
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn essentials_are_in_every_profile_with_their_reason() {
        let p = generate(&[basic()], &GenerationPolicy::default())
            .unwrap()
            .profile;
        for name in ["rt_sigreturn", "restart_syscall", "exit", "exit_group"] {
            let rule = rule_of(&p, name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(rule.action, Action::Allow);
        }
        // exit_group was observed: it stays "observed".
        assert_eq!(rule_of(&p, "exit_group").unwrap().comment, "observed");
        let reason = &rule_of(&p, "rt_sigreturn").unwrap().comment;
        assert!(
            reason.starts_with(why::ESSENTIAL) && reason.contains("signal"),
            "{reason}"
        );
        // i386's sigreturn only where i386 was observed.
        assert!(rule_of(&p, "sigreturn").is_none());
        let p = generate(&[basic()], &observed_only()).unwrap().profile;
        assert!(rule_of(&p, "rt_sigreturn").is_none());
        assert!(rule_of(&p, "exit").is_none());
    }

    #[test]
    fn companions_follow_what_was_observed() {
        let mut rec = basic();
        rec.add(Abi::X86_64, 7, "/usr/bin/app", 1); // poll
        rec.add(Abi::X86_64, 61, "/usr/bin/app", 1); // wait4
        let p = generate(&[rec], &GenerationPolicy::default())
            .unwrap()
            .profile;
        for name in ["ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait"] {
            let rule = rule_of(&p, name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(rule.comment.starts_with(why::COMPANION), "{}", rule.comment);
            assert!(rule.comment.contains("of poll"), "{}", rule.comment);
        }
        // 32-bit spellings are not invented for an x86_64 profile.
        assert!(rule_of(&p, "ppoll_time64").is_none());
        assert!(
            rule_of(&p, "rt_sigsuspend")
                .unwrap()
                .comment
                .contains("wait4")
        );
        // clone was observed: futex for contention.
        assert!(rule_of(&p, "futex").unwrap().comment.contains("of clone"));
        // Nothing observed that calls for them: not added.
        let quiet = command(&[(Abi::X86_64, "read", "/usr/bin/app")]);
        let p = generate(&[quiet], &GenerationPolicy::default())
            .unwrap()
            .profile;
        assert!(rule_of(&p, "poll").is_none() && rule_of(&p, "futex").is_none());
    }

    #[test]
    fn imports_add_ordinary_unseen_syscalls_and_advise_risky_ones() {
        let mut rec = basic();
        rec.imports.insert(
            "/usr/bin/app".into(),
            crate::imports::ProgramImports {
                linkage: "glibc".into(),
                abi: Some(Abi::X86_64),
                unseen: [
                    ("poll".to_owned(), vec!["poll".to_owned()]),
                    ("socket".to_owned(), vec!["getaddrinfo".to_owned()]),
                ]
                .into(),
            },
        );
        // Without the timing paths, which would allow poll's whole class first.
        let allow = GenerationPolicy {
            imports: ImportsMode::Allow,
            timing_paths: false,
            ..GenerationPolicy::default()
        };
        let p = generate(std::slice::from_ref(&rec), &allow).unwrap();
        let poll = rule_of(&p.profile, "poll").unwrap();
        assert_eq!(poll.action, Action::Allow);
        assert!(poll.comment.starts_with(why::IMPORTS), "{}", poll.comment);
        assert!(poll.comment.contains("/usr/bin/app imports poll"));
        // The companions of an imported wait are not added: they follow observations only.
        assert!(rule_of(&p.profile, "epoll_wait").is_none());
        assert!(rule_of(&p.profile, "socket").is_none());
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("advised") && w.contains("socket"))
        );
        for mode in [ImportsMode::Advise, ImportsMode::Off] {
            let policy = GenerationPolicy {
                imports: mode,
                timing_paths: false,
                ..GenerationPolicy::default()
            };
            let p = generate(std::slice::from_ref(&rec), &policy)
                .unwrap()
                .profile;
            assert!(rule_of(&p, "poll").is_none(), "{mode:?}");
        }
    }

    #[test]
    fn timing_paths_open_whole_classes_by_default_and_can_be_turned_off() {
        let mut rec = basic();
        // xz imports poll; a static helper made a socket.
        rec.imports.insert(
            "/usr/bin/app".into(),
            crate::imports::ProgramImports {
                linkage: "glibc".into(),
                abi: Some(Abi::X86_64),
                unseen: [
                    ("poll".to_owned(), vec!["poll".to_owned()]),
                    ("clock_nanosleep".to_owned(), vec!["sleep".to_owned()]),
                    ("socket".to_owned(), vec!["getaddrinfo".to_owned()]),
                ]
                .into(),
            },
        );
        let p = generate(std::slice::from_ref(&rec), &GenerationPolicy::default()).unwrap();
        for name in [
            "poll",
            "ppoll",
            "select",
            "pselect6",
            "epoll_wait",
            "epoll_pwait",
        ] {
            let rule = rule_of(&p.profile, name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(rule.comment.starts_with(why::TIMING), "{}", rule.comment);
            assert!(
                rule.comment.contains("/usr/bin/app imports poll"),
                "{}",
                rule.comment
            );
        }
        for name in ["nanosleep", "clock_nanosleep"] {
            let rule = rule_of(&p.profile, name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(rule.comment.contains("imports sleep"), "{}", rule.comment);
        }
        // Only timing classes: an imported socket stays advised.
        assert!(rule_of(&p.profile, "socket").is_none());
        // No 32-bit spellings in an x86_64 profile.
        assert!(rule_of(&p.profile, "ppoll_time64").is_none());

        let off = GenerationPolicy {
            timing_paths: false,
            ..GenerationPolicy::default()
        };
        let p = generate(std::slice::from_ref(&rec), &off).unwrap().profile;
        assert!(rule_of(&p, "poll").is_none() && rule_of(&p, "nanosleep").is_none());
    }

    fn with_args(rec: &mut Recording, name: &str, values: &[u64], overflow: bool) {
        let nr = Abi::X86_64.syscall_nr(name).unwrap();
        rec.add(Abi::X86_64, nr, "/usr/bin/app", 1);
        rec.note_args(
            Abi::X86_64,
            nr,
            &crate::args::ArgValues {
                values: values.iter().copied().collect(),
                overflow,
            },
        );
    }

    #[test]
    fn argument_levels_narrow_the_ceiling_to_what_was_observed() {
        let sock = |domain: i32, kind: i32| ((domain as u64) << 32) | kind as u64;
        let mut rec = basic();
        with_args(
            &mut rec,
            "socket",
            &[
                sock(libc::AF_UNIX, libc::SOCK_STREAM),
                sock(libc::AF_INET, libc::SOCK_DGRAM),
                sock(libc::AF_VSOCK, libc::SOCK_STREAM),
            ],
            false,
        );
        with_args(&mut rec, "ioctl", &[libc::TCGETS], false);
        with_args(&mut rec, "fcntl", &[], true);
        let level = |args| GenerationPolicy {
            args,
            ..GenerationPolicy::default()
        };
        let safe = generate(std::slice::from_ref(&rec), &level(ArgsLevel::Safe)).unwrap();
        let socket = rules_of(&safe.profile, "socket");
        assert_eq!(socket.len(), 2, "{socket:?}");
        assert!(
            socket[0].comment.contains("only AF_UNIX as observed"),
            "{}",
            socket[0].comment
        );
        assert!(
            safe.warnings
                .iter()
                .any(|w| w.contains("AF_VSOCK") && w.contains("not allowed"))
        );
        // ioctl is strict's: safe allows it whatever the request.
        assert!(rules_of(&safe.profile, "ioctl")[0].args.is_empty());

        let strict = generate(std::slice::from_ref(&rec), &level(ArgsLevel::Strict)).unwrap();
        let socket = rules_of(&strict.profile, "socket");
        assert_eq!(socket.len(), 2);
        assert_eq!(socket[0].args.len(), 2, "domain and type");
        let ioctl = rules_of(&strict.profile, "ioctl");
        assert_eq!(ioctl.len(), 1);
        assert_eq!(ioctl[0].args[0].value_two, libc::TCGETS);
        assert!(ioctl[0].comment.contains("TCGETS"), "{}", ioctl[0].comment);
        // An overflowed set: no rule, said so.
        assert!(rules_of(&strict.profile, "fcntl")[0].args.is_empty());
        assert!(
            strict
                .warnings
                .iter()
                .any(|w| w.starts_with("fcntl: no argument rule")),
            "{:?}",
            strict.warnings
        );

        let off = generate(std::slice::from_ref(&rec), &level(ArgsLevel::Off)).unwrap();
        assert_eq!(
            rules_of(&off.profile, "socket").len(),
            3,
            "Docker's three rules"
        );
    }

    #[test]
    fn observed_namespace_flags_are_allowed_and_said_to_be_wider() {
        let mut rec = basic();
        let user = (libc::SIGCHLD | libc::CLONE_NEWUSER) as u64;
        with_args(&mut rec, "clone", &[libc::SIGCHLD as u64, user], false);
        let g = generate(&[rec], &GenerationPolicy::default()).unwrap();
        let clone = rules_of(&g.profile, "clone");
        assert_eq!(clone.len(), 2, "{clone:?}");
        assert_eq!(clone[1].args[0].value_two, libc::CLONE_NEWUSER as u64);
        assert!(g.warnings.iter().any(|w| w.contains("CLONE_NEWUSER")));
    }

    #[test]
    fn what_a_filter_in_place_answered_is_answered_the_same() {
        use crate::recording::Failures;
        let mut rec = basic();
        let keyctl = Abi::X86_64.syscall_nr("keyctl").unwrap();
        let none = Failures::default();
        rec.note_failures(
            Abi::X86_64,
            keyctl,
            &none,
            &Failures {
                eperm: 3,
                enosys: 0,
            },
        );
        // Entered, and every call got ENOSYS: a probe.
        let getrandom = Abi::X86_64.syscall_nr("getrandom").unwrap();
        rec.add(Abi::X86_64, getrandom, "/usr/bin/app", 2);
        rec.note_failures(
            Abi::X86_64,
            getrandom,
            &Failures {
                eperm: 0,
                enosys: 2,
            },
            &none,
        );
        let policy = GenerationPolicy {
            default_errno: DefaultErrno::Enosys,
            ..GenerationPolicy::default()
        };
        let p = generate(&[rec], &policy).unwrap().profile;
        let keyctl = rule_of(&p, "keyctl").unwrap();
        assert_eq!(
            (keyctl.action, keyctl.errno_ret),
            (Action::Errno, Some(EPERM))
        );
        assert!(
            keyctl.comment.starts_with(why::FILTER),
            "{}",
            keyctl.comment
        );
        let getrandom = rule_of(&p, "getrandom").unwrap();
        assert_eq!(
            (getrandom.action, getrandom.errno_ret),
            (Action::Errno, Some(ENOSYS))
        );
        assert!(getrandom.comment.contains("probe"), "{}", getrandom.comment);
    }

    #[test]
    fn never_wider_than_dockers_default() {
        let mut rec = basic();
        for nr in [435, 41, 135] {
            rec.add(Abi::X86_64, nr, "/usr/bin/app", 1); // clone3, socket, personality
        }
        let p = generate(&[rec], &GenerationPolicy::default())
            .unwrap()
            .profile;
        // clone3: ENOSYS although observed; clone allowed, without namespace flags.
        let clone3 = rules_of(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(
            (clone3[0].action, clone3[0].errno_ret),
            (Action::Errno, Some(ENOSYS))
        );
        assert!(
            clone3[0].comment.contains("although observed"),
            "{}",
            clone3[0].comment
        );
        let clone = rules_of(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].action, Action::Allow);
        assert_eq!(clone[0].args.len(), 1);
        assert_eq!(clone[0].args[0].op, crate::profile::Op::MaskedEq);
        assert_eq!(
            clone[0].args[0].value & libc::CLONE_NEWUSER as u64,
            libc::CLONE_NEWUSER as u64
        );
        assert!(
            clone[0].comment.starts_with("observed; only if"),
            "{}",
            clone[0].comment
        );
        assert_eq!(rules_of(&p, "socket").len(), 3);
        assert!(rules_of(&p, "socket").iter().all(|r| !r.args.is_empty()));
        assert_eq!(rules_of(&p, "personality").len(), 5);

        // clone3 alone (glibc 2.34+ threads) still gives clone as its replacement.
        let threads = command(&[
            (Abi::X86_64, "execve", UNATTRIBUTED),
            (Abi::X86_64, "clone3", "/usr/bin/app"),
        ]);
        let p = generate(&[threads], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let clone = rules_of(&p, "clone");
        assert_eq!(clone.len(), 1, "{:?}", p.syscalls);
        assert!(
            clone[0].comment.starts_with(why::REPLACES),
            "{}",
            clone[0].comment
        );

        // And the diff against Docker's default finds nothing risky.
        let docker = crate::policy::NormalizedPolicy::from_document(
            &crate::formats::read(crate::baseline::DOCKER_DEFAULT_JSON).unwrap(),
        );
        let ours = crate::policy::NormalizedPolicy::from_profile(&p);
        let d = crate::diff::Diff::compute("docker", &docker, "p", &ours).widening_only();
        assert!(
            !d.fails(crate::diff::FailOn::Risky),
            "{}",
            crate::diff::render_text(&d, crate::diff::Style { color: false })
        );
    }

    /// Compile `profile` with the local libseccomp as a runtime does: every rule added (rules
    /// with the default action are skipped, as runc skips them; names the library does not
    /// know are dropped, as runtimes drop them), then the BPF exported. Returns the BPF size.
    /// What the local libseccomp made of a profile: BPF bytes, rules and conditions added.
    struct Compiled {
        bytes: usize,
        rules: usize,
        conditions: usize,
    }

    /// Compile `g`'s profile with the local libseccomp, as a runtime on it would.
    fn compile(g: &Generated) -> Compiled {
        let (profile, warnings) = (&g.profile, &g.warnings);
        use crate::profile::Op;
        use libseccomp::{
            ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
        };
        let (mut rules, mut conditions) = (0, 0);
        let errno = |e: Option<u32>| ScmpAction::Errno(i32::try_from(e.unwrap_or(EPERM)).unwrap());
        let default = errno(profile.default_errno_ret);
        let mut ctx = ScmpFilterContext::new(default).unwrap();
        for arch in profile.all_architectures() {
            let arch: ScmpArch = arch.parse().unwrap();
            if !ctx.is_arch_present(arch).unwrap() {
                ctx.add_arch(arch).unwrap();
            }
        }
        for rule in &profile.syscalls {
            let action = match rule.action {
                Action::Allow => ScmpAction::Allow,
                Action::Errno => errno(rule.errno_ret),
                other => panic!("generated profiles use no {other:?}"),
            };
            if action == default {
                continue;
            }
            // Conditions as runtimes pass them to libseccomp (runc's `seccomp_patchbpf`, crun's
            // `make_lsh_rule`): MASKED_EQ takes the mask as its operator's value.
            let conds: Vec<ScmpArgCompare> = rule
                .args
                .iter()
                .map(|c| {
                    let (op, datum) = match c.op {
                        Op::Ne => (ScmpCompareOp::NotEqual, c.value),
                        Op::Lt => (ScmpCompareOp::Less, c.value),
                        Op::Le => (ScmpCompareOp::LessOrEqual, c.value),
                        Op::Eq => (ScmpCompareOp::Equal, c.value),
                        Op::Ge => (ScmpCompareOp::GreaterEqual, c.value),
                        Op::Gt => (ScmpCompareOp::Greater, c.value),
                        Op::MaskedEq => (ScmpCompareOp::MaskedEqual(c.value), c.value_two),
                    };
                    ScmpArgCompare::new(c.index, op, datum)
                })
                .collect();
            for name in &rule.names {
                // A name this libseccomp does not know is dropped, as a runtime on it drops
                // it; the generator must have warned (or it is the errno pin, which needs no
                // warning).
                let Ok(syscall) = ScmpSyscall::from_name(name) else {
                    assert!(
                        rule.comment.starts_with(why::ERRNO_PIN)
                            || warnings.iter().any(|w| w.starts_with(&format!("{name} ("))),
                        "libseccomp does not know {name} ({}), and no warning says so",
                        rule.comment
                    );
                    continue;
                };
                let added = if conds.is_empty() {
                    ctx.add_rule(action, syscall)
                } else {
                    ctx.add_rule_conditional(action, syscall, &conds)
                };
                added.unwrap_or_else(|e| panic!("adding {name} {:?}: {e}", rule.args));
                rules += 1;
                conditions += conds.len();
            }
        }
        let path = std::env::temp_dir().join(format!("sysallow-bpf-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        ctx.export_bpf(&file).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::remove_file(&path).unwrap();
        Compiled {
            bytes: usize::try_from(len).unwrap(),
            rules,
            conditions,
        }
    }

    #[test]
    fn every_runtime_setting_and_argument_level_compiles_with_the_local_libseccomp() {
        let mut rec = command(&[
            (Abi::X86_64, "execve", UNATTRIBUTED),
            (Abi::X86_64, "read", "/usr/bin/app"),
            (Abi::X86, "open", "/tmp/a32"),
            (Abi::X86, "socketcall", "/tmp/a32"),
        ]);
        // Captured values, so that every level has argument conditions to compile.
        with_args(&mut rec, "clone", &[0x01200011], false);
        with_args(&mut rec, "socket", &[1, 2], false);
        with_args(&mut rec, "ioctl", &[0x5401], false);
        with_args(&mut rec, "personality", &[0xffff_ffff], false);
        let mut sizes = Vec::new();
        let mut conditions = BTreeMap::new();
        for runtime in ["none", "runc", "runc@1.1.5", "runc@1.2.8/1.3.3", "crun"] {
            for no_new_privileges in [false, true] {
                for default_errno in [DefaultErrno::Eperm, DefaultErrno::Enosys] {
                    for args in [ArgsLevel::Off, ArgsLevel::Safe, ArgsLevel::Strict] {
                        let policy = GenerationPolicy {
                            runtime: runtime.parse().unwrap(),
                            no_new_privileges,
                            default_errno,
                            vdso: true,
                            portable: true,
                            args,
                            ..GenerationPolicy::default()
                        };
                        let g = generate(std::slice::from_ref(&rec), &policy).unwrap();
                        let c = compile(&g);
                        assert!(c.rules > 10, "{runtime} {args:?}: {} rules", c.rules);
                        let in_profile: usize =
                            g.profile.syscalls.iter().map(|r| r.args.len()).sum();
                        assert!(
                            in_profile > 0,
                            "{runtime} {args:?}: no conditions to compile"
                        );
                        assert!(c.conditions > 0, "{runtime} {args:?}: none compiled");
                        conditions.insert(format!("{args:?}"), c.conditions);
                        sizes.push(c.bytes);
                    }
                }
            }
        }
        // A sock_filter instruction is 8 bytes; a real filter has many.
        assert!(sizes.iter().all(|s| *s > 8 * 10), "{sizes:?}");
        // Strict adds conditions of its own (the ioctl request) to safe's.
        assert!(conditions["Strict"] > conditions["Safe"], "{conditions:?}");
    }
}
