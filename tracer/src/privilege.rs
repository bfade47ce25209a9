//! What recording needs from the system, checked up front so that a missing piece is named
//! before anything runs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::ebpf::TRACEFS;

/// Capability numbers (include/uapi/linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "recording needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load its eBPF programs; \
         run it as root: sudo sysallow record ..."
    )]
    MissingCaps,
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

/// Fail unless we may load and attach tracing programs.
pub fn check_caps() -> Result<(), PrivilegeError> {
    let caps = effective_caps();
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        Ok(())
    } else {
        Err(PrivilegeError::MissingCaps)
    }
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
