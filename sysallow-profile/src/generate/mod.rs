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
//! warnings, see [`crate::local_libseccomp::libseccomp_warnings`]).
//!
//! Limitation: a rule's names apply to every listed architecture (Docker's format has no
//! per-ABI name list), so a name observed in one ABI is allowed in every listed ABI that has
//! it. Policy additions (tails, fallbacks, --vdso, --portable) are only added when an observed
//! ABI has the name, so no name of another ABI is invented.
//!
//! # Why-strings
//!
//! Every rule carries a `comment` saying why it is there. `sysallow explain` recognises these
//! prefixes; keep them stable (they are the constants in [`crate::why`]):
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

use crate::args::ArgsLevel;
use crate::errno::{ENOSYS, EPERM};
use crate::imports::ImportsMode;
use crate::profile::Profile;
use crate::recording::{Recording, Target};
use crate::runtime::{OciRuntime, RuntimeChoice};

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
                    // The OCI runtime the engine reported; runc (Docker's, containerd's and
                    // Kubernetes' default) when unknown or one without a measured tail.
                    runtime: runtime
                        .as_ref()
                        .and_then(|r| r.oci())
                        .unwrap_or(OciRuntime::Runc),
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

mod arg_rules;
mod draft;
mod pin;
mod tables;

use draft::Draft;
#[cfg(test)]
mod tests;

pub use pin::{OLD_LIBSECCOMP_HIGHEST, pin_rule};
pub use tables::{COMPANIONS, Companion, EQUIVALENTS, ESSENTIALS, FALLBACKS, VDSO};

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
