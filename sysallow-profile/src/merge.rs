//! Merging several runs into one: the union of what they needed, remembering how many of them
//! needed each syscall so that a user can see what only one run needed.
//!
//! - Recordings only: a Recording. Counts and programs are summed; `coverage` says, per ABI and
//!   syscall, how many inputs saw it (a merged input counts as the recordings it merged, so
//!   merging is associative). Generate a profile from it as from any recording; `generate`
//!   then comments a syscall seen by only some runs "observed: in K of N recordings".
//! - Any profile among the inputs: a Profile (Docker format). Recordings are first turned into
//!   profiles with the default policy for their kind. A syscall allowed unconditionally by any
//!   input is allowed; a deny rule for it elsewhere is dropped (the union is what some input
//!   needed). Rules with argument conditions or includes/excludes are kept, once each. Allow
//!   rules keep their why-comment, with `; merged: in K of N profiles` when not every input
//!   allowed the syscall. The default action must agree.

use std::collections::{BTreeMap, BTreeSet};

use crate::formats::Document;
use crate::generate::{GenerateError, GenerationPolicy, generate};
use crate::profile::{Action, ArchMapEntry, Profile, SyscallRule};
use crate::recording::{Coverage, Recording, SyscallRecord};
use crate::why;

/// The result of a merge and what the user should know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    pub document: Document,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error(
        "input {index} has default action {found:?} where the first profile has {expected:?}: \
         a union of allow-lists and deny-lists has no meaning"
    )]
    DefaultAction {
        index: usize,
        expected: Action,
        found: Action,
    },
    #[error("input {index} is a recording that could not be turned into a profile")]
    Generate {
        index: usize,
        #[source]
        source: GenerateError,
    },
}

/// Merge `inputs` (see the module documentation for what comes out).
pub fn merge(inputs: &[Document]) -> Result<Merged, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::Empty);
    }
    let recordings: Vec<&Recording> = inputs
        .iter()
        .filter_map(|d| match d {
            Document::Recording(r) => Some(r),
            Document::Profile(_) => None,
        })
        .collect();
    if recordings.len() == inputs.len() {
        let (recording, warnings) = merge_recordings(&recordings);
        return Ok(Merged {
            document: Document::Recording(recording),
            warnings,
        });
    }
    let mut warnings = Vec::new();
    let mut profiles = Vec::new();
    for (index, doc) in inputs.iter().enumerate() {
        match doc {
            Document::Profile(p) => profiles.push(p.clone()),
            Document::Recording(r) => {
                let generated = generate(
                    std::slice::from_ref(r),
                    &GenerationPolicy::for_target(&r.target),
                )
                .map_err(|source| MergeError::Generate {
                    index: index + 1,
                    source,
                })?;
                warnings.extend(generated.warnings);
                profiles.push(generated.profile);
            }
        }
    }
    if !recordings.is_empty() {
        warnings.push(format!(
            "{} recording(s) turned into profiles with the default policy for their kind \
             before merging; merge the recordings alone and run `sysallow generate` to choose \
             the policy",
            recordings.len()
        ));
    }
    let (profile, more) = merge_profiles(&profiles)?;
    warnings.extend(more);
    Ok(Merged {
        document: Document::Profile(profile),
        warnings,
    })
}

fn inputs_of(rec: &Recording) -> u32 {
    rec.coverage.as_ref().map_or(1, |c| c.inputs.max(1))
}

