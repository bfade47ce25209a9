//! Linux capabilities: the one table of names and numbers (include/uapi/linux/capability.h),
//! with the 14 Docker gives a container by default marked (moby `oci/caps/defaults.go`,
//! `DefaultCapabilities`). "Never wider than Docker's default" means for a container that
//! holds those, and not CAP_SYS_ADMIN, which would lift Docker's argument restrictions.

/// One capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// `CAP_SYS_ADMIN`.
    pub name: &'static str,
    /// Its bit in the capability sets.
    pub number: u32,
    /// Docker grants it to a container by default.
    pub docker_default: bool,
}

const fn cap(name: &'static str, number: u32, docker_default: bool) -> Capability {
    Capability {
        name,
        number,
        docker_default,
    }
}

/// Every capability, by number.
pub const CAPABILITIES: &[Capability] = &[
    cap("CAP_CHOWN", 0, true),
    cap("CAP_DAC_OVERRIDE", 1, true),
    cap("CAP_DAC_READ_SEARCH", 2, false),
    cap("CAP_FOWNER", 3, true),
    cap("CAP_FSETID", 4, true),
    cap("CAP_KILL", 5, true),
    cap("CAP_SETGID", 6, true),
    cap("CAP_SETUID", 7, true),
    cap("CAP_SETPCAP", 8, true),
    cap("CAP_LINUX_IMMUTABLE", 9, false),
    cap("CAP_NET_BIND_SERVICE", 10, true),
    cap("CAP_NET_BROADCAST", 11, false),
    cap("CAP_NET_ADMIN", 12, false),
    cap("CAP_NET_RAW", 13, true),
    cap("CAP_IPC_LOCK", 14, false),
    cap("CAP_IPC_OWNER", 15, false),
    cap("CAP_SYS_MODULE", 16, false),
    cap("CAP_SYS_RAWIO", 17, false),
    cap("CAP_SYS_CHROOT", 18, true),
    cap("CAP_SYS_PTRACE", 19, false),
    cap("CAP_SYS_PACCT", 20, false),
    cap("CAP_SYS_ADMIN", 21, false),
    cap("CAP_SYS_BOOT", 22, false),
    cap("CAP_SYS_NICE", 23, false),
    cap("CAP_SYS_RESOURCE", 24, false),
    cap("CAP_SYS_TIME", 25, false),
    cap("CAP_SYS_TTY_CONFIG", 26, false),
    cap("CAP_MKNOD", 27, true),
    cap("CAP_LEASE", 28, false),
    cap("CAP_AUDIT_WRITE", 29, true),
    cap("CAP_AUDIT_CONTROL", 30, false),
    cap("CAP_SETFCAP", 31, true),
    cap("CAP_MAC_OVERRIDE", 32, false),
    cap("CAP_MAC_ADMIN", 33, false),
    cap("CAP_SYSLOG", 34, false),
    cap("CAP_WAKE_ALARM", 35, false),
    cap("CAP_BLOCK_SUSPEND", 36, false),
    cap("CAP_AUDIT_READ", 37, false),
    cap("CAP_PERFMON", 38, false),
    cap("CAP_BPF", 39, false),
    cap("CAP_CHECKPOINT_RESTORE", 40, false),
];

/// The capability named `name`, spelled `CAP_SYS_ADMIN` or (as Docker's `includes.caps` may
/// be) `sys_admin`.
pub fn by_name(name: &str) -> Option<&'static Capability> {
    let name = normalize(name);
    CAPABILITIES.iter().find(|c| c.name == name)
}

/// The capability with bit `number`.
pub fn by_number(number: u32) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.number == number)
}

/// `sys_admin` and `CAP_SYS_ADMIN` name the same capability: the `CAP_` spelling.
pub fn normalize(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Whether Docker gives `name` to a container by default.
pub fn docker_default(name: &str) -> bool {
    by_name(name).is_some_and(|c| c.docker_default)
}

/// The names Docker gives a container by default.
pub fn docker_defaults() -> impl Iterator<Item = &'static str> {
    CAPABILITIES
        .iter()
        .filter(|c| c.docker_default)
        .map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_positions_and_docker_has_fourteen() {
        for (i, cap) in CAPABILITIES.iter().enumerate() {
            assert_eq!(cap.number as usize, i, "{}", cap.name);
        }
        assert_eq!(docker_defaults().count(), 14);
        assert!(docker_default("chown") && docker_default("CAP_NET_RAW"));
        assert!(!docker_default("CAP_SYS_ADMIN"));
        assert_eq!(by_number(21).map(|c| c.name), Some("CAP_SYS_ADMIN"));
        assert_eq!(by_name("bpf").map(|c| c.number), Some(39));
        assert_eq!(by_name("CAP_NOPE"), None);
    }
}
