//! systemd: `SystemCallFilter=`, `SystemCallArchitectures=` and `SystemCallErrorNumber=` lines
//! for a unit's `[Service]` section (systemd.exec(5)).
//!
//! What systemd cannot express, and how it is written instead:
//! - argument conditions: the syscall is allowed for any argument (denying it could break the
//!   program; the note says so);
//! - a per-syscall errno in allow-list mode: systemd applies a `name:errno` suffix only in
//!   deny-list mode (src/shared/seccomp-util.c, `seccomp_load_syscall_filter_set_raw`), so
//!   those syscalls get `SystemCallErrorNumber=`. They are kept as `# sysallow-errno:` comment
//!   lines, which systemd ignores and sysallow reads back;
//! - comments, `archMap` (flattened), kill/trap/notify/trace actions on single syscalls.

use std::collections::{BTreeMap, BTreeSet};

use super::{FormatError, flat_architectures, systemd_arch};
use crate::Abi;
use crate::errno::{EPERM, errno_name, errno_number};
use crate::profile::{Action, Profile, SyscallRule};

const ERRNO_COMMENT: &str = "# sysallow-errno:";

pub(super) fn looks_like(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("SystemCallFilter=") || l.starts_with("SystemCallArchitectures=")
    })
}

fn allow_list(profile: &Profile) -> bool {
    !matches!(profile.default_action, Action::Allow | Action::Log)
}

fn arch_abis(profile: &Profile) -> Vec<Abi> {
    flat_architectures(profile)
        .iter()
        .filter_map(|a| Abi::from_scmp_arch(a))
        .collect()
}

pub(super) fn restrict(profile: &Profile) -> Profile {
    let allow_mode = allow_list(profile);
    let default_errno = match profile.default_action {
        Action::Errno => Some(profile.default_errno_ret.unwrap_or(EPERM)),
        _ => None,
    };
    let allowed: BTreeSet<String> = profile
        .syscalls
        .iter()
        .filter(|r| matches!(r.action, Action::Allow | Action::Log))
        .flat_map(|r| r.names.iter().cloned())
        .collect();
    let mut by_errno: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut killed: BTreeSet<String> = BTreeSet::new();
    for rule in &profile.syscalls {
        match rule.action {
            Action::Allow | Action::Log => {}
            Action::Errno => {
                let errno = rule.errno_ret.unwrap_or(EPERM);
                if allow_mode && Some(errno) == default_errno {
                    continue;
                }
                let names = rule.names.iter().filter(|n| !allowed.contains(*n)).cloned();
                by_errno.entry(errno).or_default().extend(names);
            }
            _ if !allow_mode => killed.extend(rule.names.iter().cloned()),
            _ => {}
        }
    }
    let syscalls = rules_from(allow_mode, allowed, by_errno, killed);
    Profile {
        default_action: match profile.default_action {
            Action::Errno => Action::Errno,
            Action::Allow | Action::Log => Action::Allow,
            _ => Action::KillProcess,
        },
        default_errno_ret: default_errno,
        default_errno: None,
        architectures: arch_abis(profile)
            .into_iter()
            .map(|a| a.scmp_arch().to_owned())
            .collect(),
        arch_map: Vec::new(),
        flags: Vec::new(),
        listener_path: None,
        syscalls,
    }
}

