//! Semantic comparison of two policies (Recordings or Profiles in any format `formats::read`
//! reads), so that a new syscall between releases is a reviewed change, not a surprise.
//!
//! Both sides are first normalized into a [`NormalizedPolicy`] (`policy.rs`): per ABI, per
//! syscall, the *set* of grants that apply to it. Rule order, how names are grouped into rules,
//! how a rule's conditions are ordered, `archMap` vs `architectures`, and the file format all
//! disappear in that step, so they never show as changes. This module compares; `render.rs`
//! writes the result as text, markdown or JSON.
//!
//! Syscalls are compared per ABI that sysallow has a table for (x86_64, x86, aarch64, arm).
//! Other architectures (mips, s390x, ...) are compared as entries of the architecture list only.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::abi::Abi;
use crate::policy::{Allowance, Grant, Kind, NormalizedPolicy, Usage, Verdict, allowance, covered};
use crate::risk::{self, Risk};

mod render;

pub use crate::style::Style;
pub use render::{grant_text, render_json, render_markdown, render_text};

/// What `--fail-on` selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOn {
    #[default]
    Never,
    /// Any difference at all.
    Any,
    /// Anything that lets more run: a syscall added or allowed more widely, a more permissive
    /// default action, an added architecture.
    Added,
    /// Anything added that is in a risky class (see `risk`), or a default action that allows.
    Risky,
}

/// The kind of change to one syscall in one ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// No rule named it before.
    Added,
    /// No rule names it now.
    Removed,
    /// Its grants differ.
    Changed,
}

/// Which parts of a changed syscall's treatment differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Action,
    Errno,
    Args,
    Condition,
}

/// One syscall whose treatment differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyscallChange {
    pub abi: Abi,
    pub name: String,
    pub change: ChangeKind,
    /// For `changed`: which parts differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aspects: Vec<Aspect>,
    pub old: Vec<Grant>,
    pub new: Vec<Grant>,
    pub old_allowance: Allowance,
    pub new_allowance: Allowance,
    /// It runs in more cases than before (what `--fail-on added` selects). Where both sides
    /// allow it only conditionally, any new allowing grant counts: conservative on purpose.
    pub widens: bool,
    /// For a widening change: the risk class, with a reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// Programs that made it (from the new side if a Recording, else the old).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl SyscallChange {
    /// A rule added or removed that denies on both sides (a new ABI's ENOSYS fallbacks, say):
    /// reports list these names on one line instead of one each.
    pub fn deny_only(&self) -> bool {
        self.change != ChangeKind::Changed
            && self.old_allowance == Allowance::Denied
            && self.new_allowance == Allowance::Denied
    }
}

/// `+a +b -c` for deny-only changes.
fn deny_only_names<'a>(changes: impl Iterator<Item = &'a SyscallChange>) -> String {
    changes
        .map(|c| {
            let mark = if c.change == ChangeKind::Added {
                '+'
            } else {
                '-'
            };
            format!("{mark}{}", c.name)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A change to a profile-wide setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "setting", rename_all = "snake_case")]
pub enum SettingChange {
    DefaultAction {
        old: Verdict,
        new: Verdict,
        widens: bool,
    },
    Architectures {
        added: Vec<String>,
        removed: Vec<String>,
    },
    Flags {
        added: Vec<String>,
        removed: Vec<String>,
    },
    ListenerPath {
        old: Option<String>,
        new: Option<String>,
    },
}

impl SettingChange {
    /// Whether it lets more run: a default that now allows, or an architecture whose syscalls
    /// now reach the rules instead of being refused as a bad architecture.
    pub fn widens(&self) -> bool {
        match self {
            SettingChange::DefaultAction { widens, .. } => *widens,
            SettingChange::Architectures { added, .. } => !added.is_empty(),
            SettingChange::Flags { .. } | SettingChange::ListenerPath { .. } => false,
        }
    }

    /// A default action that now allows is risky whatever else changed.
    pub fn risky(&self) -> bool {
        matches!(self, SettingChange::DefaultAction { widens: true, .. })
    }
}

/// Counts, for a summary line and for tools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub settings: usize,
    /// Changes (syscalls and settings) that let more run.
    pub widening: usize,
    /// Widening changes in a risky class.
    pub risky: usize,
}

/// The semantic difference between two policies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    pub old: Side,
    pub new: Side,
    pub summary: Summary,
    /// Only what lets more run in `new` is listed ([`Diff::widening_only`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub widening_only: bool,
    pub settings: Vec<SettingChange>,
    /// Sorted by ABI, then name.
    pub syscalls: Vec<SyscallChange>,
}

