//! Checks on a profile that parsed but may still be wrong, the same for every subcommand that
//! reads one (`run`, `verify`, `diff`, `merge`, `explain`).
//!
//! What cannot work as written is an error, named by where it is (`syscalls[3] (read)`), so a
//! bad file fails in review rather than when a container starts: an errno beyond the kernel's
//! 4095 (the kernel would clamp it), an unknown errno name, an argument index above 5
//! (libseccomp refuses it), `architectures` and `archMap` together (moby refuses that), a rule
//! naming no syscall, more argument conditions than a seccomp filter can hold. What runtimes accept but is most likely a mistake is a warning: a
//! syscall name no architecture knows (runc skips it silently, so the rule does nothing) and
//! a syscall given twice without conditions.

use std::collections::BTreeMap;

use crate::abi::known_on_any_architecture;
use crate::errno::errno_number;
use crate::profile::{Action, Profile, rule_place};

/// A seccomp filter program holds at most `BPF_MAXINSNS` (4096) instructions
/// (include/uapi/linux/bpf_common.h); every argument condition compiles to at least one, so a
/// profile with more conditions than that cannot be loaded by any runtime. Checked before
/// libseccomp sees it: compiling 100,000 conditions took libseccomp minutes here.
pub const MAX_CONDITIONS: usize = 4096;

/// The largest errno the kernel returns from a seccomp filter (`MAX_ERRNO`).
pub const MAX_ERRNO: u32 = 4095;

/// A profile's first structural error: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct Invalid {
    pub place: String,
    pub message: String,
}

fn invalid(place: &str, message: String) -> Invalid {
    Invalid {
        place: place.to_owned(),
        message,
    }
}

fn check_errno(place: &str, ret: Option<u32>, name: Option<&str>) -> Result<(), Invalid> {
    if let Some(ret) = ret.filter(|r| *r > MAX_ERRNO) {
        return Err(invalid(
            place,
            format!("errno {ret} is out of range (0-{MAX_ERRNO})"),
        ));
    }
    if let Some(name) = name.filter(|n| errno_number(n).is_none()) {
        return Err(invalid(place, format!("unknown errno {name:?}")));
    }
    Ok(())
}

/// The first thing in `profile` that cannot work as written.
pub fn errors(profile: &Profile) -> Result<(), Invalid> {
    check_errno(
        "defaultErrnoRet",
        profile.default_errno_ret,
        profile.default_errno.as_deref(),
    )?;
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(invalid(
            "architectures",
            "both `architectures` and `archMap` are given; use one".to_owned(),
        ));
    }
    let conditions: usize = profile.syscalls.iter().map(|r| r.args.len()).sum();
    if conditions > MAX_CONDITIONS {
        return Err(invalid(
            "syscalls",
            format!(
                "{conditions} argument conditions; a seccomp filter holds at most \
                 {MAX_CONDITIONS} BPF instructions, so no runtime can load this profile"
            ),
        ));
    }
    for (i, rule) in profile.syscalls.iter().enumerate() {
        let place = rule_place(i, rule);
        if rule.names.is_empty() {
            return Err(invalid(&place, "the rule names no syscall".to_owned()));
        }
        check_errno(&place, rule.errno_ret, rule.errno.as_deref())?;
        if let Some(arg) = rule.args.iter().find(|a| a.index > 5) {
            return Err(invalid(
                &place,
                format!("argument index {} is out of range (0-5)", arg.index),
            ));
        }
    }
    Ok(())
}

/// A rule without conditions for one syscall: (rule index, action, errno).
type Plain = (usize, Action, Option<u32>);

/// How many places or names a warning lists before it says "and N more": a generated or
/// hostile profile can repeat a name 100,000 times.
const LISTED: usize = 8;

