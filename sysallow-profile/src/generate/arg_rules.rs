//! Argument rules: what captured argument values allow (`--args`), under the ceiling.

use std::collections::BTreeSet;

use crate::args::ArgsLevel;
use crate::ceiling::Ceiling;
use crate::policy::describe_arg;
use crate::profile::{Action, ArgCondition, SyscallRule};
use crate::recording::Recording;

use super::draft::Reason;

/// The values of a captured argument over every recording, as far as they can be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Observed {
    /// Not captured (a recording made before sysallow captured arguments, or a name that is
    /// not observed at all).
    Unknown,
    /// Captured, but not completely: why.
    Incomplete(String),
    Values(BTreeSet<u64>),
}

pub(super) fn observed_args(recordings: &[Recording], names: &[&str]) -> Observed {
    let mut values = BTreeSet::new();
    let mut seen = false;
    for rec in recordings {
        for abi_rec in rec.abis.values() {
            for name in names {
                let Some(sc) = abi_rec.syscalls.get(*name) else {
                    continue;
                };
                seen = true;
                if rec.losses.arg_map_full > 0 {
                    return Observed::Incomplete(
                        "the recording lost argument values (arg_map_full)".to_owned(),
                    );
                }
                let Some(args) = &sc.args else {
                    return Observed::Unknown;
                };
                if args.overflow {
                    return Observed::Incomplete(format!(
                        "{name} had more distinct argument values than the recorder keeps"
                    ));
                }
                values.extend(args.values.iter().copied());
            }
        }
    }
    if seen {
        Observed::Values(values)
    } else {
        Observed::Unknown
    }
}

/// The allow rules of `name` when it is allowed only for some argument values, or None when it
/// is allowed whatever its arguments. The ceiling always holds; `level` narrows it to the
/// observed values where they are known.
pub(super) fn argument_rules(
    name: &str,
    reason: &Reason,
    limit: &Ceiling,
    observed: &Observed,
    level: ArgsLevel,
    warnings: &mut Vec<String>,
) -> Option<Vec<SyscallRule>> {
    let rule = |args: Vec<ArgCondition>, why: String| SyscallRule {
        names: vec![name.to_owned()],
        action: Action::Allow,
        comment: format!("{}; {why}", reason.comment()),
        args,
        ..SyscallRule::default()
    };
    let ceiling_rules = |sets: &[Vec<ArgCondition>]| -> Vec<SyscallRule> {
        sets.iter()
            .map(|args| {
                let conds: Vec<String> = args.iter().map(describe_arg).collect();
                rule(
                    args.clone(),
                    format!(
                        "only if {}, as Docker's default allows it",
                        conds.join(" && ")
                    ),
                )
            })
            .collect()
    };
    let values = match observed {
        Observed::Values(values) if level != ArgsLevel::Off => Some(values),
        Observed::Incomplete(why) if level != ArgsLevel::Off => {
            if crate::args::rules(name, &BTreeSet::new(), level).is_some() {
                warnings.push(format!(
                    "{name}: no argument rule from the recording ({why}); allowed as far as \
                     Docker's default allows it"
                ));
            }
            None
        }
        _ => None,
    };
    let observed_rules = values.and_then(|v| crate::args::rules(name, v, level).map(|r| (v, r)));
    let described = |v: &BTreeSet<u64>| -> String {
        let shown: Vec<String> = v.iter().map(|x| crate::args::describe(name, *x)).collect();
        shown.join("; ")
    };
    match (limit, observed_rules) {
        (Ceiling::Args(ceiling), None) => Some(ceiling_rules(ceiling)),
        (Ceiling::Args(ceiling), Some((values, sets))) if name == "clone" => {
            // The ceiling (no namespace flags), and each namespace pattern that was observed:
            // a container that used one had the capability for it.
            let mut rules = ceiling_rules(ceiling);
            for (value, args) in values.iter().zip(&sets) {
                if args.iter().all(|c| c.value_two == 0) {
                    continue;
                }
                warnings.push(format!(
                    "clone with namespace flags ({}) was observed and is allowed: wider than \
                     Docker's default for a container without CAP_SYS_ADMIN",
                    crate::args::describe(name, *value & crate::args::NAMESPACE_FLAGS)
                ));
                rules.push(rule(
                    args.clone(),
                    format!(
                        "namespace flags {} only as observed (--args {})",
                        crate::args::describe(name, *value & crate::args::NAMESPACE_FLAGS),
                        level.name()
                    ),
                ));
            }
            rules.dedup_by(|a, b| a.args == b.args);
            Some(rules)
        }
        (Ceiling::Args(ceiling), Some((values, sets))) => {
            // Observed values, as far as the ceiling allows them.
            let mut rules = Vec::new();
            for (value, args) in values.iter().zip(&sets) {
                if ceiling.iter().any(|c| crate::policy::implies_all(args, c)) {
                    rules.push(rule(
                        args.clone(),
                        format!(
                            "only {} as observed (--args {})",
                            crate::args::describe_at(name, *value, level),
                            level.name()
                        ),
                    ));
                } else {
                    warnings.push(format!(
                        "{name} {} was observed, but Docker's default denies it: not allowed",
                        crate::args::describe(name, *value)
                    ));
                }
            }
            rules.dedup_by(|a, b| a.args == b.args);
            Some(rules)
        }
        (Ceiling::Unrestricted, Some((values, sets))) => {
            let mut rules: Vec<SyscallRule> = sets
                .into_iter()
                .map(|args| {
                    rule(
                        args,
                        format!(
                            "only the observed values (--args strict): {}",
                            described(values)
                        ),
                    )
                })
                .collect();
            rules.dedup_by(|a, b| a.args == b.args);
            // Observed with no value kept (cannot happen for a counted syscall): no rule.
            (!rules.is_empty()).then_some(rules)
        }
        _ => None,
    }
}
