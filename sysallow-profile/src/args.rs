//! Argument values: which scalar arguments the recorder captures in the kernel, what a value
//! means (and its symbolic name), and the argument rules each generation level writes.
//!
//! The kernel side keeps, per target, ABI and syscall, the distinct values of one argument in
//! a bounded set (`sysallow_common::MAX_ARG_VALUES`); a set that overflowed, or lost a value,
//! gets no rule of its own (the Docker ceiling still holds, see `ceiling.rs`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::profile::{ArgCondition, Op};

/// How a captured value is made from a syscall's arguments: the kernel side's own enum, so
/// the two cannot disagree on a kind.
pub use sysallow_common::ArgKind;

/// The syscalls whose argument is captured, and how.
pub const CAPTURED: &[(&str, ArgKind)] = &[
    ("clone", ArgKind::Arg0),
    ("clone3", ArgKind::Clone3Flags),
    ("socket", ArgKind::Socket),
    ("personality", ArgKind::Arg0),
    ("prctl", ArgKind::Arg0),
    ("ioctl", ArgKind::Arg1),
    ("fcntl", ArgKind::Arg1),
    ("fcntl64", ArgKind::Arg1),
    ("mmap", ArgKind::Prot),
    ("mmap2", ArgKind::Prot),
    ("mprotect", ArgKind::Prot),
    ("pkey_mprotect", ArgKind::Prot),
    ("setsockopt", ArgKind::Setsockopt),
];

/// The value `capture` keeps of a call with these arguments, as the kernel side computes it
/// (None for clone3, whose flags are in user memory).
pub fn value_of(capture: ArgKind, args: &[u64; 6], wide: bool) -> Option<u64> {
    let width = if wide { u64::MAX } else { LOW32 };
    let arg = |i: usize| args[i] & width;
    Some(match capture {
        ArgKind::Arg0 => arg(0),
        ArgKind::Arg1 => arg(1),
        ArgKind::Socket => ((arg(0) & LOW32) << 32) | (arg(1) & LOW32 & !SOCK_FLAGS),
        ArgKind::Prot => arg(2) & PROT_WX,
        ArgKind::Setsockopt => ((arg(1) & LOW32) << 32) | (arg(2) & LOW32),
        ArgKind::Clone3Flags => return None,
    })
}

/// How `name`'s argument is captured, if it is.
pub fn capture_of(name: &str) -> Option<ArgKind> {
    CAPTURED.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The distinct values of a syscall's captured argument, as a Recording keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgValues {
    pub values: BTreeSet<u64>,
    /// More distinct values than the bound, or one that could not be read: the set is not
    /// complete, and no rule is made from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overflow: bool,
}

impl ArgValues {
    /// The union with `other`.
    pub fn merge(&mut self, other: &ArgValues) {
        self.values.extend(other.values.iter().copied());
        self.overflow |= other.overflow;
    }
}

/// How far argument rules go (`--args`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArgsLevel {
    /// Only the Docker ceiling.
    Off,
    /// The ceiling, narrowed to what was observed: namespace flags of clone, socket domains,
    /// personality values.
    #[default]
    Safe,
    /// Also ioctl requests, prctl options, fcntl commands, W^X protections and setsockopt
    /// options.
    Strict,
}

impl ArgsLevel {
    pub fn name(self) -> &'static str {
        match self {
            ArgsLevel::Off => "off",
            ArgsLevel::Safe => "safe",
            ArgsLevel::Strict => "strict",
        }
    }
}

impl std::str::FromStr for ArgsLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(ArgsLevel::Off),
            "safe" => Ok(ArgsLevel::Safe),
            "strict" => Ok(ArgsLevel::Strict),
            _ => Err(format!(
                "unknown --args level {s:?} (expected off, safe or strict)"
            )),
        }
    }
}

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET: the flags Docker's default keeps out of clone (linux/sched.h).
pub const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// The socket type bits that are flags, not the type (SOCK_NONBLOCK, SOCK_CLOEXEC).
const SOCK_FLAGS: u64 = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
/// PROT_WRITE | PROT_EXEC.
pub const PROT_WX: u64 = (libc::PROT_WRITE | libc::PROT_EXEC) as u64;
const LOW32: u64 = 0xffff_ffff;