fn listed<T: AsRef<str>>(items: &[T], separator: &str) -> String {
    let mut shown = items
        .iter()
        .take(LISTED)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(separator);
    if items.len() > LISTED {
        shown.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    shown
}

/// What runtimes accept but is most likely a mistake, one sentence each.
pub fn warnings(profile: &Profile) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    let mut plain: BTreeMap<&str, Vec<Plain>> = BTreeMap::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        for name in &rule.names {
            if !known_on_any_architecture(name) && !unknown.contains(&name.as_str()) {
                unknown.push(name);
            }
        }
        if rule.args.is_empty() && rule.includes.is_empty() && rule.excludes.is_empty() {
            for name in &rule.names {
                plain
                    .entry(name)
                    .or_default()
                    .push((i, rule.action, rule.errno_ret));
            }
        }
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "no architecture knows {} syscall name(s); runtimes skip them, so their rules do nothing: {}",
            unknown.len(),
            listed(&unknown, ", ")
        ));
    }
    for (name, rules) in plain.iter().filter(|(_, rules)| rules.len() > 1) {
        let places: Vec<String> = rules
            .iter()
            .map(|(i, ..)| format!("syscalls[{i}]"))
            .collect();
        let at = listed(&places, " and ");
        let same = rules
            .iter()
            .all(|(_, action, errno)| (*action, *errno) == (rules[0].1, rules[0].2));
        warnings.push(if same {
            format!(
                "{name} is given without conditions in {}; the repeats change nothing",
                at
            )
        } else {
            format!(
                "{name} is given without conditions and with different actions in {}; which one \
                 applies depends on the runtime",
                at
            )
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats;
    use crate::profile::Op;
    use crate::profile::{ArgCondition, SyscallRule};

    fn profile(rules: Vec<SyscallRule>) -> Profile {
        let mut p: Profile = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#)
            .expect("a minimal profile parses");
        p.syscalls = rules;
        p
    }

    fn allow(names: &[&str]) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            action: Action::Allow,
            ..SyscallRule::default()
        }
    }

    #[test]
    fn docker_and_podman_defaults_pass_without_warnings() {
        for (what, text) in [
            ("docker", crate::baseline::DOCKER_DEFAULT_JSON),
            ("podman", crate::baseline::PODMAN_DEFAULT_JSON),
        ] {
            let Ok(formats::Document::Profile(p)) = formats::read(text) else {
                panic!("{what} default does not read as a profile");
            };
            assert_eq!(errors(&p), Ok(()), "{what}");
            assert_eq!(warnings(&p), Vec::<String>::new(), "{what}");
        }
    }

    #[test]
    fn errors_name_the_place() {
        let mut p = profile(vec![allow(&["read"])]);
        p.default_errno_ret = Some(99_999);
        let e = errors(&p).unwrap_err();
        assert_eq!(e.place, "defaultErrnoRet");
        assert!(e.message.contains("99999"), "{e}");

        let mut rule = allow(&["read", "write"]);
        rule.args.push(ArgCondition {
            index: 6,
            value: 0,
            value_two: 0,
            op: Op::Eq,
        });
        let p = profile(vec![allow(&["close"]), rule]);
        assert_eq!(
            errors(&p).unwrap_err().to_string(),
            "syscalls[1] (read, write): argument index 6 is out of range (0-5)"
        );

        let mut rule = allow(&["read"]);
        rule.action = Action::Errno;
        rule.errno = Some("ENOTANERRNO".into());
        assert!(
            errors(&profile(vec![rule]))
                .unwrap_err()
                .message
                .contains("ENOTANERRNO")
        );

        let p = profile(vec![allow(&[])]);
        assert!(errors(&p).unwrap_err().message.contains("names no syscall"));
    }

    #[test]
    fn architectures_and_arch_map_together_are_refused() {
        let text = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}]}"#;
        let p: Profile = serde_json::from_str(text).expect("parses");
        assert!(errors(&p).unwrap_err().message.contains("use one"));
    }

    #[test]
    fn warns_on_unknown_names_and_repeats() {
        let mut deny = allow(&["write"]);
        deny.action = Action::Errno;
        let p = profile(vec![
            allow(&["read", "notasyscall"]),
            allow(&["read", "write"]),
            deny,
        ]);
        let w = warnings(&p);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("notasyscall"), "{w:?}");
        assert!(
            w[1].starts_with("read ") && w[1].contains("change nothing"),
            "{w:?}"
        );
        assert!(
            w[2].starts_with("write ") && w[2].contains("different actions"),
            "{w:?}"
        );
        // A 32-bit-only name is known (i386's socketcall): not a typo.
        assert!(warnings(&profile(vec![allow(&["socketcall"])])).is_empty());
    }
}