/// The union of `recordings`, with coverage.
pub fn merge_recordings(recordings: &[&Recording]) -> (Recording, Vec<String>) {
    let mut warnings = Vec::new();
    let Some(first) = recordings.first() else {
        return (
            Recording::new(
                crate::recording::Target::Cgroup {
                    path: String::new(),
                    pid: None,
                },
                crate::recording::Host {
                    kernel: String::new(),
                    arch: crate::Abi::native(),
                    libc: None,
                },
                String::new(),
            ),
            warnings,
        );
    };
    let mut out = Recording::new(
        first.target.clone(),
        first.host.clone(),
        first.started_at.clone(),
    );
    let mut coverage = Coverage::default();
    for rec in recordings {
        if rec.target != first.target {
            warnings.push(format!(
                "the recording started at {} has another target than the first; the merged \
                 recording keeps the first one's",
                rec.started_at
            ));
        }
        if rec.host.arch != first.host.arch {
            warnings.push(format!(
                "the recording started at {} was made on {}, the first on {}",
                rec.started_at, rec.host.arch, first.host.arch
            ));
        }
        // RFC 3339 in UTC sorts as text.
        if rec.started_at < out.started_at {
            out.started_at = rec.started_at.clone();
        }
        out.duration_ms += rec.duration_ms;
        coverage.inputs += inputs_of(rec);
        for (abi, abi_rec) in &rec.abis {
            let merged = out.abis.entry(*abi).or_default();
            for (name, sc) in &abi_rec.syscalls {
                add_syscall(merged.syscalls.entry(name.clone()).or_default(), sc);
                let runs = rec
                    .coverage
                    .as_ref()
                    .and_then(|c| c.syscalls.get(abi).and_then(|m| m.get(name)).copied())
                    .unwrap_or(1);
                *coverage
                    .syscalls
                    .entry(*abi)
                    .or_default()
                    .entry(name.clone())
                    .or_default() += runs;
            }
            for (nr, sc) in &abi_rec.unnamed {
                add_syscall(merged.unnamed.entry(*nr).or_default(), sc);
            }
        }
        for (abi, denied) in &rec.denied_by_filter {
            for (name, failures) in denied {
                out.denied_by_filter
                    .entry(*abi)
                    .or_default()
                    .entry(name.clone())
                    .or_default()
                    .add(failures);
            }
        }
        for (abi, setup) in &rec.runtime_setup {
            let merged = out.runtime_setup.entry(*abi).or_default();
            for (name, n) in setup {
                *merged.entry(name.clone()).or_default() += n;
            }
        }
        if let Some(p) = &rec.privileges {
            match &mut out.privileges {
                Some(merged) => {
                    if merged.hook != p.hook {
                        warnings.push(format!(
                            "the recording started at {} saw capability checks with {}, the \
                             first with {}",
                            rec.started_at, p.hook, merged.hook
                        ));
                    }
                    merged.absorb(p);
                }
                None => out.privileges = Some(p.clone()),
            }
        }
        let l = &rec.losses;
        let o = &mut out.losses;
        o.nr_out_of_range += l.nr_out_of_range;
        o.program_slots_full += l.program_slots_full;
        o.task_map_full += l.task_map_full;
        o.path_truncated += l.path_truncated;
        o.counter_missing += l.counter_missing;
        o.abi_unknown += l.abi_unknown;
        o.targets_full += l.targets_full;
        o.first_seen_full += l.first_seen_full;
        o.arg_map_full += l.arg_map_full;
        o.privileges_full += l.privileges_full;
    }
    // Imports: each program's once; what the merge saw is no longer unseen.
    for rec in recordings {
        for (program, imports) in &rec.imports {
            out.imports
                .entry(program.clone())
                .or_insert_with(|| imports.clone());
        }
    }
    for imports in out.imports.values_mut() {
        if let Some(abi) = imports.abi {
            let seen = out.abis.get(&abi);
            imports
                .unseen
                .retain(|name, _| seen.is_none_or(|a| !a.syscalls.contains_key(name)));
        }
    }
    out.exit = if recordings.len() == 1 {
        first.exit
    } else {
        None
    };
    out.coverage = Some(coverage);
    (out, warnings)
}

/// Add one input's record of a syscall to the merged one: counts summed, first-seen times the
/// earliest (each relative to its own recording's start).
fn add_syscall(merged: &mut SyscallRecord, sc: &SyscallRecord) {
    merged.nr = sc.nr;
    merged.count += sc.count;
    for (program, n) in &sc.programs {
        *merged.programs.entry(program.clone()).or_default() += n;
    }
    for (program, ms) in &sc.first_seen_ms {
        let seen = merged.first_seen_ms.entry(program.clone()).or_insert(*ms);
        *seen = (*seen).min(*ms);
    }
    merged.failed.add(&sc.failed);
    if let Some(args) = &sc.args {
        merged
            .args
            .get_or_insert_with(crate::args::ArgValues::default)
            .merge(args);
    }
}

/// An allow rule with no condition: the syscall is allowed whatever its arguments.
fn unconditional_allow(rule: &SyscallRule) -> bool {
    rule.action == Action::Allow
        && rule.args.is_empty()
        && rule.includes.is_empty()
        && rule.excludes.is_empty()
}

/// A rule without its comment and errno spelling, to tell equal rules apart from their why.
fn rule_key(rule: &SyscallRule) -> SyscallRule {
    SyscallRule {
        comment: String::new(),
        errno: None,
        ..rule.clone()
    }
}

