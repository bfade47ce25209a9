//! The profile's architectures and the errno pin (the highest syscall of each ABI named).

use std::collections::BTreeSet;

use crate::abi::Abi;
use crate::errno::ENOSYS;
use crate::profile::{Action, ArchMapEntry, Profile, SyscallRule};
use crate::why;

/// `archMap` when a native ABI and its compat ABI were both observed (what Docker's own
/// profile uses), else a flat `architectures` list.
pub(super) fn set_architectures(profile: &mut Profile, abis: &BTreeSet<Abi>) {
    let mut rest: BTreeSet<Abi> = abis.clone();
    let mut arch_map = Vec::new();
    for native in [Abi::X86_64, Abi::Aarch64] {
        let compat: Vec<Abi> = native.host_abis()[1..]
            .iter()
            .copied()
            .filter(|a| abis.contains(a))
            .collect();
        if abis.contains(&native) && !compat.is_empty() {
            rest.remove(&native);
            for c in &compat {
                rest.remove(c);
            }
            arch_map.push(ArchMapEntry {
                architecture: native.scmp_arch().to_owned(),
                sub_architectures: compat.iter().map(|a| a.scmp_arch().to_owned()).collect(),
            });
        }
    }
    if arch_map.is_empty() {
        profile.architectures = abis.iter().map(|a| a.scmp_arch().to_owned()).collect();
    } else {
        // `architectures` and `archMap` are exclusive; an ABI without its pair gets an entry
        // of its own.
        for abi in rest {
            arch_map.push(ArchMapEntry {
                architecture: abi.scmp_arch().to_owned(),
                sub_architectures: Vec::new(),
            });
        }
        profile.arch_map = arch_map;
    }
}

/// The highest syscall that widely deployed old libseccomp versions resolve, per ABI. A
/// runtime on such a libseccomp drops newer names, so this is the highest one it sees in a
/// profile. Data (not the local library) so that the output does not depend on the machine
/// that generates it. Measured with `ScmpSyscall::from_name_by_arch` against Debian 12's
/// libseccomp 2.5.4-1+deb12u1, which Debian patched to know syscalls up to Linux 6.7 (the test
/// `old_libseccomp_pins_match_debian_12s_patched_2_5_4_where_it_is_installed` re-checks it).
pub const OLD_LIBSECCOMP_HIGHEST: &[(Abi, &str, &str)] = &[
    (Abi::X86_64, "futex_requeue", "libseccomp 2.5.4 (Debian 12)"),
    (Abi::X86, "futex_requeue", "libseccomp 2.5.4 (Debian 12)"),
    (
        Abi::Aarch64,
        "futex_requeue",
        "libseccomp 2.5.4 (Debian 12)",
    ),
    (Abi::Arm, "futex_requeue", "libseccomp 2.5.4 (Debian 12)"),
];

/// runc answers ENOSYS, not the default errno, for any syscall numbered above the highest one
/// the profile names (its BPF stub for syscalls newer than the profile; FIELD-NOTES, measured
/// with runc 1.1.5); crun does not. So the errno a denied syscall gets would depend on which
/// syscalls happen to be listed. Naming the highest syscall of each ABI with the default errno
/// makes every runtime answer the same. The highest that the local libseccomp knows is named
/// too ([`OLD_LIBSECCOMP_HIGHEST`]): a runtime on an old libseccomp drops names it does not
/// know, and then that one is the highest it sees.
pub fn pin_rule(abis: &BTreeSet<Abi>, named: &BTreeSet<&str>, errno: u32) -> Option<SyscallRule> {
    if errno == ENOSYS {
        return None;
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for abi in abis {
        let mut by_nr: Vec<(u32, &str)> = abi
            .syscall_names()
            .into_iter()
            .filter_map(|n| abi.syscall_nr(n).map(|nr| (nr, n)))
            .collect();
        by_nr.sort_unstable();
        if let Some((_, highest)) = by_nr.last() {
            names.insert((*highest).to_owned());
        }
        for (pin_abi, name, _) in OLD_LIBSECCOMP_HIGHEST {
            if pin_abi == abi {
                names.insert((*name).to_owned());
            }
        }
    }
    names.retain(|n| !named.contains(n.as_str()));
    if names.is_empty() {
        return None;
    }
    Some(SyscallRule {
        names: names.into_iter().collect(),
        action: Action::Errno,
        errno_ret: Some(errno),
        comment: format!(
            "{}the highest syscalls, denied with the default errno, so that runc (which answers \
             ENOSYS above the highest named syscall) denies like every other runtime",
            why::ERRNO_PIN
        ),
        ..SyscallRule::default()
    })
}