pub(super) fn notes(profile: &Profile) -> Vec<String> {
    let mut notes = Vec::new();
    let with_args: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .filter(|r| !r.args.is_empty() && r.action == Action::Allow)
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    if !with_args.is_empty() {
        notes.push(format!(
            "systemd cannot filter by argument: allowed for any argument: {}",
            with_args.into_iter().collect::<Vec<_>>().join(" ")
        ));
    }
    if allow_list(profile) {
        let restricted = restrict(profile);
        let other_errno: Vec<String> = restricted
            .syscalls
            .iter()
            .filter(|r| r.action == Action::Errno)
            .map(|r| {
                let errno = r
                    .errno_ret
                    .and_then(errno_name)
                    .map_or_else(|| format!("{:?}", r.errno_ret), str::to_owned);
                format!("{} ({errno})", r.names.join(" "))
            })
            .collect();
        if !other_errno.is_empty() {
            notes.push(format!(
                "systemd gives every syscall outside the allow list the same errno: {} get \
                 SystemCallErrorNumber= instead (kept as '{ERRNO_COMMENT}' comments); set \
                 SystemCallErrorNumber=ENOSYS if the program relies on those fallbacks",
                other_errno.join("; ")
            ));
        }
    }
    let dropped_arches: Vec<String> = flat_architectures(profile)
        .into_iter()
        .filter(|a| Abi::from_scmp_arch(a).is_none())
        .collect();
    if !dropped_arches.is_empty() {
        notes.push(format!(
            "architectures sysallow has no systemd name for were left out: {}",
            dropped_arches.join(" ")
        ));
    }
    notes
}

/// `profile` must already be restricted (see [`restrict`]).
pub(super) fn write(profile: &Profile, notes: &[String]) -> String {
    let mut out = String::from(
        "# Seccomp filter for a systemd service (systemd.exec(5)), written by sysallow.\n\
         # Put these lines in the unit's [Service] section or a drop-in (systemctl edit UNIT).\n",
    );
    for note in notes {
        out.push_str(&format!("# Note: {note}\n"));
    }
    let arches: Vec<&str> = profile
        .architectures
        .iter()
        .filter_map(|a| Abi::from_scmp_arch(a))
        .map(systemd_arch)
        .collect();
    if !arches.is_empty() {
        out.push_str(&format!("SystemCallArchitectures={}\n", arches.join(" ")));
    }
    if let Some(errno) = profile.default_errno_ret {
        let name = errno_name(errno).map_or_else(|| errno.to_string(), str::to_owned);
        out.push_str(&format!("SystemCallErrorNumber={name}\n"));
    }
    let allow_mode = allow_list(profile);
    for rule in &profile.syscalls {
        match rule.action {
            Action::Allow => {
                out.push_str(&format!("SystemCallFilter={}\n", rule.names.join(" ")));
            }
            Action::Errno => {
                let errno = rule.errno_ret.unwrap_or(EPERM);
                let name = errno_name(errno).map_or_else(|| errno.to_string(), str::to_owned);
                if allow_mode {
                    out.push_str(&format!(
                        "{ERRNO_COMMENT} {name} {}\n",
                        rule.names.join(" ")
                    ));
                } else {
                    let names: Vec<String> =
                        rule.names.iter().map(|n| format!("{n}:{name}")).collect();
                    out.push_str(&format!("SystemCallFilter=~{}\n", names.join(" ")));
                }
            }
            _ => out.push_str(&format!("SystemCallFilter=~{}\n", rule.names.join(" "))),
        }
    }
    out
}

fn error(line: usize, message: impl Into<String>) -> FormatError {
    FormatError::Systemd {
        line,
        message: message.into(),
    }
}

fn parse_errno(line: usize, s: &str) -> Result<u32, FormatError> {
    s.parse::<u32>()
        .ok()
        .or_else(|| errno_number(s))
        .ok_or_else(|| error(line, format!("unknown errno {s:?}")))
}

