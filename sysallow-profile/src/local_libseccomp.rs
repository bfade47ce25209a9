//! The libseccomp on this machine, behind a small interface: which names it knows, its
//! version, and the warnings for names it would drop. Generation asks it only for warnings
//! (the output never depends on it); the tests also compile profiles with it.

use std::collections::BTreeSet;

use crate::abi::Abi;
use crate::profile::{Action, Profile};
use crate::why;

fn scmp_arch(abi: Abi) -> libseccomp::ScmpArch {
    match abi {
        Abi::X86_64 => libseccomp::ScmpArch::X8664,
        Abi::X86 => libseccomp::ScmpArch::X86,
        Abi::Aarch64 => libseccomp::ScmpArch::Aarch64,
        Abi::Arm => libseccomp::ScmpArch::Arm,
    }
}

/// Whether the libseccomp on this machine resolves `name` for `abi`.
pub fn libseccomp_knows(abi: Abi, name: &str) -> bool {
    libseccomp::ScmpSyscall::from_name_by_arch(name, scmp_arch(abi)).is_ok()
}

/// The local libseccomp's version, for messages.
pub fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "(unknown version)".to_owned())
}

/// Every name of `profile` that an architecture it lists has in sysallow's table but the
/// local libseccomp does not know, as (name, ABIs).
pub fn libseccomp_unknown(profile: &Profile) -> Vec<(String, Vec<Abi>)> {
    let abis: Vec<Abi> = profile
        .all_architectures()
        .iter()
        .filter_map(|a| Abi::from_scmp_arch(a))
        .collect();
    // The errno pin names the newest syscalls on purpose: a runtime that does not know one
    // drops it and the next pin takes over (see `pin_rule`), so they need no warning.
    let names: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .filter(|r| !r.comment.starts_with(why::ERRNO_PIN))
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let unknown: Vec<Abi> = abis
                .iter()
                .copied()
                .filter(|abi| abi.syscall_nr(name).is_some() && !libseccomp_knows(*abi, name))
                .collect();
            (!unknown.is_empty()).then(|| (name.to_owned(), unknown))
        })
        .collect()
}

/// Warnings for names the local libseccomp does not know: they are emitted (never dropped or
/// invented), but a runtime built on a libseccomp this old drops them silently (FIELD-NOTES).
pub fn libseccomp_warnings(profile: &Profile) -> Vec<String> {
    let version = libseccomp_version();
    libseccomp_unknown(profile)
        .into_iter()
        .map(|(name, abis)| {
            let rule = profile.syscalls.iter().find(|r| r.names.contains(&name));
            let effect = match rule.map(|r| r.action) {
                Some(Action::Allow) => "the call is then denied",
                _ => "the call then gets the default action",
            };
            let abis: Vec<&str> = abis.iter().map(|a| a.name()).collect();
            format!(
                "{name} ({}): libseccomp {version} on this machine does not know it; kept in the \
                 profile, but runtimes built on a libseccomp this old drop it silently ({effect})",
                abis.join(", ")
            )
        })
        .collect()
}
