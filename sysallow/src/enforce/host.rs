//! The host a profile is evaluated against: architecture spellings, effective capabilities,
//! kernel version (`includes`/`excludes` are evaluated by `sysallow_profile::policy::rule_applies`).

use sysallow_profile::policy::{HostFacts, parse_kernel};

use sysallow_profile::Abi;

// ---------------------------------------------------------------------------------------------
// The host a profile is evaluated against
// ---------------------------------------------------------------------------------------------

/// Capability names by bit number (linux/capability.h).
pub(super) const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// This machine and this process, as a profile's `includes`/`excludes` see them.
pub fn host_facts() -> HostFacts {
    let abi = Abi::native();
    let go = match abi {
        Abi::X86_64 => "amd64",
        Abi::X86 => "386",
        Abi::Aarch64 => "arm64",
        Abi::Arm => "arm",
    };
    let cap_eff = crate::privilege::effective_caps();
    let caps = CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| cap_eff & (1u64 << bit) != 0)
        .map(|(_, name)| (*name).to_string())
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
