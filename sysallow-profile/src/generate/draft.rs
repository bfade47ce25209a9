//! The draft a profile is built in, one numbered step at a time (see [`super::generate`]).

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::abi::Abi;
use crate::ceiling::{self, Ceiling};
use crate::errno::ENOSYS;
use crate::imports::ImportsMode;
use crate::local_libseccomp::libseccomp_warnings;
use crate::profile::{Action, Profile, SyscallRule};
use crate::recording::{CONTAINER_RUNTIME, Recording};
use crate::runtime::{RuntimeChoice, tails_for};
use crate::why;

use super::arg_rules::{argument_rules, observed_args};
use super::pin::{pin_rule, set_architectures};
use super::tables::{COMPANIONS, EQUIVALENTS, ESSENTIALS, FALLBACKS, VDSO};
use super::{GenerateError, Generated, GenerationPolicy};

/// Which of a recording's programs count.
pub(super) struct ProgramFilter {
    only: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl ProgramFilter {
    pub(super) fn new(policy: &GenerationPolicy) -> Result<Self, GenerateError> {
        Ok(ProgramFilter {
            only: globs(&policy.only_exe)?,
            exclude: globs(&policy.exclude_exe)?,
        })
    }

    /// The container runtime's post-filter calls always count: without them the container
    /// does not start, whichever program the user is interested in.
    pub(super) fn keeps(&self, program: &str) -> bool {
        if program == CONTAINER_RUNTIME {
            return true;
        }
        self.only.as_ref().is_none_or(|g| g.is_match(program))
            && self.exclude.as_ref().is_none_or(|g| !g.is_match(program))
    }
}

pub(super) fn globs(patterns: &[String]) -> Result<Option<GlobSet>, GenerateError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| GenerateError::Glob {
            pattern: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|source| GenerateError::Glob {
            pattern: patterns.join(" "),
            source,
        })
}