/// One input, named as the user gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    pub name: String,
    pub kind: Kind,
}

impl Diff {
    /// Compare `old` (named `old_name`) with `new`.
    pub fn compute(
        old_name: &str,
        old: &NormalizedPolicy,
        new_name: &str,
        new: &NormalizedPolicy,
    ) -> Diff {
        let mut settings = Vec::new();
        if old.default != new.default {
            settings.push(SettingChange::DefaultAction {
                old: old.default.clone(),
                new: new.default.clone(),
                widens: new.default.allows() && !old.default.allows(),
            });
        }
        let (added, removed) = set_diff(&old.architectures, &new.architectures);
        if !added.is_empty() || !removed.is_empty() {
            settings.push(SettingChange::Architectures { added, removed });
        }
        let (added, removed) = set_diff(&old.flags, &new.flags);
        if !added.is_empty() || !removed.is_empty() {
            settings.push(SettingChange::Flags { added, removed });
        }
        if old.listener_path != new.listener_path {
            settings.push(SettingChange::ListenerPath {
                old: old.listener_path.clone(),
                new: new.listener_path.clone(),
            });
        }

        let mut syscalls = Vec::new();
        let abis: BTreeSet<Abi> = old.abis.keys().chain(new.abis.keys()).copied().collect();
        for abi in abis {
            let names: BTreeSet<&String> = [old.abis.get(&abi), new.abis.get(&abi)]
                .into_iter()
                .flatten()
                .flat_map(|m| m.keys())
                .collect();
            for name in names {
                let before = old.grants(abi, name);
                let after = new.grants(abi, name);
                if before == after {
                    continue;
                }
                syscalls.push(syscall_change(abi, name, old, new, &before, &after));
            }
        }
        let mut diff = Diff {
            old: Side {
                name: old_name.to_owned(),
                kind: old.kind,
            },
            new: Side {
                name: new_name.to_owned(),
                kind: new.kind,
            },
            summary: Summary::default(),
            widening_only: false,
            settings,
            syscalls,
        };
        diff.summarize();
        diff
    }

    fn summarize(&mut self) {
        let mut s = Summary {
            settings: self.settings.len(),
            ..Summary::default()
        };
        for change in &self.syscalls {
            match change.change {
                ChangeKind::Added => s.added += 1,
                ChangeKind::Removed => s.removed += 1,
                ChangeKind::Changed => s.changed += 1,
            }
            s.widening += usize::from(change.widens);
            s.risky += usize::from(change.risk.as_ref().is_some_and(|r| r.risky));
        }
        for setting in &self.settings {
            s.widening += usize::from(setting.widens());
            s.risky += usize::from(setting.risky());
        }
        self.summary = s;
    }

    /// Only what lets more run in `new` than in `old`: for `--against docker-default`, "what
    /// we allow beyond Docker's default".
    pub fn widening_only(mut self) -> Diff {
        self.settings.retain(SettingChange::widens);
        self.syscalls.retain(|c| c.widens);
        self.widening_only = true;
        self.summarize();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.syscalls.is_empty()
    }

    /// Whether `fail_on` selects anything in this diff.
    pub fn fails(&self, fail_on: FailOn) -> bool {
        match fail_on {
            FailOn::Never => false,
            FailOn::Any => !self.is_empty(),
            FailOn::Added => self.summary.widening > 0,
            FailOn::Risky => self.summary.risky > 0,
        }
    }
}

fn set_diff(old: &BTreeSet<String>, new: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (
        new.difference(old).cloned().collect(),
        old.difference(new).cloned().collect(),
    )
}