fn cond(index: u32, op: Op, value: u64, value_two: u64) -> ArgCondition {
    ArgCondition {
        index,
        value,
        value_two,
        op,
    }
}

/// The condition sets (ORed; each ANDed) that allow `name` for exactly the observed `values`
/// at `level`, or None where the level writes no rule for it (the syscall is then allowed as
/// the ceiling allows it). `clone` gets the namespace patterns observed; the ceiling's own
/// rules are the caller's.
pub fn rules(
    name: &str,
    values: &BTreeSet<u64>,
    level: ArgsLevel,
) -> Option<Vec<Vec<ArgCondition>>> {
    if level == ArgsLevel::Off {
        return None;
    }
    let each = |f: &dyn Fn(u64) -> Vec<ArgCondition>| -> Vec<Vec<ArgCondition>> {
        let mut sets: Vec<Vec<ArgCondition>> = values.iter().map(|v| f(*v)).collect();
        sets.sort();
        sets.dedup();
        sets
    };
    let sets = match (name, level) {
        // Namespace flags only where observed: one rule per pattern (the pattern 0 is the
        // ceiling's rule).
        ("clone" | "clone3", _) => {
            each(&|v| vec![cond(0, Op::MaskedEq, NAMESPACE_FLAGS, v & NAMESPACE_FLAGS)])
        }
        ("socket", ArgsLevel::Safe) => each(&|v| vec![cond(0, Op::Eq, v >> 32, 0)]),
        ("socket", _) => each(&|v| {
            vec![
                cond(0, Op::Eq, v >> 32, 0),
                cond(1, Op::MaskedEq, LOW32 & !SOCK_FLAGS, v & LOW32),
            ]
        }),
        ("personality", _) => each(&|v| vec![cond(0, Op::Eq, v, 0)]),
        (_, ArgsLevel::Safe) => return None,
        ("prctl", _) => each(&|v| vec![cond(0, Op::Eq, v, 0)]),
        // ioctl's request is an `unsigned int` in the kernel: compare the low 32 bits.
        ("ioctl", _) => each(&|v| vec![cond(1, Op::MaskedEq, LOW32, v & LOW32)]),
        ("fcntl" | "fcntl64", _) => each(&|v| vec![cond(1, Op::Eq, v, 0)]),
        ("mmap" | "mmap2" | "mprotect" | "pkey_mprotect", _) => {
            each(&|v| vec![cond(2, Op::MaskedEq, PROT_WX, v & PROT_WX)])
        }
        ("setsockopt", _) => {
            each(&|v| vec![cond(1, Op::Eq, v >> 32, 0), cond(2, Op::Eq, v & LOW32, 0)])
        }
        _ => return None,
    };
    Some(sets)
}

/// The symbolic meaning of an argument condition of `name`, where one is known: `AF_UNIX`
/// for `socket`'s `arg0 == 1`, `no namespace flags` for clone's mask, `TCGETS`, ...
pub fn describe_condition(name: &str, cond: &ArgCondition) -> Option<String> {
    let value = match cond.op {
        Op::Eq => cond.value,
        Op::MaskedEq => cond.value_two,
        _ => return None,
    };
    Some(match (name, cond.index, cond.op) {
        ("socket", 0, Op::Eq) => named(value, ADDRESS_FAMILIES),
        ("socket", 1, Op::MaskedEq) => named(value, SOCKET_TYPES),
        ("clone", 0, Op::MaskedEq) if cond.value == NAMESPACE_FLAGS => {
            if value == 0 {
                "no namespace flags".to_owned()
            } else {
                flags(value, CLONE_FLAGS)
            }
        }
        ("ioctl", 1, _) => named(value & LOW32, IOCTL_REQUESTS),
        ("prctl", 0, Op::Eq) => named(value, PRCTL_OPTIONS),
        ("fcntl" | "fcntl64", 1, Op::Eq) => named(value, FCNTL_COMMANDS),
        ("mmap" | "mmap2" | "mprotect" | "pkey_mprotect", 2, Op::MaskedEq) => {
            describe("mprotect", value)
        }
        ("setsockopt", 1, Op::Eq) => named(value, SOCKET_LEVELS),
        _ => return None,
    })
}