/// The union of `profiles` (see the module documentation).
pub fn merge_profiles(profiles: &[Profile]) -> Result<(Profile, Vec<String>), MergeError> {
    let Some(first) = profiles.first() else {
        return Err(MergeError::Empty);
    };
    let mut warnings = Vec::new();
    let n = u32::try_from(profiles.len()).unwrap_or(u32::MAX);
    for (i, p) in profiles.iter().enumerate() {
        if p.default_action != first.default_action {
            return Err(MergeError::DefaultAction {
                index: i + 1,
                expected: first.default_action,
                found: p.default_action,
            });
        }
        if p.default_errno_ret != first.default_errno_ret {
            warnings.push(format!(
                "input {} denies with errno {:?}, the first with {:?}; the merge keeps the first",
                i + 1,
                p.default_errno_ret,
                first.default_errno_ret
            ));
        }
    }

    // Unconditionally allowed names: in how many inputs, and the first why.
    let mut allowed: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for p in profiles {
        let names: BTreeMap<&str, &str> = p
            .syscalls
            .iter()
            .filter(|r| unconditional_allow(r))
            .flat_map(|r| {
                r.names
                    .iter()
                    .map(move |n| (n.as_str(), r.comment.as_str()))
            })
            .collect();
        for (name, comment) in names {
            let entry = allowed
                .entry(name.to_owned())
                .or_insert_with(|| (0, comment.to_owned()));
            entry.0 += 1;
        }
    }

    let mut syscalls = Vec::new();
    let mut groups: BTreeMap<(std::cmp::Reverse<u32>, String), Vec<String>> = BTreeMap::new();
    for (name, (k, comment)) in &allowed {
        groups
            .entry((std::cmp::Reverse(*k), comment.clone()))
            .or_default()
            .push(name.clone());
    }
    for ((std::cmp::Reverse(k), comment), names) in groups {
        let comment = match (k == n, comment.is_empty()) {
            (true, _) => comment,
            (false, true) => format!("{}in {k} of {n} profiles", why::MERGED),
            (false, false) => format!("{comment}; {}in {k} of {n} profiles", why::MERGED),
        };
        syscalls.push(SyscallRule {
            names,
            action: Action::Allow,
            comment,
            ..SyscallRule::default()
        });
    }

    // Every other rule once, without the names the union allows anyway.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut rest: Vec<SyscallRule> = Vec::new();
    for p in profiles {
        for rule in p.syscalls.iter().filter(|r| !unconditional_allow(r)) {
            let mut rule = rule.clone();
            rule.names.retain(|name| !allowed.contains_key(name));
            if rule.names.is_empty() {
                continue;
            }
            // serde_json of plain data cannot fail; the key only needs to be unique.
            let key = serde_json::to_string(&rule_key(&rule)).unwrap_or_default();
            if seen.insert(key) {
                rest.push(rule);
            }
        }
    }
    // Allow rules with conditions first, as in Docker's profile; stable otherwise.
    rest.sort_by_key(|r| r.action != Action::Allow);
    syscalls.extend(rest);

    let (architectures, arch_map) = merge_architectures(profiles);
    Ok((
        Profile {
            default_action: first.default_action,
            default_errno_ret: first.default_errno_ret,
            default_errno: first.default_errno.clone(),
            architectures,
            arch_map,
            flags: union(profiles.iter().flat_map(|p| p.flags.iter())),
            listener_path: first.listener_path.clone(),
            syscalls,
        },
        warnings,
    ))
}

