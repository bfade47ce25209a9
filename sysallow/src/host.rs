//! Facts about the host: stamped into every recording ([`describe`]), and what a profile's
//! `includes`/`excludes` are evaluated against when it is enforced here ([`facts`]).

use sysallow_profile::policy::{HostFacts, parse_kernel};
use sysallow_profile::recording::Host;
use sysallow_profile::{Abi, caps};

pub fn describe() -> Host {
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    Host {
        kernel,
        arch: Abi::native(),
        libc: libc_version(),
    }
}

#[cfg(target_env = "gnu")]
fn libc_version() -> Option<String> {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    Some(format!("glibc {}", version.to_string_lossy()))
}

#[cfg(not(target_env = "gnu"))]
fn libc_version() -> Option<String> {
    None
}

/// Now, as RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// This machine and this process, as a profile's `includes`/`excludes` see them (evaluated by
/// `sysallow_profile::policy::rule_applies`).
pub fn facts() -> HostFacts {
    let abi = Abi::native();
    let go = match abi {
        Abi::X86_64 => "amd64",
        Abi::X86 => "386",
        Abi::Aarch64 => "arm64",
        Abi::Arm => "arm",
    };
    let effective = crate::privilege::effective_caps();
    let caps = caps::CAPABILITIES
        .iter()
        .filter(|c| crate::privilege::holds(effective, c.name))
        .map(|c| c.name.to_owned())
        .collect();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    HostFacts {
        arch_names: vec![
            go.to_string(),
            abi.name().to_string(),
            abi.scmp_arch().to_string(),
        ],
        caps,
        kernel: parse_kernel(&release).unwrap_or((0, 0)),
    }
}
