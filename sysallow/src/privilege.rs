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
    #[error("the agent needs {}", .0.join("; "))]
    MissingForAgent(Vec<String>),
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

/// What `sysallow agent` needs besides loading its programs, for [`check_agent`].
#[derive(Clone, Debug, Default)]
pub struct AgentNeeds {
    /// The runtime's CRI socket (connect(2) needs write permission on it).
    pub cri_socket: PathBuf,
    /// Directories it writes into (created if missing).
    pub writes: Vec<PathBuf>,
}

/// Fail, naming every missing piece, unless the agent can do its work: load its programs
/// (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN), read the kernel's BTF, talk to the CRI socket
/// (it exists, is a socket, and may be written: root's 0660 socket needs root or
/// CAP_DAC_OVERRIDE), and write its output directories.
pub fn check_agent(needs: &AgentNeeds) -> Result<(), PrivilegeError> {
    use std::os::unix::fs::FileTypeExt as _;
    let caps = effective_caps();
    let has = |name: &str| holds(caps, name);
    let mut missing = Vec::new();
    if !(has("CAP_SYS_ADMIN") || (has("CAP_BPF") && has("CAP_PERFMON"))) {
        let lacking: Vec<&str> = ["CAP_BPF", "CAP_PERFMON"]
            .into_iter()
            .filter(|c| !has(c))
            .collect();
        missing.push(format!(
            "{} to load its eBPF programs (or CAP_SYS_ADMIN)",
            lacking.join(" and ")
        ));
    }
    if !Path::new(KERNEL_BTF).exists() {
        missing.push(format!(
            "the kernel's BTF ({KERNEL_BTF}; a kernel built with CONFIG_DEBUG_INFO_BTF=y)"
        ));
    }
    let socket = &needs.cri_socket;
    match fs::metadata(socket) {
        Err(e) => missing.push(format!(
            "the container runtime's CRI socket {} ({e}; give --runtime-endpoint, and mount it              into the agent's pod)",
            socket.display()
        )),
        Ok(meta) if !meta.file_type().is_socket() => missing.push(format!(
            "the container runtime's CRI socket: {} is not a socket",
            socket.display()
        )),
        Ok(_) if !access(socket, libc::W_OK) => missing.push(format!(
            "write access to the CRI socket {} (root, or CAP_DAC_OVERRIDE)",
            socket.display()
        )),
        Ok(_) => {}
    }
    for dir in &needs.writes {
        if fs::create_dir_all(dir).is_err() || !writable(dir) {
            missing.push(format!("to write in {}", dir.display()));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PrivilegeError::MissingForAgent(missing))
    }
}

/// Whether this process may access `path` for `mode` (effective ids and capabilities).
fn access(path: &Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_check_names_a_missing_or_wrong_cri_socket() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let out = dir.path().join("out");
        let missing = dir.path().join("none.sock");
        let err = check_agent(&AgentNeeds {
            cri_socket: missing.clone(),
            writes: vec![out.clone()],
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains(&format!("CRI socket {}", missing.display())),
            "{err}"
        );
        assert!(out.is_dir(), "the output directory is made");
        assert!(!err.contains("to write in"), "{err}");
        let plain = dir.path().join("plain-file");
        assert!(fs::write(&plain, "").is_ok());
        let err = check_agent(&AgentNeeds {
            cri_socket: plain.clone(),
            writes: Vec::new(),
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("is not a socket"), "{err}");
    }
}
