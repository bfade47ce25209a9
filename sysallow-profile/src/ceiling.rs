//! The ceiling every generated profile stays under: Docker's default profile, for a container
//! with Docker's default capabilities ([`crate::caps`]; no CAP_SYS_ADMIN).
//!
//! A custom profile exists to be tighter than the default one. Where Docker's default allows a
//! syscall only for some argument values (`clone` without namespace flags, `socket` without
//! AF_ALG and AF_VSOCK, five `personality` values), a generated profile allows the observed
//! syscall only for those values too. Where Docker answers a syscall that has an older
//! fallback with an errno (`clone3` with ENOSYS: its flags sit behind a pointer that seccomp
//! cannot read), so does the profile, and the fallback (`clone`, which can be filtered) is
//! allowed in its place.
//!
//! The values are read from the vendored Docker profile (`data/docker-default.json`), never
//! typed here, so that an update of that file updates the ceiling.

use crate::abi::Abi;
use crate::caps;
use crate::policy::{Errno, Grant};
use crate::profile::ArgCondition;
use crate::risk;

/// What Docker's default lets a default container do with one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ceiling {
    /// Allowed with any arguments (or Docker's default could not be read: then nothing is
    /// narrowed, and `sysallow diff --against docker-default` says it cannot compare).
    Unrestricted,
    /// Allowed only when one of these condition sets holds (conditions ANDed, sets ORed).
    Args(Vec<Vec<ArgCondition>>),
    /// Denied with this errno.
    Denied { errno: u32 },
}

/// A syscall that Docker's default denies while an older one does its job: when it was
/// observed, the profile denies it as Docker does, and allows the older one instead.
pub const REPLACED_BY: &[(&str, &str, &str)] = &[(
    "clone3",
    "clone",
    "clone3's flags sit behind a pointer that seccomp cannot read, so no rule can keep \
     namespace flags out; Docker's default answers it with ENOSYS, and glibc's posix_spawn, \
     pthread_create, system and popen then fall back to clone, whose flags are filtered",
)];

/// The ceiling for `name` in `abi`.
pub fn ceiling(abi: Abi, name: &str) -> Ceiling {
    let Ok(docker) = risk::docker_default() else {
        return Ceiling::Unrestricted;
    };
    let grants: Vec<Grant> = docker
        .grants(abi, name)
        .into_iter()
        .filter(applies_to_default_container)
        .collect();
    let allows: Vec<&Grant> = grants.iter().filter(|g| g.verdict.allows()).collect();
    if allows.iter().any(|g| g.args.is_empty()) {
        return Ceiling::Unrestricted;
    }
    if !allows.is_empty() {
        let mut sets: Vec<Vec<ArgCondition>> = allows.iter().map(|g| g.args.clone()).collect();
        sets.sort();
        sets.dedup();
        return Ceiling::Args(sets);
    }
    let errno = grants
        .iter()
        .find_map(|g| g.verdict.errno.as_ref())
        .or(docker.default.errno.as_ref())
        .and_then(|e| match e {
            Errno::Number(n) => Some(*n),
            Errno::Name(_) => None,
        })
        .unwrap_or(crate::errno::EPERM);
    Ceiling::Denied { errno }
}

/// Whether a grant of Docker's applies to a container with Docker's default capabilities on a
/// current kernel.
fn applies_to_default_container(grant: &Grant) -> bool {
    let gate = &grant.gate;
    gate.below_kernel.is_none()
        && gate.caps.iter().all(|c| caps::docker_default(c))
        && !gate.without_caps.iter().any(|c| caps::docker_default(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Op;

    #[test]
    fn dockers_argument_restrictions_are_read_from_its_profile() {
        assert_eq!(ceiling(Abi::X86_64, "read"), Ceiling::Unrestricted);
        let Ceiling::Args(clone) = ceiling(Abi::X86_64, "clone") else {
            panic!("clone is restricted by Docker's default")
        };
        // The namespace mask Docker's default uses.
        let ns = crate::args::NAMESPACE_FLAGS;
        assert_eq!(
            clone,
            vec![vec![ArgCondition {
                index: 0,
                value: ns,
                value_two: 0,
                op: Op::MaskedEq
            }]]
        );
        let Ceiling::Args(socket) = ceiling(Abi::X86_64, "socket") else {
            panic!("socket is restricted by Docker's default")
        };
        assert_eq!(socket.len(), 3, "{socket:?}");
        let Ceiling::Args(personality) = ceiling(Abi::X86, "personality") else {
            panic!("personality is restricted by Docker's default")
        };
        assert_eq!(personality.len(), 5);
        assert_eq!(
            ceiling(Abi::X86_64, "clone3"),
            Ceiling::Denied {
                errno: libc::ENOSYS as u32
            }
        );
        assert_eq!(
            ceiling(Abi::X86_64, "mount"),
            Ceiling::Denied {
                errno: libc::EPERM as u32
            }
        );
    }
}
