//! Enforcing a profile without a container runtime: `sysallow run` and `sysallow verify`.
//!
//! The profile (Docker format, read through `sysallow_profile::formats`) is compiled by libseccomp,
//! exactly as runc and crun compile it, into the process that then `execve`s the workload.
//! Nothing is added to the profile: the workload's first syscall under the filter is that
//! `execve`, so the profile must allow it (the recorder records the exec, so a generated profile
//! does).
//!
//! Semantics, following moby (`profiles/seccomp`) and runc (`libcontainer/seccomp`):
//! - `defaultAction`; `defaultErrnoRet` (or Podman's `defaultErrno` string), EPERM when absent.
//! - Per rule `action`, `errnoRet` (or Podman's `errno`), EPERM when absent.
//! - `args`: conditions in one rule are ANDed; several conditions on the same argument index are
//!   split into one rule each (ORed), as runc does, since one libseccomp rule cannot hold them.
//!   `SCMP_CMP_MASKED_EQ` takes `value` as the mask and `valueTwo` as the expected value.
//! - `architectures` are all added; from `archMap` only the entry of the native architecture
//!   (with its sub-architectures) is used, as moby does. The native one is always present.
//!   A syscall of an architecture the filter does not hold kills the thread (libseccomp's
//!   default bad-architecture action, as under runc).
//! - `includes`/`excludes`: `arches` is compared with the host architecture (Go, uname and
//!   `SCMP_ARCH_*` spellings); `caps` with this process's effective capabilities (moby uses the
//!   container's bounding set; here the workload runs with our effective set); `minKernel` with
//!   `uname -r`. A rule is used when every `includes` condition holds and no `excludes` one does.
//! - `flags`: `SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW`, `..._TSYNC`.
//! - A syscall name the local libseccomp does not know is reported in [`ProfileFilter::warnings`] and
//!   left out; a rule whose action equals the default action is a no-op and left out (libseccomp
//!   refuses such rules).
//! - no_new_privs is always set (libseccomp's default), so no privilege is needed.
//!
//! Reporting (`run --log-denials`, `verify`) uses `SECCOMP_RET_USER_NOTIF`: the filter answers
//! denied syscalls with a notification, and a supervisor process decides. See [`supervise`].

use std::path::PathBuf;

use libseccomp::error::SeccompError;
use sysallow_profile::formats::FormatError;

mod command;
mod filter;
mod supervise;

pub use command::{Command, exec_enforced};
pub use filter::{Mode, ProfileFilter, Rule, errno_name, read_profile};
pub use supervise::{Denial, Outcome, Report, supervise, user_notif_available};

/// Why a profile could not be enforced, or a command not started.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error("cannot read profile {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}")]
    Format { path: PathBuf, source: FormatError },
    #[error(
        "{path} is a recording, not a profile: make a profile with `sysallow generate {path} -o PROFILE`"
    )]
    NotAProfile { path: PathBuf },
    #[error("invalid profile: {0}")]
    Invalid(String),
    #[error("libseccomp refused {what}")]
    Seccomp { what: String, source: SeccompError },
    #[error("{what}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// `reason` is "command not found" for a name searched in `$PATH`, as a shell says.
    #[error("{command}: {reason}")]
    NotFound { command: String, reason: String },
    #[error("{command}: {reason}")]
    NotExecutable { command: String, reason: String },
}

impl EnforceError {
    /// The exit status `sysallow run`/`verify` use for this error: 127 for a command that does
    /// not exist and 126 for one that cannot be executed (as a shell does), 2 for a profile that
    /// cannot be read or used, 1 for anything else.
    pub fn status(&self) -> u8 {
        match self {
            EnforceError::NotFound { .. } => 127,
            EnforceError::NotExecutable { .. } => 126,
            EnforceError::Read { .. }
            | EnforceError::Format { .. }
            | EnforceError::NotAProfile { .. }
            | EnforceError::Invalid(_) => 2,
            EnforceError::Seccomp { .. } | EnforceError::Io { .. } => 1,
        }
    }
}

pub(super) fn seccomp_err(what: impl Into<String>) -> impl FnOnce(SeccompError) -> EnforceError {
    let what = what.into();
    move |source| EnforceError::Seccomp { what, source }
}

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnforceError {
    let what = what.into();
    move |source| EnforceError::Io { what, source }
}

#[cfg(test)]
mod tests {
    use super::filter::is_allowing;
    use super::*;
    use libseccomp::ScmpAction;
    use std::ffi::OsStr;
    use sysallow_profile::Abi;
    use sysallow_profile::Profile;
    use sysallow_profile::policy::{HostFacts, parse_kernel};
    use sysallow_profile::profile::{Action, Op};
    use sysallow_profile::profile::{ArchMapEntry, ArgCondition, RuleFilter, SyscallRule};