/// What a rule made at `level` from `value` keeps of it, in words: at `safe`, only a socket's
/// domain is kept (its type is `strict`'s).
pub fn describe_at(name: &str, value: u64, level: ArgsLevel) -> String {
    match (name, level) {
        ("socket", ArgsLevel::Safe) => named(value >> 32, ADDRESS_FAMILIES),
        _ => describe(name, value),
    }
}

/// A captured value in words: `CLONE_VM|CLONE_FS|...`, `AF_UNIX, SOCK_STREAM`, `TCGETS`,
/// `PR_SET_NAME`, `PROT_READ|PROT_EXEC` (from the `libc` crate's constants), the number where
/// no name is known.
pub fn describe(name: &str, value: u64) -> String {
    match name {
        "clone" | "clone3" => flags(value, CLONE_FLAGS),
        "socket" => format!(
            "{}, {}",
            named(value >> 32, ADDRESS_FAMILIES),
            named(value & LOW32, SOCKET_TYPES)
        ),
        "personality" => format!("{value:#x}"),
        "prctl" => named(value, PRCTL_OPTIONS),
        "ioctl" => named(value & LOW32, IOCTL_REQUESTS),
        "fcntl" | "fcntl64" => named(value, FCNTL_COMMANDS),
        "mmap" | "mmap2" | "mprotect" | "pkey_mprotect" => {
            if value & PROT_WX == 0 {
                "neither PROT_WRITE nor PROT_EXEC".to_owned()
            } else {
                flags(value, PROT_FLAGS)
            }
        }
        "setsockopt" => format!("{}, {}", named(value >> 32, SOCKET_LEVELS), value & LOW32),
        _ => value.to_string(),
    }
}

fn named(value: u64, table: &[(&str, u64)]) -> String {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or_else(|| value.to_string(), |(n, _)| (*n).to_owned())
}

fn flags(value: u64, table: &[(&str, u64)]) -> String {
    let mut rest = value;
    let mut names = Vec::new();
    for (name, bit) in table {
        if *bit != 0 && rest & bit == *bit {
            names.push((*name).to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join("|")
    }
}

macro_rules! consts {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name as u64)),*]
    };
}

const CLONE_FLAGS: &[(&str, u64)] = consts![
    CLONE_VM,
    CLONE_FS,
    CLONE_FILES,
    CLONE_SIGHAND,
    CLONE_PIDFD,
    CLONE_PTRACE,
    CLONE_VFORK,
    CLONE_PARENT,
    CLONE_THREAD,
    CLONE_NEWNS,
    CLONE_SYSVSEM,
    CLONE_SETTLS,
    CLONE_PARENT_SETTID,
    CLONE_CHILD_CLEARTID,
    CLONE_DETACHED,
    CLONE_UNTRACED,
    CLONE_CHILD_SETTID,
    CLONE_NEWCGROUP,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
    CLONE_IO,
    // The exit signal in the low byte: SIGCHLD for a fork.
    SIGCHLD,
];
const ADDRESS_FAMILIES: &[(&str, u64)] = consts![
    AF_UNSPEC,
    AF_UNIX,
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_PACKET,
    AF_ALG,
    AF_VSOCK,
    AF_BLUETOOTH,
    AF_KEY,
    AF_CAN,
    AF_XDP,
    AF_TIPC,
    AF_RDS,
    AF_APPLETALK,
    AF_X25,
    AF_AX25,
    AF_IPX,
];
const SOCKET_TYPES: &[(&str, u64)] =
    consts![SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET];