/// Why a name is allowed; the order is the precedence (an observed name stays "observed").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Reason {
    Observed(String),
    RuntimeTail(String),
    /// In place of a syscall the ceiling denies (the denied name).
    Replaces(String),
    Essential(&'static str),
    /// The observed names that call for it, and the rule's reason.
    Companion(String, &'static str),
    /// A timing class (its name and reason) and what opened it.
    Timing(&'static str, &'static str, String),
    /// Which program imports which functions that make it.
    Imported(String),
    Vdso,
    Portable(String),
}

impl Reason {
    pub(super) fn comment(&self) -> String {
        match self {
            Reason::Observed(detail) if detail.is_empty() => why::OBSERVED.to_owned(),
            Reason::Observed(detail) => format!("{}: {detail}", why::OBSERVED),
            Reason::RuntimeTail(detail) => format!("{}{detail}", why::RUNTIME_TAIL),
            Reason::Vdso => format!(
                "{} (time calls usually made through the vDSO, needed where it is unavailable)",
                why::VDSO
            ),
            Reason::Portable(of) => format!("{}: equivalent of {of}", why::PORTABLE),
            Reason::Replaces(name) => format!(
                "{}{name}, which Docker's default denies (see the rule for {name})",
                why::REPLACES
            ),
            Reason::Essential(reason) => format!("{}: {reason}", why::ESSENTIAL),
            Reason::Companion(of, reason) => {
                format!("{}: of {of}; {reason}", why::COMPANION)
            }
            Reason::Timing(class, reason, trigger) => format!(
                "{}: {class}, {reason}, which one recording may never see; {trigger} \
                 (--no-timing-paths)",
                why::TIMING
            ),
            Reason::Imported(by) => format!(
                "{}: {by}, a path the recording did not take (--imports allow)",
                why::IMPORTS
            ),
        }
    }
}

/// A profile being built, one named step at a time (see [`generate`]): the observed ABIs, why
/// each allowed name is there, and what is answered with an errno instead.
pub(super) struct Draft<'a> {
    recordings: &'a [Recording],
    policy: &'a GenerationPolicy,
    filter: ProgramFilter,
    abis: BTreeSet<Abi>,
    /// Observed names, with how many recordings (after merges: inputs) saw each.
    seen_in: BTreeMap<String, u32>,
    reasons: BTreeMap<String, Reason>,
    /// Names answered with an errno as they were while recorded, with the rule's comment.
    answered: BTreeMap<String, (u32, String)>,
    /// Names the ceiling denies although observed: (name, errno, why).
    replaced: Vec<(String, u32, &'static str)>,
    warnings: Vec<String>,
}

impl<'a> Draft<'a> {
    /// Step 1: what was observed, by the selected programs, per ABI.
    pub(super) fn observe(
        recordings: &'a [Recording],
        policy: &'a GenerationPolicy,
    ) -> Result<Draft<'a>, GenerateError> {
        if recordings.is_empty() {
            return Err(GenerateError::NoRecordings);
        }
        let filter = ProgramFilter::new(policy)?;
        let mut warnings = Vec::new();
        if filter.only.is_some() {
            let all: BTreeSet<&str> = recordings.iter().flat_map(|r| r.programs()).collect();
            if !all
                .iter()
                .any(|p| *p != CONTAINER_RUNTIME && filter.keeps(p))
            {
                return Err(GenerateError::NoProgramMatched {
                    patterns: policy.only_exe.join(" "),
                    programs: all.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
        }
        let total_inputs: u32 = recordings
            .iter()
            .map(|r| r.coverage.as_ref().map_or(1, |c| c.inputs.max(1)))
            .sum();
        let mut abis: BTreeSet<Abi> = BTreeSet::new();
        let mut seen_in: BTreeMap<String, u32> = BTreeMap::new();
        for rec in recordings {
            let mut names_here: BTreeMap<&str, u32> = BTreeMap::new();
            for (abi, abi_rec) in &rec.abis {
                for (name, sc) in &abi_rec.syscalls {
                    if !sc.programs.keys().any(|p| filter.keeps(p)) {
                        continue;
                    }
                    abis.insert(*abi);
                    if abi.syscall_nr(name).is_none() {
                        warnings.push(format!(
                            "{name} is not a {abi} syscall in sysallow's table; kept as recorded"
                        ));
                    }
                    let runs = rec
                        .coverage
                        .as_ref()
                        .and_then(|c| c.syscalls.get(abi).and_then(|m| m.get(name)).copied())
                        .unwrap_or(1);
                    let entry = names_here.entry(name.as_str()).or_default();
                    *entry = (*entry).max(runs);
                }
                for (nr, sc) in &abi_rec.unnamed {
                    if sc.programs.keys().any(|p| filter.keeps(p)) {
                        abis.insert(*abi);
                        warnings.push(format!(
                            "{abi} syscall number {nr} ({} calls) has no name in sysallow's \
                             table (a kernel newer than the table?); a profile can only name \
                             syscalls, so it stays denied",
                            sc.count
                        ));
                    }
                }
            }
            for (name, runs) in names_here {
                *seen_in.entry(name.to_owned()).or_default() += runs;
            }
            let lost = rec.losses.nonzero();
            if !lost.is_empty() {
                let lost: Vec<String> = lost.iter().map(|(k, n)| format!("{k}={n}")).collect();
                warnings.push(format!(
                    "the recording started at {} reports losses ({}): the profile may miss \
                     syscalls",
                    rec.started_at,
                    lost.join(", ")
                ));
            }
        }
        if abis.is_empty() {
            let detail = if policy.only_exe.is_empty() && policy.exclude_exe.is_empty() {
                String::new()
            } else {
                " by the selected programs".to_owned()
            };
            return Err(GenerateError::Empty { detail });
        }
        let reasons = seen_in
            .iter()
            .map(|(name, runs)| {
                let detail = if *runs >= total_inputs {
                    String::new()
                } else {
                    format!("in {runs} of {total_inputs} recordings")
                };
                (name.clone(), Reason::Observed(detail))
            })
            .collect();
        Ok(Draft {
            recordings,
            policy,
            filter,
            abis,
            seen_in,
            reasons,
            answered: BTreeMap::new(),
            replaced: Vec::new(),
            warnings,
        })
    }

    /// Whether an observed ABI has `name`: policy additions never invent a name of another
    /// ABI (a rule's names apply to every listed architecture).
    fn exists(&self, name: &str) -> bool {
        self.abis.iter().any(|abi| abi.syscall_nr(name).is_some())
    }

    /// The first observed ABI that has `name`.
    fn abi_of(&self, name: &str) -> Option<Abi> {
        self.abis
            .iter()
            .copied()
            .find(|abi| abi.syscall_nr(name).is_some())
    }

    /// Allow `name` for `reason`, unless it is allowed already (the first reason stays) or no
    /// observed ABI has it.
    fn allow(&mut self, name: &str, reason: Reason) {
        if self.exists(name) && !self.reasons.contains_key(name) {
            self.reasons.insert(name.to_owned(), reason);
        }
    }

    /// Step 2: the container runtime's measured post-filter tail (`--runtime`).
    pub(super) fn add_runtime_tail(&mut self) {
        let policy = self.policy;
        let tails = tails_for(&policy.runtime, policy.no_new_privileges);
        let tails = if tails.is_empty() && policy.runtime != RuntimeChoice::None {
            self.warnings.push(format!(
                "no measured tail for {} {} no-new-privileges; using the tail measured with it \
                 (measure this combination: record a container under it)",
                policy.runtime,
                if policy.no_new_privileges {
                    "with"
                } else {
                    "without"
                }
            ));
            tails_for(&policy.runtime, true)
        } else {
            tails
        };
        let mut tail_names: BTreeMap<&str, Vec<&'static crate::runtime::RuntimeTail>> =
            BTreeMap::new();
        for tail in &tails {
            for name in tail.syscalls {
                tail_names.entry(name).or_default().push(tail);
            }
        }
        for (name, tails) in tail_names {
            let versions: Vec<&str> = tails.iter().map(|t| t.version).collect();
            let nnp = if tails.iter().all(|t| t.no_new_privileges) {
                "with"
            } else {
                "without"
            };
            let sources: BTreeSet<&str> = tails.iter().map(|t| t.source).collect();
            let detail = format!(
                "{} {} {nnp} no-new-privileges ({})",
                tails[0].runtime,
                versions.join(", "),
                sources.into_iter().collect::<Vec<_>>().join("; ")
            );
            self.allow(name, Reason::RuntimeTail(detail));
        }
    }

    /// Step 3: what `--vdso` and `--portable` add.
    pub(super) fn add_flag_additions(&mut self) {
        if self.policy.vdso {
            for name in VDSO {
                self.allow(name, Reason::Vdso);
            }
        }
        if self.policy.portable {
            for group in EQUIVALENTS {
                let of = self.observed_of(group);
                if of.is_empty() {
                    continue;
                }
                for name in *group {
                    self.allow(name, Reason::Portable(of.join(", ")));
                }
            }
        }
    }

    /// Which of `names` were observed: what makes a group of equivalents or a companion apply.
    fn observed_of(&self, names: &[&'static str]) -> Vec<&'static str> {
        names
            .iter()
            .copied()
            .filter(|n| self.seen_in.contains_key(*n))
            .collect()
    }

    /// Step 4: the essentials, and the companions of what was observed.
    pub(super) fn add_essentials_and_companions(&mut self) {
        if self.policy.essentials {
            for (name, reason) in ESSENTIALS {
                self.allow(name, Reason::Essential(reason));
            }
        }
        if self.policy.companions {
            for companion in COMPANIONS {
                let of = self.observed_of(companion.when);
                if of.is_empty() {
                    continue;
                }
                for name in companion.add {
                    self.allow(name, Reason::Companion(of.join(", "), companion.reason));
                }
            }
        }
    }

    /// Step 5: the timing classes the programs can take (`timing.rs`).
    pub(super) fn add_timing_paths(&mut self) {
        if !self.policy.timing_paths {
            return;
        }
        let filter = &self.filter;
        let found = crate::timing::applicable(self.recordings, |p| filter.keeps(p));
        for (class, trigger) in found {
            let trigger = trigger.to_string();
            for name in class.members {
                self.allow(
                    name,
                    Reason::Timing(class.name, class.reason, trigger.clone()),
                );
            }
        }
    }

    /// Step 6: with `--imports allow`, the ordinary syscalls the programs' imports imply.
    pub(super) fn add_imports(&mut self) {
        if self.policy.imports != ImportsMode::Allow {
            return;
        }
        let mut risky: BTreeSet<String> = BTreeSet::new();
        let recordings = self.recordings;
        for rec in recordings {
            for (program, imports) in &rec.imports {
                let Some(abi) = imports.abi.filter(|a| self.abis.contains(a)) else {
                    continue;
                };
                if !self.filter.keeps(program) {
                    continue;
                }
                for (name, functions) in &imports.unseen {
                    if self.reasons.contains_key(name) || abi.syscall_nr(name).is_none() {
                        continue;
                    }
                    if crate::risk::classify(abi, name).risky {
                        risky.insert(name.clone());
                        continue;
                    }
                    self.reasons.insert(
                        name.clone(),
                        Reason::Imported(format!("{program} imports {}", functions.join(", "))),
                    );
                }
            }
        }
        if !risky.is_empty() {
            self.warnings.push(format!(
                "imports imply syscalls in a risky class that the recording never saw; advised, \
                 not allowed: {} (sysallow explain lists who imports them)",
                risky.into_iter().collect::<Vec<_>>().join(" ")
            ));
        }
    }

    /// Step 7: what the workload was answered while recorded, it is answered again: a syscall
    /// a filter in place denied before entry gets that filter's errno (the workload got it,
    /// and coped), and one whose every call failed with ENOSYS (a probe) keeps ENOSYS.
    pub(super) fn answer_as_recorded(&mut self) {
        let recordings = self.recordings;
        for rec in recordings {
            for (abi, denied) in &rec.denied_by_filter {
                for (name, failures) in denied {
                    if self.reasons.contains_key(name) || abi.syscall_nr(name).is_none() {
                        continue;
                    }
                    let errno = failures.errno();
                    self.answered.entry(name.clone()).or_insert_with(|| {
                        (
                            errno,
                            format!(
                                "{}the filter the workload ran under denied it before entry \
                                 ({} call(s) got {}), so it gets the same",
                                why::FILTER,
                                failures.eperm + failures.enosys,
                                crate::errno::errno_name(errno).unwrap_or("an errno")
                            ),
                        )
                    });
                }
            }
        }
        let probes: Vec<String> = self
            .reasons
            .iter()
            .filter(|(name, reason)| {
                matches!(reason, Reason::Observed(_)) && only_enosys(recordings, name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in probes {
            self.reasons.remove(&name);
            self.answered.insert(
                name,
                (
                    ENOSYS,
                    format!(
                        "{}every call got ENOSYS while recorded (a probe that then fell back), \
                         so it keeps ENOSYS",
                        why::FILTER
                    ),
                ),
            );
        }
    }

    /// Step 8: the ceiling: what Docker's default denies although it has a replacement is
    /// denied as Docker does, and the replacement allowed (clone3 -> clone).
    pub(super) fn replace_per_ceiling(&mut self) {
        for (name, instead, why_denied) in ceiling::REPLACED_BY {
            let Some(abi) = self.abi_of(name) else {
                continue;
            };
            let Ceiling::Denied { errno } = ceiling::ceiling(abi, name) else {
                continue;
            };
            if self.reasons.remove(*name).is_none() {
                continue;
            }
            self.replaced.push(((*name).to_owned(), errno, why_denied));
            self.allow(instead, Reason::Replaces((*name).to_owned()));
        }
    }

    /// Step 9: the allow rules: unrestricted names grouped by reason, in the order of
    /// `Reason`; then the names allowed only for some argument values (the Docker ceiling,
    /// narrowed by `--args` to the values observed).
    fn allow_rules(&mut self) -> Vec<SyscallRule> {
        let mut by_reason: BTreeMap<Reason, Vec<String>> = BTreeMap::new();
        let mut restricted: Vec<SyscallRule> = Vec::new();
        for (name, reason) in &self.reasons {
            let limit = self
                .abi_of(name)
                .map_or(Ceiling::Unrestricted, |abi| ceiling::ceiling(abi, name));
            if let Ceiling::Denied { .. } = limit
                && matches!(reason, Reason::Observed(_))
            {
                self.warnings.push(format!(
                    "{name} was observed and is allowed, though Docker's default denies it to a \
                     container without extra capabilities: this profile is wider than Docker's \
                     default there (sysallow diff --against docker-default shows it)"
                ));
            }
            // clone stands in for clone3 too: the flags seen on either.
            let mut captured = vec![name.as_str()];
            if name == "clone" && self.replaced.iter().any(|(r, _, _)| r == "clone3") {
                captured.push("clone3");
            }
            let observed = observed_args(self.recordings, &captured);
            match argument_rules(
                name,
                reason,
                &limit,
                &observed,
                self.policy.args,
                &mut self.warnings,
            ) {
                Some(rules) => restricted.extend(rules),
                None => by_reason
                    .entry(reason.clone())
                    .or_default()
                    .push(name.clone()),
            }
        }
        let mut syscalls: Vec<SyscallRule> = by_reason
            .into_iter()
            .map(|(reason, names)| SyscallRule {
                names,
                action: Action::Allow,
                comment: reason.comment(),
                ..SyscallRule::default()
            })
            .collect();
        syscalls.extend(restricted);
        syscalls
    }

    /// Step 10: the errno rules: what is answered as recorded, what the ceiling replaces, the
    /// fallbacks (ENOSYS for unobserved new syscalls), and the errno pin.
    fn errno_rules(&self, named_so_far: &[SyscallRule]) -> Vec<SyscallRule> {
        let default_errno = self.policy.default_errno.number();
        let mut syscalls = Vec::new();
        for (name, (errno, why_answered)) in &self.answered {
            syscalls.push(SyscallRule {
                names: vec![name.clone()],
                action: Action::Errno,
                errno_ret: Some(*errno),
                comment: why_answered.clone(),
                ..SyscallRule::default()
            });
        }
        for (name, errno, why_denied) in &self.replaced {
            if *errno != default_errno {
                let errno_name = crate::errno::errno_name(*errno).unwrap_or("errno");
                syscalls.push(SyscallRule {
                    names: vec![name.clone()],
                    action: Action::Errno,
                    errno_ret: Some(*errno),
                    comment: format!(
                        "{}{errno_name} although observed, as Docker's default answers it: \
                         {why_denied}",
                        why::FALLBACK
                    ),
                    ..SyscallRule::default()
                });
            }
        }
        // With ENOSYS as the default every denied syscall already falls back.
        if self.policy.fallbacks && default_errno != ENOSYS {
            // One rule per reason, in the order of FALLBACKS.
            let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
            for (name, reason) in FALLBACKS {
                if self.exists(name)
                    && !self.reasons.contains_key(*name)
                    && !self.answered.contains_key(*name)
                    && !self.replaced.iter().any(|(r, _, _)| r == name)
                {
                    match groups.iter_mut().find(|(r, _)| r == reason) {
                        Some((_, names)) => names.push((*name).to_owned()),
                        None => groups.push((reason, vec![(*name).to_owned()])),
                    }
                }
            }
            for (reason, mut names) in groups {
                names.sort();
                syscalls.push(SyscallRule {
                    names,
                    action: Action::Errno,
                    errno_ret: Some(ENOSYS),
                    comment: format!("{}ENOSYS because {reason}", why::FALLBACK),
                    ..SyscallRule::default()
                });
            }
        }
        let named: BTreeSet<&str> = named_so_far
            .iter()
            .chain(&syscalls)
            .flat_map(|r| r.names.iter().map(String::as_str))
            .collect();
        if let Some(pin) = pin_rule(&self.abis, &named, default_errno) {
            syscalls.push(pin);
        }
        syscalls
    }

    /// The profile, with its architectures and the warnings the local libseccomp gives.
    pub(super) fn finish(mut self) -> Generated {
        let mut syscalls = self.allow_rules();
        let errnos = self.errno_rules(&syscalls);
        syscalls.extend(errnos);
        let mut profile = Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(self.policy.default_errno.number()),
            default_errno: None,
            architectures: Vec::new(),
            arch_map: Vec::new(),
            flags: Vec::new(),
            listener_path: None,
            syscalls,
        };
        set_architectures(&mut profile, &self.abis);
        self.warnings.extend(libseccomp_warnings(&profile));
        Generated {
            profile,
            warnings: self.warnings,
        }
    }
}

/// Whether every recorded call of `name`, in every recording and ABI that saw it, failed with
/// ENOSYS.
pub(super) fn only_enosys(recordings: &[Recording], name: &str) -> bool {
    let mut seen = false;
    for rec in recordings {
        for abi_rec in rec.abis.values() {
            if let Some(sc) = abi_rec.syscalls.get(name) {
                seen = true;
                if sc.count == 0 || sc.failed.enosys < sc.count {
                    return false;
                }
            }
        }
    }
    seen
}
