//! `sysallow verify -o`: a profile plus what it would have denied while a command ran, each
//! addition with its reason, so that an incomplete profile is fixed from one complain-mode run.

use std::collections::BTreeMap;

use crate::abi::Abi;
use crate::profile::{Action, Profile, SyscallRule};
use crate::why;

/// A syscall `verify` saw the profile deny, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub abi: Abi,
    pub name: String,
    pub count: u64,
}

/// The fixed profile and what the user should know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixed {
    pub profile: Profile,
    /// Names that were added.
    pub added: Vec<String>,
    pub warnings: Vec<String>,
}

/// `profile` with every `missing` syscall allowed. A name the profile allows only for some
/// argument values is not widened (that would lift a restriction, such as Docker's clone
/// namespace mask, for every value): it is reported instead. Deny rules that name an added
/// syscall lose that name, since a runtime refuses two unconditional rules with different
/// actions for one syscall.
pub fn add_missing(profile: &Profile, missing: &[Missing], command: &str) -> Fixed {
    let mut fixed = profile.clone();
    let mut warnings = Vec::new();
    let mut counts: BTreeMap<String, (u64, Vec<Abi>)> = BTreeMap::new();
    for m in missing {
        let conditional = profile
            .syscalls
            .iter()
            .any(|r| r.action == Action::Allow && !r.args.is_empty() && r.names.contains(&m.name));
        if conditional {
            warnings.push(format!(
                "{} ({}) was denied for argument values the profile does not allow; not added \
                 (allowing it for every value would lift the restriction): review its rules",
                m.name, m.abi
            ));
            continue;
        }
        let entry = counts.entry(m.name.clone()).or_default();
        entry.0 += m.count;
        entry.1.push(m.abi);
    }
    let arches = fixed.all_architectures();
    for (_, abis) in counts.values() {
        for abi in abis {
            if !arches.iter().any(|a| a == abi.scmp_arch()) {
                warnings.push(format!(
                    "the profile does not list {} ({}); add it to its architectures for the \
                     additions to apply there",
                    abi.scmp_arch(),
                    abi
                ));
            }
        }
    }
    for rule in &mut fixed.syscalls {
        if rule.action != Action::Allow && rule.args.is_empty() {
            rule.names.retain(|n| !counts.contains_key(n));
        }
    }
    fixed.syscalls.retain(|r| !r.names.is_empty());
    let added: Vec<String> = counts.keys().cloned().collect();
    for (name, (count, abis)) in &counts {
        let abis: Vec<&str> = abis.iter().map(|a| a.name()).collect();
        fixed.syscalls.push(SyscallRule {
            names: vec![name.clone()],
            action: Action::Allow,
            comment: format!(
                "{}would have been denied ({count} call(s), {}) while `{command}` ran",
                why::VERIFY,
                abis.join(", ")
            ),
            ..SyscallRule::default()
        });
    }
    Fixed {
        profile: fixed,
        added,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{ArgCondition, Op};

    fn profile() -> Profile {
        serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
              {"names":["statx","clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        )
        .unwrap()
    }

    fn missing(name: &str, count: u64) -> Missing {
        Missing {
            abi: Abi::X86_64,
            name: name.into(),
            count,
        }
    }

    #[test]
    fn missing_syscalls_are_allowed_with_their_reason() {
        let fixed = add_missing(
            &profile(),
            &[missing("mkdir", 2), missing("statx", 1)],
            "app",
        );
        assert_eq!(fixed.added, ["mkdir", "statx"]);
        let mkdir = fixed
            .profile
            .syscalls
            .iter()
            .find(|r| r.names == ["mkdir"])
            .unwrap();
        assert_eq!(mkdir.action, Action::Allow);
        assert!(mkdir.comment.starts_with(why::VERIFY), "{}", mkdir.comment);
        assert!(mkdir.comment.contains("2 call(s)"));
        // statx left its ENOSYS rule; clone3 stays there.
        let enosys = fixed
            .profile
            .syscalls
            .iter()
            .find(|r| r.action == Action::Errno)
            .unwrap();
        assert_eq!(enosys.names, ["clone3"]);
        assert!(fixed.warnings.is_empty());
    }

    #[test]
    fn argument_restrictions_are_not_lifted() {
        let mut p = profile();
        p.syscalls.push(SyscallRule {
            names: vec!["clone".into()],
            action: Action::Allow,
            args: vec![ArgCondition {
                index: 0,
                value: 0x7e02_0000,
                value_two: 0,
                op: Op::MaskedEq,
            }],
            ..SyscallRule::default()
        });
        let fixed = add_missing(&p, &[missing("clone", 1)], "app");
        assert!(fixed.added.is_empty());
        assert!(fixed.warnings[0].contains("clone"), "{:?}", fixed.warnings);
        assert_eq!(fixed.profile, p);
    }
}