    fn host() -> HostFacts {
        HostFacts {
            arch_names: vec!["amd64".into(), "x86_64".into(), "SCMP_ARCH_X86_64".into()],
            caps: ["CAP_CHOWN".to_string()].into_iter().collect(),
            kernel: (6, 1),
        }
    }

    fn profile(rules: Vec<SyscallRule>) -> Profile {
        Profile {
            default_action: Action::Errno,
            default_errno_ret: None,
            default_errno: None,
            architectures: vec![],
            arch_map: vec![],
            flags: vec![],
            listener_path: None,
            syscalls: rules,
        }
    }

    fn rule(names: &[&str], action: Action) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|s| s.to_string()).collect(),
            action,
            ..SyscallRule::default()
        }
    }

    #[test]
    fn defaults_to_eperm_and_reads_podman_errnos() {
        let mut p = profile(vec![SyscallRule {
            errno: Some("ENOSYS".into()),
            ..rule(&["clone3"], Action::Errno)
        }]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.default, ScmpAction::Errno(libc::EPERM));
        assert_eq!(
            policy.verdict("clone3", &[0; 6], true),
            ScmpAction::Errno(libc::ENOSYS)
        );
        p.default_errno = Some("EACCES".into());
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.default, ScmpAction::Errno(libc::EACCES));
        p.default_errno = Some("EWHATEVER".into());
        assert!(ProfileFilter::new(&p, &host()).is_err());
    }

    #[test]
    fn includes_and_excludes_follow_moby() {
        let p = profile(vec![
            SyscallRule {
                includes: RuleFilter {
                    caps: vec!["CAP_SYS_ADMIN".into()],
                    ..RuleFilter::default()
                },
                ..rule(&["mount"], Action::Allow)
            },
            SyscallRule {
                includes: RuleFilter {
                    arches: vec!["amd64".into()],
                    min_kernel: Some("4.8".into()),
                    ..RuleFilter::default()
                },
                ..rule(&["arch_prctl"], Action::Allow)
            },
            SyscallRule {
                excludes: RuleFilter {
                    caps: vec!["CHOWN".into()],
                    ..RuleFilter::default()
                },
                ..rule(&["chown"], Action::Allow)
            },
            SyscallRule {
                includes: RuleFilter {
                    min_kernel: Some("7.0".into()),
                    ..RuleFilter::default()
                },
                ..rule(&["getpid"], Action::Allow)
            },
        ]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        let names: Vec<_> = policy.rules.iter().flat_map(|r| r.names.clone()).collect();
        assert_eq!(names, ["arch_prctl"]);
    }

    #[test]
    fn same_argument_conditions_are_ored() {
        let cond = |value| ArgCondition {
            index: 0,
            value,
            value_two: 0,
            op: Op::Eq,
        };
        let p = profile(vec![SyscallRule {
            args: vec![cond(0), cond(8)],
            ..rule(&["personality"], Action::Allow)
        }]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.rules.len(), 2);
        assert!(is_allowing(policy.verdict(
            "personality",
            &[8, 0, 0, 0, 0, 0],
            true
        )));
        assert!(!is_allowing(policy.verdict(
            "personality",
            &[9, 0, 0, 0, 0, 0],
            true
        )));
        policy.filter(Mode::Enforce).unwrap();
    }

    #[test]
    fn unknown_names_are_warned_about_not_dropped_silently() {
        let p = profile(vec![rule(
            &["read", "not_a_syscall", "mseal_x"],
            Action::Allow,
        )]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.rules[0].names, ["read"]);
        assert!(
            policy
                .warnings
                .iter()
                .any(|w| w.contains("not_a_syscall, mseal_x"))
        );
    }

    #[test]
    fn arch_map_uses_the_native_entry_only() {
        let mut p = profile(vec![]);
        p.arch_map = vec![
            ArchMapEntry {
                architecture: Abi::native().scmp_arch().into(),
                sub_architectures: vec!["SCMP_ARCH_X86".into()],
            },
            ArchMapEntry {
                architecture: "SCMP_ARCH_S390X".into(),
                sub_architectures: vec!["SCMP_ARCH_S390".into()],
            },
        ];
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.arches.len(), 2);
        p.architectures = vec!["SCMP_ARCH_X86".into()];
        assert!(ProfileFilter::new(&p, &host()).is_err());
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.44-fc-v782\n"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
        assert_eq!(parse_kernel("x"), None);
    }

    #[test]
    fn missing_commands_are_127_and_directories_126() {
        let err = Command::resolve(OsStr::new("sysallow-no-such-command"), &[]).err();
        assert_eq!(err.map(|e| e.status()), Some(127));
        let err = Command::resolve(OsStr::new("/"), &[]).err();
        assert_eq!(err.map(|e| e.status()), Some(126));
        let err = Command::resolve(OsStr::new("./no/such"), &[]).err();
        assert_eq!(err.map(|e| e.status()), Some(127));
    }
}