pub(super) fn read(text: &str) -> Result<Profile, FormatError> {
    let mut arches: Vec<String> = Vec::new();
    let mut default_errno: Option<u32> = None;
    let mut allow_mode: Option<bool> = None;
    let mut allowed: BTreeSet<String> = BTreeSet::new();
    let mut by_errno: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut killed: BTreeSet<String> = BTreeSet::new();
    // Deny-list entries without an errno get SystemCallErrorNumber=, which may come later.
    let mut plain_denied: BTreeSet<String> = BTreeSet::new();

    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix(ERRNO_COMMENT) {
            let mut words = rest.split_whitespace();
            let errno = parse_errno(n, words.next().unwrap_or_default())?;
            by_errno
                .entry(errno)
                .or_default()
                .extend(words.map(str::to_owned));
            continue;
        }
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(error(n, format!("expected KEY=VALUE, found {line:?}")));
        };
        match key.trim() {
            "SystemCallArchitectures" => {
                for name in value.split_whitespace() {
                    let abi = Abi::ALL
                        .into_iter()
                        .find(|a| systemd_arch(*a) == name)
                        .ok_or_else(|| {
                            error(
                                n,
                                format!("architecture {name:?} is not one sysallow handles"),
                            )
                        })?;
                    arches.push(abi.scmp_arch().to_owned());
                }
            }
            "SystemCallErrorNumber" => default_errno = Some(parse_errno(n, value.trim())?),
            "SystemCallFilter" => {
                let value = value.trim();
                let (deny, list) = match value.strip_prefix('~') {
                    Some(rest) => (true, rest),
                    None => (false, value),
                };
                if allow_mode.is_none() && !list.trim().is_empty() {
                    allow_mode = Some(!deny);
                }
                for token in list.split_whitespace() {
                    if token.starts_with('@') {
                        return Err(error(
                            n,
                            format!(
                                "syscall group {token} is not supported: expand it with \
                                 `systemd-analyze syscall-filter {token}`"
                            ),
                        ));
                    }
                    let (name, errno) = match token.split_once(':') {
                        Some((name, errno)) => (name, Some(parse_errno(n, errno)?)),
                        None => (token, None),
                    };
                    match (allow_mode == Some(true), deny) {
                        (true, false) if errno.is_some() => {
                            return Err(error(
                                n,
                                format!("{token}: systemd ignores an errno in allow-list mode"),
                            ));
                        }
                        (true, false) => {
                            allowed.insert(name.to_owned());
                        }
                        (true, true) => {
                            allowed.remove(name);
                        }
                        (false, true) => match errno {
                            Some(e) => {
                                by_errno.entry(e).or_default().insert(name.to_owned());
                            }
                            None => {
                                plain_denied.insert(name.to_owned());
                            }
                        },
                        (false, false) => {
                            plain_denied.remove(name);
                            killed.remove(name);
                            for names in by_errno.values_mut() {
                                names.remove(name);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let Some(allow_mode) = allow_mode else {
        return Err(error(1, "no SystemCallFilter= line"));
    };
    match default_errno {
        Some(e) => by_errno.entry(e).or_default().extend(plain_denied),
        None => killed.extend(plain_denied),
    }
    let syscalls = rules_from(allow_mode, allowed, by_errno, killed);
    Ok(Profile {
        default_action: match (allow_mode, default_errno) {
            (false, _) => Action::Allow,
            (true, Some(_)) => Action::Errno,
            // Without SystemCallErrorNumber= systemd kills the process (SIGSYS).
            (true, None) => Action::KillProcess,
        },
        default_errno_ret: if allow_mode { default_errno } else { None },
        default_errno: None,
        architectures: arches,
        arch_map: Vec::new(),
        flags: Vec::new(),
        listener_path: None,
        syscalls,
    })
}

/// The rules systemd's model can hold: in allow-list mode one allow rule, then one rule per
/// errno, then the killed names (the same shape both ways: when restricting a profile to what
/// systemd can say, and when reading a unit's lines back).
fn rules_from(
    allow_mode: bool,
    allowed: BTreeSet<String>,
    by_errno: BTreeMap<u32, BTreeSet<String>>,
    killed: BTreeSet<String>,
) -> Vec<SyscallRule> {
    let mut syscalls = Vec::new();
    if allow_mode && !allowed.is_empty() {
        syscalls.push(SyscallRule {
            names: allowed.into_iter().collect(),
            action: Action::Allow,
            ..SyscallRule::default()
        });
    }
    for (errno, names) in by_errno {
        if !names.is_empty() {
            syscalls.push(SyscallRule {
                names: names.into_iter().collect(),
                action: Action::Errno,
                errno_ret: Some(errno),
                ..SyscallRule::default()
            });
        }
    }
    if !killed.is_empty() {
        syscalls.push(SyscallRule {
            names: killed.into_iter().collect(),
            action: Action::KillProcess,
            ..SyscallRule::default()
        });
    }
    syscalls
}