const PROT_FLAGS: &[(&str, u64)] = consts![PROT_READ, PROT_WRITE, PROT_EXEC];
const PRCTL_OPTIONS: &[(&str, u64)] = consts![
    PR_SET_PDEATHSIG,
    PR_GET_PDEATHSIG,
    PR_GET_DUMPABLE,
    PR_SET_DUMPABLE,
    PR_SET_KEEPCAPS,
    PR_GET_KEEPCAPS,
    PR_SET_NAME,
    PR_GET_NAME,
    PR_GET_SECCOMP,
    PR_SET_SECCOMP,
    PR_CAPBSET_READ,
    PR_CAPBSET_DROP,
    PR_GET_SECUREBITS,
    PR_SET_SECUREBITS,
    PR_SET_TIMERSLACK,
    PR_GET_TIMERSLACK,
    PR_SET_NO_NEW_PRIVS,
    PR_GET_NO_NEW_PRIVS,
    PR_SET_CHILD_SUBREAPER,
    PR_GET_CHILD_SUBREAPER,
    PR_SET_MM,
    PR_SET_PTRACER,
    PR_SET_THP_DISABLE,
    PR_GET_THP_DISABLE,
    PR_CAP_AMBIENT,
    PR_SET_VMA,
];
const IOCTL_REQUESTS: &[(&str, u64)] = consts![
    TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TIOCSPGRP, TIOCSCTTY,
    TIOCNOTTY, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, FIOASYNC, TCFLSH, TCXONC, TIOCGPTN,
    TIOCSPTLCK,
];
const FCNTL_COMMANDS: &[(&str, u64)] = consts![
    F_DUPFD,
    F_GETFD,
    F_SETFD,
    F_GETFL,
    F_SETFL,
    F_GETLK,
    F_SETLK,
    F_SETLKW,
    F_SETOWN,
    F_GETOWN,
    F_DUPFD_CLOEXEC,
    F_OFD_GETLK,
    F_OFD_SETLK,
    F_OFD_SETLKW,
    F_SETPIPE_SZ,
    F_GETPIPE_SZ,
    F_ADD_SEALS,
    F_GET_SEALS,
];
const SOCKET_LEVELS: &[(&str, u64)] = consts![
    SOL_SOCKET,
    IPPROTO_TCP,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPPROTO_UDP
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_named_from_the_libc_crate() {
        let fork = (libc::SIGCHLD | libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(
            describe("clone", fork),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        );
        assert!(describe("clone", libc::CLONE_NEWUSER as u64).contains("CLONE_NEWUSER"));
        let unix = ((libc::AF_UNIX as u64) << 32) | libc::SOCK_STREAM as u64;
        assert_eq!(describe("socket", unix), "AF_UNIX, SOCK_STREAM");
        assert_eq!(describe("ioctl", libc::TCGETS), "TCGETS");
        assert_eq!(describe("prctl", libc::PR_SET_NAME as u64), "PR_SET_NAME");
        assert_eq!(describe("fcntl", libc::F_SETFL as u64), "F_SETFL");
        assert_eq!(describe("mprotect", PROT_WX), "PROT_WRITE|PROT_EXEC");
        assert_eq!(describe("ioctl", 0x1234_5678), "305419896");
    }

    #[test]
    fn each_level_writes_what_it_says() {
        let sockets: BTreeSet<u64> = [
            ((libc::AF_UNIX as u64) << 32) | libc::SOCK_STREAM as u64,
            ((libc::AF_INET as u64) << 32) | libc::SOCK_DGRAM as u64,
        ]
        .into();
        assert_eq!(rules("socket", &sockets, ArgsLevel::Off), None);
        let safe = rules("socket", &sockets, ArgsLevel::Safe).unwrap();
        assert_eq!(safe.len(), 2);
        assert_eq!(safe[0], vec![cond(0, Op::Eq, libc::AF_UNIX as u64, 0)]);
        let strict = rules("socket", &sockets, ArgsLevel::Strict).unwrap();
        assert_eq!(strict[0].len(), 2);
        let ioctl: BTreeSet<u64> = [libc::TCGETS].into();
        assert_eq!(rules("ioctl", &ioctl, ArgsLevel::Safe), None);
        assert_eq!(rules("ioctl", &ioctl, ArgsLevel::Strict).unwrap().len(), 1);
        // Namespace patterns: a plain fork and a CLONE_NEWUSER one are two rules.
        let clones: BTreeSet<u64> = [
            libc::SIGCHLD as u64,
            (libc::SIGCHLD | libc::CLONE_VM) as u64,
            (libc::SIGCHLD | libc::CLONE_NEWUSER) as u64,
        ]
        .into();
        let clone = rules("clone", &clones, ArgsLevel::Safe).unwrap();
        assert_eq!(clone.len(), 2, "{clone:?}");
        assert!(
            clone
                .iter()
                .any(|c| c[0].value_two == libc::CLONE_NEWUSER as u64)
        );
    }
}
