//! Container runtimes' post-filter tails: the syscalls a runtime itself still makes AFTER it has
//! installed the container's seccomp filter (closing fds, dropping privileges, the final
//! `execve`). They are not the workload's, yet the container does not start without them.
//!
//! The runtime's set-up syscalls (mount, pivot_root, sethostname, keyctl, seccomp, ...) happen
//! before the filter exists and must never enter a profile; only the tail below does.
//!
//! The tails are data with provenance: adding a runtime version is one entry in [`TAILS`].

use std::fmt;
use std::str::FromStr;

/// A container runtime that applies the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OciRuntime {
    Runc,
    Crun,
}

impl OciRuntime {
    pub fn name(self) -> &'static str {
        match self {
            OciRuntime::Runc => "runc",
            OciRuntime::Crun => "crun",
        }
    }
}

impl fmt::Display for OciRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One measured tail: what `runtime` `version` calls after installing the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeTail {
    pub runtime: OciRuntime,
    /// The version(s) measured.
    pub version: &'static str,
    /// Whether the container ran with `no-new-privileges` (Docker's default is without).
    pub no_new_privileges: bool,
    pub syscalls: &'static [&'static str],
    /// Where the list comes from.
    pub source: &'static str,
}

/// runc is a Go program: in the window between its filter and the exec, Go's scheduler may
/// preempt a running goroutine (sysmon signals its thread: getpid, tgkill of SIGURG, then
/// rt_sigreturn, an essential), yield (sched_yield) or look at its network poller
/// (epoll_pwait). Whether it does depends on timing: in 10 recordings of one container
/// (sysallow/tests/e2e/plain_record.rs) runc made tgkill in 6, sched_yield in 3, epoll_pwait in 2.
/// Every runc tail has them, so that fresh recordings of one container give one profile.
///
/// runc 1.1.5 with no-new-privileges: it installs the filter late and only closes its fds,
/// writes the sync pipe and execs.
const RUNC_115_NNP: &[&str] = &[
    "close",
    "epoll_pwait",
    "execve",
    "fstatfs",
    "futex",
    "getdents64",
    "getpid",
    "openat",
    "sched_yield",
    "tgkill",
    "write",
];

/// runc 1.1.5 without no-new-privileges: the filter goes in before the capability and uid/gid
/// changes, so those are in the tail too.
const RUNC_115: &[&str] = &[
    "capget",
    "capset",
    "chdir",
    "close",
    "epoll_pwait",
    "execve",
    "faccessat2",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "newfstatat",
    "openat",
    "prctl",
    "read",
    "sched_yield",
    "setgid",
    "setgroups",
    "setuid",
    "tgkill",
    "write",
];

/// runc 1.2.8 / 1.3.3 add openat2 and statx to the 1.1.5 tails (safe path resolution through
/// cyphar/filepath-securejoin, and statx-based checks).
const RUNC_12_NNP: &[&str] = &[
    "close",
    "epoll_pwait",
    "execve",
    "fstatfs",
    "futex",
    "getdents64",
    "getpid",
    "openat",
    "openat2",
    "sched_yield",
    "statx",
    "tgkill",
    "write",
];

const RUNC_12: &[&str] = &[
    "capget",
    "capset",
    "chdir",
    "close",
    "epoll_pwait",
    "execve",
    "faccessat2",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "newfstatat",
    "openat",
    "openat2",
    "prctl",
    "read",
    "sched_yield",
    "setgid",
    "setgroups",
    "setuid",
    "statx",
    "tgkill",
    "write",
];

/// crun 1.8.1 with no-new-privileges drops privileges first, installs the filter, and then
/// only closes a descriptor and execs (FIELD-NOTES says execve alone; sysallow measured close
/// too, attributed to the runtime after its successful seccomp()).
const CRUN_181_NNP: &[&str] = &["close", "execve"];

/// crun 1.8.1 without no-new-privileges installs the filter first, then drops privileges and
/// waits for its parent before the exec.
const CRUN_181: &[&str] = &[
    "capset",
    "close",
    "execve",
    "prctl",
    "pselect6",
    "read",
    "rt_sigaction",
    "rt_sigprocmask",
    "setresgid",
    "setresuid",
    "write",
];

/// Every measured tail. Order matters only for display.
pub const TAILS: &[RuntimeTail] = &[
    RuntimeTail {
        runtime: OciRuntime::Runc,
        version: "1.1.5",
        no_new_privileges: true,
        syscalls: RUNC_115_NNP,
        source: "measured with Docker 20.10 and runc 1.1.5 on kernel 6.18, shared/FIELD-NOTES.md; \
                 Go's scheduler calls as measured by sysallow",
    },
    RuntimeTail {
        runtime: OciRuntime::Runc,
        version: "1.1.5",
        no_new_privileges: false,
        syscalls: RUNC_115,
        source: "measured with Docker 20.10 and runc 1.1.5 on kernel 6.18, shared/FIELD-NOTES.md; \
                 Go's scheduler calls as measured by sysallow",
    },
    RuntimeTail {
        runtime: OciRuntime::Runc,
        version: "1.2.8/1.3.3",
        no_new_privileges: true,
        syscalls: RUNC_12_NNP,
        source: "the 1.1.5 tail plus openat2 and statx, measured as added in runc \
                 1.2.8/1.3.3, shared/FIELD-NOTES.md; Go's scheduler calls as measured by \
                 sysallow",
    },
    RuntimeTail {
        runtime: OciRuntime::Runc,
        version: "1.2.8/1.3.3",
        no_new_privileges: false,
        syscalls: RUNC_12,
        source: "the 1.1.5 tail plus openat2 and statx, measured as added in runc \
                 1.2.8/1.3.3, shared/FIELD-NOTES.md; Go's scheduler calls as measured by \
                 sysallow",
    },
    RuntimeTail {
        runtime: OciRuntime::Crun,
        version: "1.8.1",
        no_new_privileges: true,
        syscalls: CRUN_181_NNP,
        source: "measured by sysallow record (sysallow/tests/e2e/containers_crun.rs) with Docker \
                 20.10, crun 1.8.1 and no-new-privileges on kernel 6.18",
    },
    RuntimeTail {
        runtime: OciRuntime::Crun,
        version: "1.8.1",
        no_new_privileges: false,
        syscalls: CRUN_181,
        source: "measured by sysallow record (sysallow/tests/e2e/containers_crun.rs) with Docker \
                 20.10 and crun 1.8.1 on kernel 6.18",
    },
];

