//! What recording needs from the system, checked up front so that a missing piece is named
//! before anything runs.

use std::fs;
use std::path::{Path, PathBuf};

use sysallow_profile::caps;

use crate::ebpf::TRACEFS;

/// What a recording will do besides loading its programs, for [`check_record`].
#[derive(Clone, Debug, Default)]
pub struct RecordNeeds {
    /// Create a cgroup in this directory (the cgroup v2 root on a command or
    /// `--cgroup-parent` recording).
    pub creates_cgroup_in: Option<PathBuf>,
    /// Run the command as the user who ran sudo.
    pub runs_as_invoking_user: bool,
    /// Give the outputs to the user who ran sudo.
    pub gives_outputs_to_invoking_user: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "recording needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load its eBPF programs; \
         run it as root: sudo sysallow record ..."
    )]
    MissingCaps,
    #[error(
        "recording needs {}; run it as root: sudo sysallow record ...",
        .0.join("; ")
    )]
    MissingForRecord(Vec<String>),
    #[error(
        "tracefs is not mounted at {TRACEFS} and mounting it failed ({0}); mount it with: \
         mount -t tracefs nodev {TRACEFS}"
    )]
    Tracefs(String),
    #[error(
        "this kernel has no BTF ({KERNEL_BTF} is missing): sysallow's eBPF program reads the \
         current task through BTF; it needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (the \
         default of current distribution kernels)"
    )]
    NoBtf,
}

/// The kernel's own type information. The programs call `bpf_get_current_task_btf()`, which
/// the verifier resolves against it.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Fail unless the kernel has BTF.
pub fn check_btf() -> Result<(), PrivilegeError> {
    if Path::new(KERNEL_BTF).exists() {
        Ok(())
    } else {
        Err(PrivilegeError::NoBtf)
    }
}

/// The effective capability set, from /proc/self/status (bit N is capability N).
pub fn effective_caps() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("CapEff:")
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
        })
        .unwrap_or(0)
}

/// Whether the capability set `set` (bit N is capability N) holds capability `name` (from
/// the one table, `sysallow_profile::caps`).
pub fn holds(set: u64, name: &str) -> bool {
    caps::by_name(name).is_some_and(|c| c.number < 64 && set & (1u64 << c.number) != 0)
}

/// Fail unless we may load and attach tracing programs.
pub fn check_caps() -> Result<(), PrivilegeError> {
    let caps = effective_caps();
    let has = |name: &str| holds(caps, name);
    if has("CAP_SYS_ADMIN") || (has("CAP_BPF") && has("CAP_PERFMON")) {
        Ok(())
    } else {
        Err(PrivilegeError::MissingCaps)
    }
}

/// Fail, naming every missing capability and what it is for, unless this process may do all
/// that `needs` says besides loading the programs. The minimal set (README, "Least
/// privilege"): CAP_BPF and CAP_PERFMON; CAP_DAC_OVERRIDE where the cgroup v2 root is not
/// writable without it (mode 555 here); CAP_SETUID, CAP_SETGID and CAP_CHOWN under sudo; and
/// CAP_SYS_ADMIN only where tracefs is not mounted yet (to mount it).
pub fn check_record(needs: &RecordNeeds) -> Result<(), PrivilegeError> {
    check_caps()?;
    let caps = effective_caps();
    let has = |name: &str| holds(caps, name);
    let mut missing = Vec::new();
    if let Some(dir) = &needs.creates_cgroup_in
        && !has("CAP_DAC_OVERRIDE")
        && !writable(dir)
    {
        missing.push(format!(
            "CAP_DAC_OVERRIDE to create its cgroup in {}, which it may not write otherwise",
            dir.display()
        ));
    }
    let lacking = |wanted: &[&'static str]| -> Vec<&'static str> {
        wanted.iter().copied().filter(|name| !has(name)).collect()
    };
    if needs.runs_as_invoking_user {
        let names = lacking(&["CAP_SETUID", "CAP_SETGID"]);
        if !names.is_empty() {
            missing.push(format!(
                "{} to run the command as the user who ran sudo",
                names.join(" and ")
            ));
        }
    }
    if needs.gives_outputs_to_invoking_user && !lacking(&["CAP_CHOWN"]).is_empty() {
        missing.push("CAP_CHOWN to give the outputs to the user who ran sudo".to_owned());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PrivilegeError::MissingForRecord(missing))
    }
}

/// Whether this process may create entries in `dir` (effective ids and capabilities).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// The tracefs mount, mounting it if needed (it is not mounted at boot on some hosts; the
/// tracepoint layouts and the classic tracepoint attach both need it).
pub fn tracefs() -> Result<PathBuf, PrivilegeError> {
    let path = Path::new(TRACEFS);
    if path.join("events").is_dir() {
        return Ok(path.to_owned());
    }
    let debugfs = Path::new("/sys/kernel/debug/tracing");
    if debugfs.join("events").is_dir() {
        return Ok(debugfs.to_owned());
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: mount(2) with NUL-terminated strings and no data.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(PrivilegeError::Tracefs(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    Ok(path.to_owned())
}