fn syscall_change(
    abi: Abi,
    name: &str,
    old: &NormalizedPolicy,
    new: &NormalizedPolicy,
    before: &BTreeSet<Grant>,
    after: &BTreeSet<Grant>,
) -> SyscallChange {
    let change = match (before.is_empty(), after.is_empty()) {
        (true, _) => ChangeKind::Added,
        (_, true) => ChangeKind::Removed,
        _ => ChangeKind::Changed,
    };
    let mut aspects = Vec::new();
    if change == ChangeKind::Changed {
        let differs = |f: &dyn Fn(&Grant) -> String| {
            let a: BTreeSet<String> = before.iter().map(f).collect();
            let b: BTreeSet<String> = after.iter().map(f).collect();
            a != b
        };
        if differs(&|g| format!("{:?}", g.verdict.action)) {
            aspects.push(Aspect::Action);
        }
        if differs(&|g| format!("{:?}", g.verdict.errno)) {
            aspects.push(Aspect::Errno);
        }
        if differs(&|g| format!("{:?}", g.args)) {
            aspects.push(Aspect::Args);
        }
        if differs(&|g| g.gate.to_string()) {
            aspects.push(Aspect::Condition);
        }
        if aspects.is_empty() {
            // Same parts, combined differently (e.g. args moved from one verdict to another).
            aspects.push(Aspect::Args);
        }
    }
    let old_allowance = allowance(&old.default, before);
    let new_allowance = allowance(&new.default, after);
    let widens = new_allowance > old_allowance
        || (new_allowance == Allowance::Conditional
            && old_allowance == Allowance::Conditional
            && after
                .iter()
                .any(|g| g.verdict.allows() && !covered(g, before)));
    let usage = new
        .usage(abi, name)
        .or_else(|| old.usage(abi, name))
        .cloned();
    SyscallChange {
        abi,
        name: name.to_owned(),
        change,
        aspects,
        old: before.iter().cloned().collect(),
        new: after.iter().cloned().collect(),
        old_allowance,
        new_allowance,
        widens,
        risk: widens.then(|| risk::classify(abi, name)),
        usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats;

    fn policy(text: &str) -> NormalizedPolicy {
        match formats::read(text) {
            Ok(doc) => NormalizedPolicy::from_document(&doc),
            Err(e) => panic!("test input does not read: {e}"),
        }
    }

    fn diff(old: &str, new: &str) -> Diff {
        Diff::compute("old", &policy(old), "new", &policy(new))
    }

    #[test]
    fn order_grouping_and_arch_spelling_do_not_count() {
        let a = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
              {"names":["socket"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#;
        let b = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[
              {"names":["socket"],"action":"SCMP_ACT_ALLOW","comment":"other words",
               "args":[{"index":1,"value":2,"op":"SCMP_CMP_EQ"},{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
              {"names":["write"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let d = diff(a, b);
        assert!(d.is_empty(), "{}", render_text(&d, Style { color: false }));
    }

    /// A recording's clone with its captured flags is compared as `--args safe` generates it:
    /// within Docker's default when no namespace flag was seen, beyond it when one was.
    #[test]
    fn a_recordings_captured_clone_flags_are_compared_as_generated() {
        use crate::recording::{Target, for_tests};
        let docker = crate::risk::docker_default().unwrap();
        let against = |flags: &[u64]| {
            let mut rec = for_tests(Target::Command {
                argv: vec!["app".into()],
                user: None,
            });
            rec.add(Abi::X86_64, 56, "/usr/bin/app", flags.len() as u64);
            let clone = rec
                .abis
                .get_mut(&Abi::X86_64)
                .unwrap()
                .syscalls
                .get_mut("clone")
                .unwrap();
            clone.args = Some(crate::args::ArgValues {
                values: flags.iter().copied().collect(),
                overflow: false,
            });
            let d = Diff::compute(
                "docker-default",
                docker,
                "rec",
                &NormalizedPolicy::from_recording(&rec),
            )
            .widening_only();
            d.syscalls.iter().any(|c| c.name == "clone")
        };
        // SIGCHLD | CLONE_VM | CLONE_VFORK (posix_spawn), and a thread's flags.
        assert!(
            !against(&[0x4111, 0x3d0f00]),
            "clone without namespace flags is beyond Docker's"
        );
        // CLONE_NEWUSER (0x10000000): Docker's default never allows it.
        assert!(
            against(&[0x11, 0x1000_0011]),
            "clone with CLONE_NEWUSER is within Docker's"
        );
    }

    #[test]
    fn podman_errno_names_equal_numbers() {
        let a = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrno":"EPERM","syscalls":[
            {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errno":"ENOSYS"}]}"#;
        let b = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
            {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
        assert!(diff(a, b).is_empty());
    }

    #[test]
    fn arch_gates_reach_host_abis_and_names_their_tables() {
        let p = policy(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[
              {"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]},
              {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
            "syscalls":[{"names":["modify_ldt"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}},
              {"names":["_llseek","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert_eq!(p.allowance(Abi::X86_64, "modify_ldt"), Allowance::Always);
        assert_eq!(p.allowance(Abi::X86, "modify_ldt"), Allowance::Always);
        assert_eq!(p.allowance(Abi::Aarch64, "modify_ldt"), Allowance::Denied);
        assert_eq!(p.allowance(Abi::X86, "_llseek"), Allowance::Always);
        assert!(p.grants(Abi::X86_64, "_llseek").is_empty());
        assert_eq!(p.allowance(Abi::Arm, "read"), Allowance::Always);
    }

    #[test]
    fn capability_gated_rules_are_conditional() {
        let old = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#;
        let new = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let d = diff(old, new);
        assert_eq!(d.syscalls.len(), 1);
        let c = &d.syscalls[0];
        assert_eq!(c.aspects, vec![Aspect::Condition]);
        assert_eq!(
            (c.old_allowance, c.new_allowance),
            (Allowance::Conditional, Allowance::Always)
        );
        assert!(c.widens && d.fails(FailOn::Risky));
        assert_eq!(c.risk.as_ref().map(|r| r.class), Some("namespace_escape"));
    }

    #[test]
    fn fail_on_levels() {
        let base = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let plus_write = base.replace(r#"["read"]"#, r#"["read","write"]"#);
        let plus_bpf = base.replace(r#"["read"]"#, r#"["read","bpf"]"#);
        let none = diff(base, base);
        assert!(!none.fails(FailOn::Any));
        let removal = diff(&plus_write, base);
        assert!(removal.fails(FailOn::Any) && !removal.fails(FailOn::Added));
        let ordinary = diff(base, &plus_write);
        assert!(ordinary.fails(FailOn::Added) && !ordinary.fails(FailOn::Risky));
        let risky = diff(base, &plus_bpf);
        assert!(risky.fails(FailOn::Risky) && !risky.fails(FailOn::Never));
    }

    #[test]
    fn denylist_removal_widens() {
        let old = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
            {"names":["ptrace"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let new = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[]}"#;
        let d = diff(old, new);
        assert_eq!(d.syscalls[0].change, ChangeKind::Removed);
        assert!(d.syscalls[0].widens && d.fails(FailOn::Risky));
    }

    fn against_docker(profile: &str) -> Diff {
        Diff::compute(
            "docker-default",
            &policy(crate::baseline::DOCKER_DEFAULT_JSON),
            "p",
            &policy(profile),
        )
        .widening_only()
    }

    #[test]
    fn narrower_argument_rules_are_covered_by_dockers() {
        let p = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
        let d = against_docker(p);
        assert!(
            !d.fails(FailOn::Risky),
            "{}",
            render_text(&d, Style { color: false })
        );
    }

    #[test]
    fn wider_argument_rules_are_not() {
        let rule = |name: &str, args: &str| {
            format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
                {{"names":["{name}"],"action":"SCMP_ACT_ALLOW","args":[{args}]}}]}}"#
            )
        };
        for (name, args) in [
            // CLONE_NEWUSER allowed.
            (
                "clone",
                r#"{"index":0,"value":2080505856,"op":"SCMP_CMP_MASKED_EQ"}"#,
            ),
            // AF_VSOCK (40).
            ("socket", r#"{"index":0,"value":40,"op":"SCMP_CMP_EQ"}"#),
            ("socket", r#"{"index":0,"value":41,"op":"SCMP_CMP_LT"}"#),
            ("personality", r#"{"index":0,"value":4,"op":"SCMP_CMP_EQ"}"#),
            // A condition on another argument only.
            ("socket", r#"{"index":1,"value":1,"op":"SCMP_CMP_EQ"}"#),
        ] {
            let d = against_docker(&rule(name, args));
            assert!(
                d.fails(FailOn::Risky),
                "{name} {args} is wider than Docker's default"
            );
        }
        let clone3 = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
            {"names":["clone3"],"action":"SCMP_ACT_ALLOW"}]}"#;
        assert!(against_docker(clone3).fails(FailOn::Risky));
    }

    #[test]
    fn a_new_socket_family_or_namespace_flag_is_a_risky_widening() {
        let base = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#;
        let packet = base.replace(
            r#"{"names":["clone"]"#,
            r#"{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":17,"op":"SCMP_CMP_EQ"}]},
            {"names":["clone"]"#,
        );
        let newuser = base.replace(
            r#"{"names":["clone"]"#,
            r#"{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["clone"]"#,
        );
        for (what, new) in [("AF_PACKET", packet), ("CLONE_NEWUSER", newuser)] {
            let d = diff(base, &new);
            assert_eq!(d.syscalls.len(), 1, "{what}");
            assert!(d.syscalls[0].widens && d.fails(FailOn::Risky), "{what}");
            let text = render_text(&d, Style { color: false });
            assert!(text.contains(what), "{what} is named: {text}");
        }
        // The same values, other rule order: no change.
        assert!(diff(base, base).is_empty());
    }
}
