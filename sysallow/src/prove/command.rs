//! A command workload (`record -- CMD`), confined by sysallow itself, as a systemd unit with
//! the bundle's `CapabilityBoundingSet=` and `NoNewPrivileges=` would confine it:
//!
//! - the capability bounding set keeps only the added capabilities, and the inheritable and
//!   ambient sets are cleared, so that the command, exec'd as root, starts with exactly
//!   those (permitted = bounding for a root exec);
//! - no-new-privileges where the bundle sets it;
//! - the seccomp profile, applied by `sysallow run` (the program execs itself as
//!   `sysallow run --profile P -- CMD` under the reduced sets): the same libseccomp glue as
//!   `run`, so the profile means what `run` and `explain` say. `run` always sets
//!   no-new-privileges (libseccomp's default, which lets an unprivileged process load a
//!   filter), so with a profile the command always runs under it: said in the report where
//!   the bundle says it does not fit.
//!
//! The read-only root, its mounts and the user are a container's and are not applied here.
//! The bounding set is changed only in the child, between fork and exec, with raw
//! async-signal-safe calls prepared before the fork.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::time::Duration;

use sysallow_profile::hardening::Bundle;

use super::{Observed, ProveError, Runner, collect, spawn};

pub struct CommandRunner {
    pub argv: Vec<OsString>,
    /// The seccomp profile, applied through `sysallow run`.
    pub profile: Option<PathBuf>,
    /// This program (`/proc/self/exe`), for `sysallow run`.
    pub sysallow: PathBuf,
    pub timeout: Duration,
}

/// The highest capability the running kernel knows.
fn cap_last_cap() -> Result<u32, ProveError> {
    let text =
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").map_err(ProveError::CapLastCap)?;
    text.trim()
        .parse()
        .map_err(|_| ProveError::Invalid(format!("cap_last_cap is {:?}", text.trim())))
}

/// The capability numbers to drop from the bounding set: every one the kernel knows but those
/// the bundle adds.
fn to_drop(bundle: &Bundle) -> Result<Vec<libc::c_ulong>, ProveError> {
    let mut keep = Vec::new();
    for name in bundle.added() {
        let cap = sysallow_profile::caps::by_name(name).ok_or_else(|| {
            ProveError::Invalid(format!(
                "the bundle adds {name}, which sysallow does not know"
            ))
        })?;
        keep.push(cap.number);
    }
    Ok((0..=cap_last_cap()?)
        .filter(|n| !keep.contains(n))
        .map(libc::c_ulong::from)
        .collect())
}

impl Runner for CommandRunner {
    fn describe(&self) -> String {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn reference(&self) -> Result<Observed, ProveError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| ProveError::Invalid("no command given".to_owned()))?;
        let what = program.to_string_lossy().into_owned();
        let mut cmd = std::process::Command::new(program);
        cmd.args(args);
        collect(spawn(&mut cmd, &what)?, &what, self.timeout, || {})
    }

    fn confined(&self, bundle: &Bundle) -> Result<Observed, ProveError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| ProveError::Invalid("no command given".to_owned()))?;
        let mut cmd = match &self.profile {
            Some(profile) => {
                let mut cmd = std::process::Command::new(&self.sysallow);
                cmd.arg("run")
                    .arg("--profile")
                    .arg(profile)
                    .arg("--")
                    .arg(program)
                    .args(args);
                cmd
            }
            None => {
                let mut cmd = std::process::Command::new(program);
                cmd.args(args);
                cmd
            }
        };
        let drop = to_drop(bundle)?;
        let nnp = bundle.no_new_privileges();
        // SAFETY: the closure runs between fork and exec and makes only raw prctl/capget/
        // capset calls on data prepared before the fork (no allocation, no lock).
        unsafe {
            cmd.pre_exec(move || {
                for &cap in &drop {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                clear_inheritable()?;
                if nnp && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let what = format!("{} under the bundle", program.to_string_lossy());
        collect(spawn(&mut cmd, &what)?, &what, self.timeout, || {})
    }

    fn not_applied(&self, bundle: &Bundle) -> Vec<String> {
        let mut v = vec![
            "the read-only root, its mounts and the user (a container's; a command keeps its \
             file system and user)"
                .to_owned(),
        ];
        if self.profile.is_none() {
            v.push("no seccomp profile given (--profile)".to_owned());
        } else if !bundle.no_new_privileges() {
            v.push(
                "the bundle leaves no-new-privileges off, but `sysallow run` sets it to load \
                 the profile: the runs are under it anyway"
                    .to_owned(),
            );
        }
        v
    }
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_V3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Clear this process's inheritable set (a root exec adds it to the permitted set whatever
/// the bounding set says). Raw capget/capset: async-signal-safe.
fn clear_inheritable() -> std::io::Result<()> {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data words as the v3 ABI wants them.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if data.iter().all(|d| d.inheritable == 0) {
        return Ok(());
    }
    for d in &mut data {
        d.inheritable = 0;
    }
    // SAFETY: as above.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