fn union<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    items
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The union of the architectures; an `archMap` when any input has one (the two are
/// exclusive in Docker's format).
fn merge_architectures(profiles: &[Profile]) -> (Vec<String>, Vec<ArchMapEntry>) {
    if profiles.iter().all(|p| p.arch_map.is_empty()) {
        return (
            union(profiles.iter().flat_map(|p| p.architectures.iter())),
            Vec::new(),
        );
    }
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for p in profiles {
        for entry in &p.arch_map {
            if !map.contains_key(&entry.architecture) {
                order.push(entry.architecture.clone());
            }
            map.entry(entry.architecture.clone())
                .or_default()
                .extend(entry.sub_architectures.iter().cloned());
        }
    }
    let in_map: BTreeSet<String> = map
        .iter()
        .flat_map(|(a, subs)| std::iter::once(a.clone()).chain(subs.iter().cloned()))
        .collect();
    for p in profiles {
        for arch in &p.architectures {
            if !in_map.contains(arch) && !map.contains_key(arch) {
                order.push(arch.clone());
                map.insert(arch.clone(), BTreeSet::new());
            }
        }
    }
    let entries = order
        .into_iter()
        .map(|architecture| ArchMapEntry {
            sub_architectures: map
                .get(&architecture)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            architecture,
        })
        .collect();
    (Vec::new(), entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Abi;
    use crate::recording;

    fn rec(names: &[&str]) -> Recording {
        let mut r = recording::for_tests(recording::command_for_tests(&["app"]));
        for name in names {
            r.add(
                Abi::X86_64,
                Abi::X86_64.syscall_nr(name).unwrap(),
                "/bin/app",
                2,
            );
        }
        r
    }

    fn merged_recording(inputs: Vec<Recording>) -> Recording {
        let docs: Vec<Document> = inputs.into_iter().map(Document::Recording).collect();
        match merge(&docs).unwrap().document {
            Document::Recording(r) => r,
            Document::Profile(_) => panic!("recordings merged into a profile"),
        }
    }

    #[test]
    fn recordings_merge_into_a_recording_with_coverage() {
        let m = merged_recording(vec![
            rec(&["read", "write"]),
            rec(&["read"]),
            rec(&["read"]),
        ]);
        let cov = m.coverage.as_ref().unwrap();
        assert_eq!(cov.inputs, 3);
        assert_eq!(cov.syscalls[&Abi::X86_64]["read"], 3);
        assert_eq!(cov.syscalls[&Abi::X86_64]["write"], 1);
        assert_eq!(m.abis[&Abi::X86_64].syscalls["read"].count, 6);
        // Round trip through the file format.
        assert_eq!(Recording::from_json(&m.to_json()).unwrap(), m);
        // Generation says what only some runs needed.
        let p = generate(&[m], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let write = p
            .syscalls
            .iter()
            .find(|r| r.names.contains(&"write".into()))
            .unwrap();
        assert_eq!(write.comment, "observed: in 1 of 3 recordings");
    }

    #[test]
    fn merging_is_associative() {
        let (a, b, c) = (rec(&["read"]), rec(&["write"]), rec(&["read", "close"]));
        let ab = merged_recording(vec![a.clone(), b.clone()]);
        let left = merged_recording(vec![ab, c.clone()]);
        let all = merged_recording(vec![a, b, c]);
        assert_eq!(left.coverage, all.coverage);
        assert_eq!(left.abis, all.abis);
    }

    #[test]
    fn profiles_merge_into_a_union_where_allow_wins() {
        let p1 = generate(&[rec(&["read", "write"])], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let p2 = generate(&[rec(&["read", "statx"])], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let docs = vec![Document::Profile(p1), Document::Profile(p2)];
        let Document::Profile(m) = merge(&docs).unwrap().document else {
            panic!("profiles merged into a recording")
        };
        let rules_of = |name: &str| -> Vec<&SyscallRule> {
            m.syscalls
                .iter()
                .filter(|r| r.names.iter().any(|n| n == name))
                .collect()
        };
        assert_eq!(
            rules_of("statx").len(),
            1,
            "the ENOSYS rule of p1 is dropped"
        );
        assert_eq!(rules_of("statx")[0].action, Action::Allow);
        assert_eq!(
            rules_of("statx")[0].comment,
            "observed; merged: in 1 of 2 profiles"
        );
        assert_eq!(rules_of("read")[0].comment, "observed");
        assert_eq!(
            rules_of("faccessat2")[0].errno_ret,
            Some(crate::errno::ENOSYS)
        );
        assert_eq!(rules_of("faccessat2").len(), 1, "equal rules are kept once");
    }

    #[test]
    fn mixed_inputs_give_a_profile_and_say_how() {
        let p = generate(&[rec(&["read"])], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let merged = merge(&[Document::Profile(p), Document::Recording(rec(&["write"]))]).unwrap();
        assert!(matches!(merged.document, Document::Profile(_)));
        assert!(merged.warnings.iter().any(|w| w.contains("default policy")));
    }

    #[test]
    fn default_actions_must_agree() {
        let p = generate(&[rec(&["read"])], &GenerationPolicy::default())
            .unwrap()
            .profile;
        let mut q = p.clone();
        q.default_action = Action::Allow;
        assert!(matches!(
            merge(&[Document::Profile(p), Document::Profile(q)]),
            Err(MergeError::DefaultAction { index: 2, .. })
        ));
        assert!(matches!(merge(&[]), Err(MergeError::Empty)));
    }
}