/// Which runtime's tail a profile gets: none, a runtime (every measured version, so the profile
/// works whichever of them is deployed), or one pinned version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// No tail: the profile is applied by sysallow itself or by a wrapper that execs directly.
    #[default]
    None,
    OciRuntime {
        runtime: OciRuntime,
        /// `Some` pins one measured version (`runc@1.1.5`); `None` takes all of them.
        version: Option<String>,
    },
}

impl fmt::Display for RuntimeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeChoice::None => f.write_str("none"),
            RuntimeChoice::OciRuntime {
                runtime,
                version: None,
            } => write!(f, "{runtime}"),
            RuntimeChoice::OciRuntime {
                runtime,
                version: Some(v),
            } => write!(f, "{runtime}@{v}"),
        }
    }
}

impl FromStr for RuntimeChoice {
    type Err = String;

    /// `none`, `runc`, `crun`, or `runc@1.1.5` (a version listed in [`TAILS`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, version) = match s.split_once('@') {
            Some((name, version)) => (name, Some(version.to_owned())),
            None => (s, None),
        };
        let runtime = match name {
            "none" if version.is_none() => return Ok(RuntimeChoice::None),
            "runc" => OciRuntime::Runc,
            "crun" => OciRuntime::Crun,
            _ => {
                return Err(format!(
                    "unknown runtime {s:?} (expected none, runc, crun, or RUNTIME@VERSION)"
                ));
            }
        };
        if let Some(v) = &version
            && !TAILS.iter().any(|t| t.runtime == runtime && t.version == v)
        {
            let known: Vec<&str> = TAILS
                .iter()
                .filter(|t| t.runtime == runtime)
                .map(|t| t.version)
                .collect();
            return Err(format!(
                "no measured tail for {runtime} {v:?} (measured: {})",
                known.join(", ")
            ));
        }
        Ok(RuntimeChoice::OciRuntime { runtime, version })
    }
}

/// The tails that apply to `choice` with or without no-new-privileges. Empty for
/// [`RuntimeChoice::None`] and for a combination nobody measured (the caller warns).
pub fn tails_for(choice: &RuntimeChoice, no_new_privileges: bool) -> Vec<&'static RuntimeTail> {
    match choice {
        RuntimeChoice::None => Vec::new(),
        RuntimeChoice::OciRuntime { runtime, version } => TAILS
            .iter()
            .filter(|t| {
                t.runtime == *runtime
                    && t.no_new_privileges == no_new_privileges
                    && version.as_deref().is_none_or(|v| v == t.version)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Abi;

    #[test]
    fn every_tail_name_is_a_real_syscall_and_no_setup_call_is_in_a_tail() {
        for tail in TAILS {
            for name in tail.syscalls {
                assert!(
                    Abi::X86_64.syscall_nr(name).is_some()
                        || Abi::Aarch64.syscall_nr(name).is_some(),
                    "{name} in the {} {} tail",
                    tail.runtime,
                    tail.version
                );
            }
            for setup in [
                "mount",
                "pivot_root",
                "sethostname",
                "keyctl",
                "seccomp",
                "unshare",
            ] {
                assert!(!tail.syscalls.contains(&setup), "{setup} is a set-up call");
            }
            assert!(tail.syscalls.is_sorted(), "keep tails sorted for review");
        }
    }

    #[test]
    fn nnp_tail_is_smaller_and_versions_can_be_pinned() {
        let all = tails_for(&"runc".parse().unwrap(), false);
        assert_eq!(all.len(), 2);
        let pinned = tails_for(&"runc@1.1.5".parse().unwrap(), true);
        assert_eq!(pinned.len(), 1);
        assert!(pinned[0].syscalls.len() < all[0].syscalls.len());
        let crun = tails_for(&"crun".parse().unwrap(), false);
        let crun_nnp = tails_for(&"crun".parse().unwrap(), true);
        assert_eq!((crun.len(), crun_nnp.len()), (1, 1));
        assert!(
            crun_nnp[0]
                .syscalls
                .iter()
                .all(|s| crun[0].syscalls.contains(s))
        );
        assert!("runc@9.9".parse::<RuntimeChoice>().is_err());
        assert!("docker".parse::<RuntimeChoice>().is_err());
        assert_eq!(
            "none".parse::<RuntimeChoice>().unwrap(),
            RuntimeChoice::None
        );
    }
}
