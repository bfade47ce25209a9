//! ABIs and their syscall tables. Names and numbers come from the `syscalls` crate, which is
//! generated from the kernel's own tables; one ABI's number means another syscall in another
//! ABI (i386 5 is `open`, x86_64 5 is `fstat`), so a number is never named without its ABI.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A syscall ABI, named as libseccomp names its architecture (`SCMP_ARCH_X86_64` is `x86_64`,
/// `SCMP_ARCH_X86` is `x86`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Abi {
    #[serde(rename = "x86_64")]
    X86_64,
    /// i386, also what a 64-bit x86 kernel runs for `int 0x80` and 32-bit processes.
    X86,
    Aarch64,
    Arm,
}

impl Abi {
    pub const ALL: [Abi; 4] = [Abi::X86_64, Abi::X86, Abi::Aarch64, Abi::Arm];

    /// The libseccomp / Docker architecture constant.
    pub fn scmp_arch(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::X86 => "SCMP_ARCH_X86",
            Abi::Aarch64 => "SCMP_ARCH_AARCH64",
            Abi::Arm => "SCMP_ARCH_ARM",
        }
    }

    pub fn from_scmp_arch(arch: &str) -> Option<Abi> {
        Abi::ALL.into_iter().find(|abi| abi.scmp_arch() == arch)
    }

    pub fn name(self) -> &'static str {
        match self {
            Abi::X86_64 => "x86_64",
            Abi::X86 => "x86",
            Abi::Aarch64 => "aarch64",
            Abi::Arm => "arm",
        }
    }

    /// The ABIs a task on a host of this ABI can use: the native one, then its compat one.
    pub fn host_abis(self) -> &'static [Abi] {
        match self {
            Abi::X86_64 => &[Abi::X86_64, Abi::X86],
            Abi::Aarch64 => &[Abi::Aarch64, Abi::Arm],
            Abi::X86 => &[Abi::X86],
            Abi::Arm => &[Abi::Arm],
        }
    }

    /// The ABI of the machine this was compiled for.
    pub fn native() -> Abi {
        if cfg!(target_arch = "aarch64") {
            Abi::Aarch64
        } else if cfg!(target_arch = "x86") {
            Abi::X86
        } else if cfg!(target_arch = "arm") {
            Abi::Arm
        } else {
            Abi::X86_64
        }
    }

    /// The name of syscall `nr` in this ABI, if the table has one.
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        let nr = nr as usize;
        match self {
            Abi::X86_64 => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
            Abi::X86 => syscalls::x86::Sysno::new(nr).map(|s| s.name()),
            Abi::Aarch64 => syscalls::aarch64::Sysno::new(nr).map(|s| s.name()),
            Abi::Arm => syscalls::arm::Sysno::new(nr).map(|s| s.name()),
        }
    }

    /// The number of syscall `name` in this ABI, if it exists there.
    pub fn syscall_nr(self, name: &str) -> Option<u32> {
        let id = match self {
            Abi::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok().map(|s| s.id()),
            Abi::X86 => syscalls::x86::Sysno::from_str(name).ok().map(|s| s.id()),
            Abi::Aarch64 => syscalls::aarch64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id()),
            Abi::Arm => syscalls::arm::Sysno::from_str(name).ok().map(|s| s.id()),
        }?;
        u32::try_from(id).ok()
    }

    /// Every syscall name this ABI's table knows.
    pub fn syscall_names(self) -> Vec<&'static str> {
        match self {
            Abi::X86_64 => syscalls::x86_64::Sysno::iter().map(|s| s.name()).collect(),
            Abi::X86 => syscalls::x86::Sysno::iter().map(|s| s.name()).collect(),
            Abi::Aarch64 => syscalls::aarch64::Sysno::iter().map(|s| s.name()).collect(),
            Abi::Arm => syscalls::arm::Sysno::iter().map(|s| s.name()).collect(),
        }
    }
}

/// ARM's private syscalls (`__ARM_NR_*` in the kernel's `arch/arm/include/uapi/asm/unistd.h`):
/// libseccomp and Docker's default name them, but they are outside the syscall table the
/// `syscalls` crate is generated from.
const ARM_PRIVATE: [&str; 5] = ["breakpoint", "cacheflush", "usr26", "usr32", "set_tls"];

/// Whether any architecture a seccomp profile may name (libseccomp's: x86, ARM, RISC-V, s390,
/// POWER, MIPS, LoongArch) has a syscall called `name`. Profiles are shared across hosts, so a
/// name is a typo only when no architecture knows it (Docker's default names `riscv_hwprobe`
/// and `s390_pci_mmio_read`).
pub fn known_on_any_architecture(name: &str) -> bool {
    ARM_PRIVATE.contains(&name)
        || Abi::ALL.iter().any(|abi| abi.syscall_nr(name).is_some())
        || syscalls::riscv64::Sysno::from_str(name).is_ok()
        || syscalls::s390x::Sysno::from_str(name).is_ok()
        || syscalls::powerpc::Sysno::from_str(name).is_ok()
        || syscalls::powerpc64::Sysno::from_str(name).is_ok()
        || syscalls::mips::Sysno::from_str(name).is_ok()
        || syscalls::mips64::Sysno::from_str(name).is_ok()
        || syscalls::loongarch64::Sysno::from_str(name).is_ok()
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Abi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Abi::ALL
            .into_iter()
            .find(|abi| abi.name() == s || abi.scmp_arch() == s)
            .or(match s {
                "i386" | "i686" => Some(Abi::X86),
                "amd64" => Some(Abi::X86_64),
                "arm64" => Some(Abi::Aarch64),
                _ => None,
            })
            .ok_or_else(|| format!("unknown ABI {s:?} (expected one of x86_64, x86, aarch64, arm)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_named_per_abi() {
        // The same number is a different syscall in each ABI.
        assert_eq!(Abi::X86_64.syscall_name(5), Some("fstat"));
        assert_eq!(Abi::X86.syscall_name(5), Some("open"));
        assert_eq!(Abi::X86_64.syscall_nr("clone3"), Some(435));
        assert_eq!(Abi::X86.syscall_nr("socketcall"), Some(102));
        assert_eq!(Abi::X86_64.syscall_nr("socketcall"), None);
    }

    #[test]
    fn parses_every_spelling() {
        for abi in Abi::ALL {
            assert_eq!(abi.name().parse::<Abi>(), Ok(abi));
            assert_eq!(abi.scmp_arch().parse::<Abi>(), Ok(abi));
            assert_eq!(Abi::from_scmp_arch(abi.scmp_arch()), Some(abi));
        }
        assert!("sparc".parse::<Abi>().is_err());
    }
}
