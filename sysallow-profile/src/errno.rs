//! Errno numbers and names: the kernel's table (the `syscalls` crate's copy of it), the two
//! errnos sysallow writes itself, and what errno a profile's action answers with.

use std::fmt;

use serde::Serialize;

use crate::profile::Action;

/// EPERM and ENOSYS on every Linux ABI sysallow handles.
pub const EPERM: u32 = 1;
pub const ENOSYS: u32 = 38;

/// `EPERM` -> 1, using the kernel's errno table (the `syscalls` crate's copy of it).
pub fn errno_number(name: &str) -> Option<u32> {
    (1..4096)
        .find(|n| syscalls::Errno::new(*n).name() == Some(name))
        .and_then(|n| u32::try_from(n).ok())
}

/// 1 -> `EPERM`.
pub fn errno_name(number: u32) -> Option<&'static str> {
    i32::try_from(number)
        .ok()
        .and_then(|n| syscalls::Errno::new(n).name())
}

/// An errno value. Podman writes names (`"ENOSYS"`), Docker numbers; both normalize to the
/// number where the name is known, so the two spellings compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Errno {
    Number(u32),
    /// A name the kernel's errno table ([`errno_number`]) does not know, kept as written.
    Name(String),
}

impl Errno {
    pub fn from_name(name: &str) -> Errno {
        errno_number(name).map_or_else(|| Errno::Name(name.to_owned()), Errno::Number)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Errno::Number(nr) => match errno_name(*nr) {
                Some(name) => write!(f, "{name}({nr})"),
                None => write!(f, "{nr}"),
            },
            Errno::Name(name) => f.write_str(name),
        }
    }
}

impl Errno {
    /// The number, unless this is a name the errno table does not know (which
    /// `check::errors` rejects, so no checked profile has one).
    pub fn number(&self) -> Option<u32> {
        match self {
            Errno::Number(n) => Some(*n),
            Errno::Name(_) => None,
        }
    }
}

/// The errno a rule's or the default's `action` answers with, as runc loads it: `errnoRet`,
/// else Podman's `errno` name, else EPERM (runc `libcontainer/seccomp/seccomp_linux.go`:
/// `actErrno` and `actTrace` carry EPERM when no errnoRet is given; for `SCMP_ACT_TRACE` the
/// value is the tracer's message). None for actions that carry no value.
pub fn answer(action: Action, number: Option<u32>, name: Option<&str>) -> Option<Errno> {
    match action {
        Action::Errno | Action::Trace => Some(
            number
                .map(Errno::Number)
                .or_else(|| name.map(Errno::from_name))
                .unwrap_or(Errno::Number(EPERM)),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_runc() {
        assert_eq!(
            answer(Action::Errno, None, None),
            Some(Errno::Number(EPERM))
        );
        assert_eq!(
            answer(Action::Trace, None, None),
            Some(Errno::Number(EPERM))
        );
        assert_eq!(
            answer(Action::Errno, None, Some("ENOSYS")),
            Some(Errno::Number(ENOSYS))
        );
        assert_eq!(
            answer(Action::Errno, Some(13), Some("ENOSYS")),
            Some(Errno::Number(13))
        );
        assert_eq!(answer(Action::Allow, Some(13), None), None);
        assert_eq!(
            answer(Action::Errno, None, Some("EWHAT")).and_then(|e| e.number()),
            None
        );
    }
}
