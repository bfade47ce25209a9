//! Semantic comparison of two policies (Recordings or Profiles in any format `formats::read`
//! reads), so that a new syscall between releases is a reviewed change, not a surprise.
//!
//! Both sides are first normalized into a [`NormalizedPolicy`]: per ABI, per syscall, the *set* of
//! [`Grant`]s that apply to it. Rule order, how names are grouped into rules, how a rule's
//! conditions are ordered, `archMap` vs `architectures`, and the file format all disappear in
//! that step, so they never show as changes.
//!
//! Semantics (Docker's, see moby `profiles/seccomp/seccomp_linux.go`):
//! - Conditions inside one rule are ANDed: a grant keeps its argument conditions as one sorted
//!   set. Several rules for one syscall are ORed: a syscall keeps a set of grants.
//! - `includes.arches` / `excludes.arches` name the *host* architecture Docker runs on (`amd64`,
//!   `arm64`, ...). A rule gated on `amd64` applies, on such a host, to every ABI the filter
//!   covers there (x86_64 and its compat x86), so we fold it into which ABIs the rule reaches.
//! - `includes.caps` (all required), `excludes.caps` (any one excludes), `includes.minKernel`
//!   and `excludes.minKernel` are conditions on the container, not on the syscall: a rule that
//!   carries them is a separate, *conditional* grant ([`Gate`]). Changing a gate is a change.
//! - A Recording allows exactly the syscalls it saw, per ABI, unconditionally, and denies the
//!   rest: [`NormalizedPolicy::from_recording`] is the one place that says so.
//!
//! Syscalls are compared per ABI that sysallow has a table for (x86_64, x86, aarch64, arm).
//! Other architectures (mips, s390x, ...) are compared as entries of the architecture list only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::abi::Abi;
use crate::formats::{Document, errno_name, errno_number};
use crate::generate::EPERM;
use crate::profile::{Action, ArgCondition, Op, Profile, RuleFilter};
use crate::recording::Recording;
use crate::risk::{self, Risk};

/// What happens to a call: an action and, for `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`, its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Verdict {
    pub action: Action,
    /// Always set for `SCMP_ACT_ERRNO` (EPERM where the file gives none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<Errno>,
}

impl Verdict {
    fn new(action: Action, number: Option<u32>, name: Option<&str>) -> Verdict {
        let given = number
            .map(Errno::Number)
            .or_else(|| name.map(Errno::from_name));
        let errno = match action {
            // runc and crun answer EPERM when an errno action has no errno (runc
            // libcontainer/seccomp: `actErrno ... unix.EPERM`), so "not set" is EPERM.
            Action::Errno => Some(given.unwrap_or(Errno::Number(EPERM))),
            Action::Trace => given,
            _ => None,
        };
        Verdict { action, errno }
    }

    /// Whether the syscall may run. `SCMP_ACT_TRACE` and `SCMP_ACT_NOTIFY` hand the decision to
    /// another process, which may let it run, so a reviewer must treat them as allowing.
    pub fn allows(&self) -> bool {
        matches!(
            self.action,
            Action::Allow | Action::Log | Action::Trace | Action::Notify
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Allow => "allow",
            Action::Errno => "errno",
            Action::KillThread => "kill thread",
            Action::KillProcess => "kill process",
            Action::Trap => "trap",
            Action::Trace => "trace",
            Action::Log => "log",
            Action::Notify => "notify",
        };
        match (&self.errno, self.action) {
            (Some(errno), _) => write!(f, "{action} {errno}"),
            (None, _) => f.write_str(action),
        }
    }
}

/// An errno value. Podman writes names (`"ENOSYS"`), Docker numbers; both normalize to the
/// number where the name is known, so the two spellings compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Errno {
    Number(u32),
    /// A name the kernel's errno table (`formats::errno_number`) does not know, kept as written.
    Name(String),
}

impl Errno {
    fn from_name(name: &str) -> Errno {
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

/// Conditions on the container under which a grant applies (Docker's `includes`/`excludes`
/// other than arches, which decide the ABIs a rule reaches instead).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Gate {
    /// All of these capabilities are required (`includes.caps`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub caps: BTreeSet<String>,
    /// None of these may be held (`excludes.caps`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub without_caps: BTreeSet<String>,
    /// Only on this kernel or newer (`includes.minKernel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
    /// Only on kernels older than this (`excludes.minKernel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub below_kernel: Option<String>,
}

impl Gate {
    fn new(includes: &RuleFilter, excludes: &RuleFilter) -> Gate {
        Gate {
            caps: includes.caps.iter().cloned().collect(),
            without_caps: excludes.caps.iter().cloned().collect(),
            min_kernel: includes.min_kernel.clone(),
            below_kernel: excludes.min_kernel.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Gate::default()
    }

    /// Whether the grant applies to every container on a current kernel. A `minKernel`
    /// requirement is taken as met: every kernel sysallow records on (BTF, raw tracepoints) is
    /// far newer than the 4.8 of Docker's only use of it; an `excludes.minKernel` grant is taken
    /// as not applying, for the same reason.
    fn always_met(&self) -> bool {
        self.caps.is_empty() && self.without_caps.is_empty() && self.below_kernel.is_none()
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for cap in &self.caps {
            parts.push(format!("with {cap}"));
        }
        for cap in &self.without_caps {
            parts.push(format!("without {cap}"));
        }
        if let Some(k) = &self.min_kernel {
            parts.push(format!("kernel >= {k}"));
        }
        if let Some(k) = &self.below_kernel {
            parts.push(format!("kernel < {k}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One way a syscall is treated: a verdict, when all `args` hold (ANDed) and the gate is met.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Grant {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Sorted and deduplicated: their order in the file does not matter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
    #[serde(skip_serializing_if = "Gate::is_empty")]
    pub gate: Gate,
}

impl Grant {
    fn allow() -> Grant {
        Grant {
            verdict: Verdict {
                action: Action::Allow,
                errno: None,
            },
            args: Vec::new(),
            gate: Gate::default(),
        }
    }

    fn unconditional(&self) -> bool {
        self.args.is_empty() && self.gate.always_met()
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict)?;
        if !self.args.is_empty() {
            let conds: Vec<String> = self.args.iter().map(describe_arg).collect();
            write!(f, " if {}", conds.join(" && "))?;
        }
        if !self.gate.is_empty() {
            write!(f, " [{}]", self.gate)?;
        }
        Ok(())
    }
}

/// `arg0 & 0x7e020000 == 0`, `arg0 < 38`, ...
pub fn describe_arg(cond: &ArgCondition) -> String {
    let arg = format!("arg{}", cond.index);
    let value = |v: u64| {
        if v > 0xffff {
            format!("{v:#x}")
        } else {
            v.to_string()
        }
    };
    let op = match cond.op {
        Op::MaskedEq => {
            return format!("{arg} & {} == {}", value(cond.value), value(cond.value_two));
        }
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Eq => "==",
        Op::Ge => ">=",
        Op::Gt => ">",
    };
    format!("{arg} {op} {}", value(cond.value))
}

/// How a syscall was used, where the side is a Recording.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub count: u64,
    /// Executable path -> calls.
    pub programs: BTreeMap<String, u64>,
}

/// What a document is, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Recording,
    Profile,
}

/// A Recording or Profile in normalized form: what each syscall gets, per ABI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedPolicy {
    pub kind: Kind,
    /// What a syscall without a matching grant gets.
    pub default: Verdict,
    /// Every architecture named (`SCMP_ARCH_*`), whether through `architectures` or `archMap`.
    pub architectures: BTreeSet<String>,
    pub flags: BTreeSet<String>,
    pub listener_path: Option<String>,
    /// Per ABI, per syscall name, the grants (ORed).
    pub abis: BTreeMap<Abi, BTreeMap<String, BTreeSet<Grant>>>,
    /// Per ABI, per syscall: how it was used (Recordings only).
    pub usage: BTreeMap<Abi, BTreeMap<String, Usage>>,
    /// Per ABI, per syscall: the comments of the rules that grant it (Profiles only). Not part
    /// of the semantics: comments never make a difference.
    pub comments: BTreeMap<Abi, BTreeMap<String, BTreeSet<String>>>,
}

/// How far a policy lets a syscall run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Allowance {
    Denied,
    /// Only for some argument values, or only with some capability.
    Conditional,
    Always,
}

/// Name under which a Recording's syscall number without a name in the table is compared.
pub fn unnamed(nr: u32) -> String {
    format!("(nr {nr})")
}

impl NormalizedPolicy {
    pub fn from_document(doc: &Document) -> NormalizedPolicy {
        match doc {
            Document::Recording(rec) => NormalizedPolicy::from_recording(rec),
            Document::Profile(profile) => NormalizedPolicy::from_profile(profile),
        }
    }

    /// The policy a Recording stands for: exactly its syscalls, per ABI, unconditionally;
    /// everything else denied (EPERM, as a generated profile does by default); the
    /// architectures are the ABIs it saw.
    pub fn from_recording(rec: &Recording) -> NormalizedPolicy {
        let mut abis = BTreeMap::new();
        let mut usage = BTreeMap::new();
        for (abi, record) in &rec.abis {
            let named = record.syscalls.iter().map(|(n, s)| (n.clone(), s));
            let unnamed_ = record.unnamed.iter().map(|(nr, s)| (unnamed(*nr), s));
            let (grants, used): (&mut BTreeMap<_, _>, &mut BTreeMap<_, _>) = (
                abis.entry(*abi).or_default(),
                usage.entry(*abi).or_default(),
            );
            for (name, seen) in named.chain(unnamed_) {
                grants.insert(name.clone(), BTreeSet::from([Grant::allow()]));
                used.insert(
                    name,
                    Usage {
                        count: seen.count,
                        programs: seen.programs.clone(),
                    },
                );
            }
        }
        NormalizedPolicy {
            kind: Kind::Recording,
            default: Verdict::new(Action::Errno, Some(EPERM), None),
            architectures: rec
                .abis
                .keys()
                .map(|abi| abi.scmp_arch().to_owned())
                .collect(),
            flags: BTreeSet::new(),
            listener_path: None,
            abis,
            usage,
            comments: BTreeMap::new(),
        }
    }

    /// The policy a Profile stands for (see the module documentation for the semantics).
    pub fn from_profile(profile: &Profile) -> NormalizedPolicy {
        let architectures: BTreeSet<String> = profile.all_architectures().into_iter().collect();
        let mut scope: BTreeSet<Abi> = architectures
            .iter()
            .filter_map(|a| Abi::from_scmp_arch(a))
            .collect();
        if architectures.is_empty() {
            // No architectures: libseccomp filters only the native one of the host it loads on.
            scope.insert(Abi::native());
        }
        let mut abis: BTreeMap<Abi, BTreeMap<String, BTreeSet<Grant>>> =
            scope.iter().map(|abi| (*abi, BTreeMap::new())).collect();
        let mut comments: BTreeMap<Abi, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for rule in &profile.syscalls {
            let mut args = rule.args.clone();
            args.sort();
            args.dedup();
            let grant = Grant {
                verdict: Verdict::new(rule.action, rule.errno_ret, rule.errno.as_deref()),
                args,
                gate: Gate::new(&rule.includes, &rule.excludes),
            };
            let reach = rule_abis(&scope, &rule.includes.arches, &rule.excludes.arches);
            for name in &rule.names {
                for abi in reach.iter().filter(|abi| applies(**abi, name)) {
                    abis.entry(*abi)
                        .or_default()
                        .entry(name.clone())
                        .or_default()
                        .insert(grant.clone());
                    if !rule.comment.is_empty() {
                        comments
                            .entry(*abi)
                            .or_default()
                            .entry(name.clone())
                            .or_default()
                            .insert(rule.comment.clone());
                    }
                }
            }
        }
        NormalizedPolicy {
            kind: Kind::Profile,
            default: Verdict::new(
                profile.default_action,
                profile.default_errno_ret,
                profile.default_errno.as_deref(),
            ),
            architectures,
            flags: profile.flags.iter().cloned().collect(),
            listener_path: profile.listener_path.clone(),
            abis,
            usage: BTreeMap::new(),
            comments,
        }
    }

    /// The grants of `name` in `abi` (empty if no rule names it).
    pub fn grants(&self, abi: Abi, name: &str) -> BTreeSet<Grant> {
        self.abis
            .get(&abi)
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or_default()
    }

    /// How far `name` may run in `abi` under this policy.
    pub fn allowance(&self, abi: Abi, name: &str) -> Allowance {
        allowance(&self.default, &self.grants(abi, name))
    }

    pub fn usage(&self, abi: Abi, name: &str) -> Option<&Usage> {
        self.usage.get(&abi).and_then(|m| m.get(name))
    }
}

/// The ABIs a rule reaches: the policy's, narrowed by the host arches it is gated on.
fn rule_abis(scope: &BTreeSet<Abi>, include: &[String], exclude: &[String]) -> BTreeSet<Abi> {
    // Docker's arch names are Go's (`amd64`, `arm64`, `x86`, ...); on such a host the filter
    // covers the native ABI and its compat ABI.
    let hosts = |names: &[String]| -> BTreeSet<Abi> {
        names
            .iter()
            .filter_map(|n| n.parse::<Abi>().ok())
            .flat_map(|abi| abi.host_abis().iter().copied())
            .collect()
    };
    let included = hosts(include);
    let excluded = hosts(exclude);
    scope
        .iter()
        .copied()
        .filter(|abi| include.is_empty() || included.contains(abi))
        .filter(|abi| !excluded.contains(abi))
        .collect()
}

/// Whether a rule naming `name` affects `abi`: the ABI has that syscall, or no table knows the
/// name at all (newer than our tables: keep it everywhere rather than lose a change).
fn applies(abi: Abi, name: &str) -> bool {
    abi.syscall_nr(name).is_some() || Abi::ALL.iter().all(|a| a.syscall_nr(name).is_none())
}

fn allowance(default: &Verdict, grants: &BTreeSet<Grant>) -> Allowance {
    let (mut allow_any, mut allow_always, mut deny_any, mut deny_always) =
        (false, false, false, false);
    for grant in grants.iter().filter(|g| g.gate.below_kernel.is_none()) {
        if grant.verdict.allows() {
            allow_any = true;
            allow_always |= grant.unconditional();
        } else {
            deny_any = true;
            deny_always |= grant.unconditional();
        }
    }
    if allow_always {
        Allowance::Always
    } else if default.allows() {
        match (deny_always, deny_any || allow_any) {
            (true, _) if !allow_any => Allowance::Denied,
            (_, true) => Allowance::Conditional,
            _ => Allowance::Always,
        }
    } else if allow_any {
        Allowance::Conditional
    } else {
        Allowance::Denied
    }
}

/// Whether everything `grant` allows is allowed by one of `old`'s grants, for a container
/// with the capabilities Docker gives by default plus those `grant` itself requires ("for the
/// same capabilities"): `clone if arg0 & 0x7e020000 == 0` is covered by Docker's pair of clone
/// rules (that condition without CAP_SYS_ADMIN, anything with it), and `socket if arg0 == 1` by
/// Docker's `socket if arg0 < 38`.
fn covered(grant: &Grant, old: &BTreeSet<Grant>) -> bool {
    if old.contains(grant) {
        return true;
    }
    if grant.gate.below_kernel.is_some() {
        // Applies to no current kernel (see `Gate::always_met`).
        return true;
    }
    let caps: BTreeSet<&str> = risk::DOCKER_DEFAULT_CAPS
        .iter()
        .copied()
        .chain(grant.gate.caps.iter().map(String::as_str))
        .filter(|c| !grant.gate.without_caps.contains(*c))
        .collect();
    old.iter().any(|o| {
        o.verdict.allows()
            && o.gate.below_kernel.is_none()
            && o.gate.caps.iter().all(|c| caps.contains(c.as_str()))
            && !o
                .gate
                .without_caps
                .iter()
                .any(|c| caps.contains(c.as_str()))
            && implies_all(&grant.args, &o.args)
    })
}

/// Whether every call that passes all of `have` (ANDed) also passes all of `need`.
pub fn implies_all(have: &[ArgCondition], need: &[ArgCondition]) -> bool {
    need.iter().all(|n| have.iter().any(|h| implies(h, n)))
}

/// Whether every argument value that passes `have` also passes `need` (same argument). Exact
/// for equalities and masks, and for bounds against bounds; anything else is "no", which can
/// only make a diff report a widening that is not one, never hide one.
fn implies(have: &ArgCondition, need: &ArgCondition) -> bool {
    if have.index != need.index {
        return false;
    }
    if have == need {
        return true;
    }
    let (v, w) = (have.value, need.value);
    match (have.op, need.op) {
        (Op::Eq, _) => holds(need, v),
        (Op::MaskedEq, Op::MaskedEq) => {
            need.value & !have.value == 0 && have.value_two & need.value == need.value_two
        }
        (Op::Lt, Op::Lt) | (Op::Le, Op::Le) | (Op::Gt, Op::Gt) | (Op::Ge, Op::Ge) => {
            match have.op {
                Op::Lt | Op::Le => v <= w,
                _ => v >= w,
            }
        }
        (Op::Lt, Op::Le) => v <= w.saturating_add(1),
        (Op::Le, Op::Lt) => v < w,
        (Op::Gt, Op::Ge) => v.saturating_add(1) >= w,
        (Op::Ge, Op::Gt) => v > w,
        (Op::Lt, Op::Ne) => w >= v,
        (Op::Le, Op::Ne) => w > v,
        (Op::Gt, Op::Ne) => w <= v,
        (Op::Ge, Op::Ne) => w < v,
        _ => false,
    }
}

/// Whether argument value `v` passes `cond`.
fn holds(cond: &ArgCondition, v: u64) -> bool {
    match cond.op {
        Op::Eq => v == cond.value,
        Op::Ne => v != cond.value,
        Op::Lt => v < cond.value,
        Op::Le => v <= cond.value,
        Op::Gt => v > cond.value,
        Op::Ge => v >= cond.value,
        Op::MaskedEq => v & cond.value == cond.value_two,
    }
}

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

// ---------------------------------------------------------------------------------------------
// Output formats. Each takes the diff and returns the whole text; the CLI only prints it.

/// ANSI styling, on only when the caller says the output is a terminal.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const BOLD_RED: &str = "1;31";
const DIM: &str = "2";
const BOLD: &str = "1";

fn grants_text(name: &str, grants: &[Grant]) -> String {
    if grants.is_empty() {
        "(no rule)".to_owned()
    } else {
        grants
            .iter()
            .map(|g| grant_text(name, g))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// A grant of syscall `name`, its argument values named where they have a name:
/// `allow if arg0 == 1 (AF_UNIX)`.
pub fn grant_text(name: &str, grant: &Grant) -> String {
    let mut text = grant.verdict.to_string();
    if !grant.args.is_empty() {
        let conds: Vec<String> = grant
            .args
            .iter()
            .map(|c| match crate::args::describe_condition(name, c) {
                Some(symbol) => format!("{} ({symbol})", describe_arg(c)),
                None => describe_arg(c),
            })
            .collect();
        text.push_str(&format!(" if {}", conds.join(" && ")));
    }
    if !grant.gate.is_empty() {
        text.push_str(&format!(" [{}]", grant.gate));
    }
    text
}

fn programs_text(usage: &Usage) -> String {
    usage
        .programs
        .iter()
        .map(|(p, n)| format!("{p} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{} added, {} removed, {} changed, {} setting(s) changed; {} widen what runs, {} risky",
        s.added, s.removed, s.changed, s.settings, s.widening, s.risky
    )
}

fn setting_text(setting: &SettingChange) -> String {
    let list = |added: &[String], removed: &[String]| {
        added
            .iter()
            .map(|a| format!("+{a}"))
            .chain(removed.iter().map(|r| format!("-{r}")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match setting {
        SettingChange::DefaultAction { old, new, .. } => {
            format!("default action: {old} -> {new}")
        }
        SettingChange::Architectures { added, removed } => {
            format!("architectures: {}", list(added, removed))
        }
        SettingChange::Flags { added, removed } => format!("flags: {}", list(added, removed)),
        SettingChange::ListenerPath { old, new } => format!(
            "listener path: {} -> {}",
            old.as_deref().unwrap_or("(none)"),
            new.as_deref().unwrap_or("(none)")
        ),
    }
}

/// Human summary, for a terminal (`style.color`) or a log.
pub fn render_text(diff: &Diff, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.paint(
            BOLD,
            &format!("sysallow diff: {} -> {}", diff.old.name, diff.new.name)
        )
    );
    if diff.widening_only {
        let _ = writeln!(
            out,
            "only what {} allows beyond {}",
            diff.new.name, diff.old.name
        );
    }
    if diff.is_empty() {
        out.push_str("no semantic difference\n");
        return out;
    }
    for setting in &diff.settings {
        let mark = if setting.risky() {
            style.paint(BOLD_RED, "  [risky: allows every syscall not named]")
        } else if setting.widens() {
            "  [widens]".to_owned()
        } else {
            String::new()
        };
        let _ = writeln!(out, "{}{mark}", setting_text(setting));
    }
    let width = diff
        .syscalls
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let abis: BTreeSet<Abi> = diff.syscalls.iter().map(|c| c.abi).collect();
    for abi in abis {
        let _ = writeln!(out, "\n{}", style.paint(BOLD, &format!("{abi}:")));
        let in_abi = || diff.syscalls.iter().filter(move |c| c.abi == abi);
        for c in in_abi().filter(|c| !c.deny_only()) {
            text_line(&mut out, c, width, style);
        }
        let denies = deny_only_names(in_abi().filter(|c| c.deny_only()));
        if !denies.is_empty() {
            let _ = writeln!(
                out,
                "  {}",
                style.paint(DIM, &format!("deny rules only: {denies}"))
            );
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(&diff.summary));
    out
}

fn text_line(out: &mut String, c: &SyscallChange, width: usize, style: Style) {
    {
        let (mark, color) = match c.change {
            ChangeKind::Added => ("+", GREEN),
            ChangeKind::Removed => ("-", RED),
            ChangeKind::Changed => ("~", YELLOW),
        };
        let detail = match c.change {
            ChangeKind::Added => grants_text(&c.name, &c.new),
            ChangeKind::Removed => grants_text(&c.name, &c.old),
            ChangeKind::Changed => {
                format!(
                    "{} -> {}",
                    grants_text(&c.name, &c.old),
                    grants_text(&c.name, &c.new)
                )
            }
        };
        let _ = writeln!(
            out,
            "  {}  {}",
            style.paint(color, &format!("{mark} {:<width$}", c.name)),
            detail
        );
        if let Some(risk) = c.risk.as_ref().filter(|r| r.class != risk::ORDINARY) {
            let label = format!(
                "{}: {}",
                if risk.risky { "RISKY" } else { "risk" },
                risk.title
            );
            let code = if risk.risky { BOLD_RED } else { DIM };
            let _ = writeln!(out, "      {} - {}", style.paint(code, &label), risk.reason);
        }
        if let Some(usage) = c.usage.as_ref().filter(|u| !u.programs.is_empty()) {
            let _ = writeln!(
                out,
                "      {}",
                style.paint(DIM, &format!("used by: {}", programs_text(usage)))
            );
        }
    }
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Markdown, for a pull-request comment.
pub fn render_markdown(diff: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Seccomp profile diff: `{}` → `{}`\n",
        diff.old.name, diff.new.name
    );
    if diff.widening_only {
        let _ = writeln!(
            out,
            "Only what `{}` allows beyond `{}`.\n",
            diff.new.name, diff.old.name
        );
    }
    if diff.is_empty() {
        out.push_str("No semantic difference.\n");
        return out;
    }
    let s = &diff.summary;
    let warn = if s.risky > 0 { "⚠️ " } else { "" };
    let _ = writeln!(out, "{warn}**{}**\n", summary_line(s));
    if !diff.settings.is_empty() {
        out.push_str("| setting | change | widens |\n| --- | --- | --- |\n");
        for setting in &diff.settings {
            let text = setting_text(setting);
            let (name, change) = text.split_once(": ").unwrap_or(("setting", &text));
            let _ = writeln!(
                out,
                "| {name} | {} | {} |",
                md_escape(change),
                if setting.risky() {
                    "⚠️ yes (risky)"
                } else if setting.widens() {
                    "yes"
                } else {
                    "no"
                }
            );
        }
        out.push('\n');
    }
    if diff.syscalls.iter().any(|c| !c.deny_only()) {
        out.push_str("| | ABI | syscall | before | after | risk | used by |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for c in diff.syscalls.iter().filter(|c| !c.deny_only()) {
            let mark = match c.change {
                ChangeKind::Added => "➕",
                ChangeKind::Removed => "➖",
                ChangeKind::Changed => "✏️",
            };
            let risk = c
                .risk
                .as_ref()
                .filter(|r| r.class != risk::ORDINARY)
                .map_or(String::new(), |r| {
                    format!(
                        "{}**{}**: {}",
                        if r.risky { "⚠️ " } else { "" },
                        r.title,
                        r.reason
                    )
                });
            let used = c.usage.as_ref().map_or(String::new(), programs_text);
            let _ = writeln!(
                out,
                "| {mark} | {} | `{}` | {} | {} | {} | {} |",
                c.abi,
                c.name,
                md_escape(&grants_text(&c.name, &c.old)),
                md_escape(&grants_text(&c.name, &c.new)),
                md_escape(&risk),
                md_escape(&used)
            );
        }
    }
    markdown_deny_only(&mut out, diff);
    out
}

/// Markdown for the deny-only changes, folded: they rarely need a reviewer.
fn markdown_deny_only(out: &mut String, diff: &Diff) {
    let count = diff.syscalls.iter().filter(|c| c.deny_only()).count();
    if count == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "\n<details><summary>{count} rule(s) that only deny, added (+) or removed (-)</summary>\n"
    );
    let abis: BTreeSet<Abi> = diff.syscalls.iter().map(|c| c.abi).collect();
    for abi in abis {
        let names = deny_only_names(
            diff.syscalls
                .iter()
                .filter(|c| c.abi == abi && c.deny_only()),
        );
        if !names.is_empty() {
            let _ = writeln!(out, "- {abi}: `{names}`");
        }
    }
    out.push_str("\n</details>\n");
}

/// JSON, for tools: the [`Diff`] as serialized, pretty, with a trailing newline.
pub fn render_json(diff: &Diff) -> String {
    // Plain data with string keys: serialization cannot fail.
    let mut text = serde_json::to_string_pretty(diff).unwrap_or_default();
    text.push('\n');
    text
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
            &policy(crate::risk::DOCKER_DEFAULT_JSON),
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

    #[test]
    fn implication_of_conditions() {
        let c = |op, value, value_two| ArgCondition {
            index: 0,
            value,
            value_two,
            op,
        };
        assert!(implies(&c(Op::Eq, 5, 0), &c(Op::Lt, 38, 0)));
        assert!(!implies(&c(Op::Eq, 40, 0), &c(Op::Lt, 38, 0)));
        assert!(implies(&c(Op::Lt, 10, 0), &c(Op::Le, 9, 0)));
        assert!(!implies(&c(Op::Lt, 11, 0), &c(Op::Le, 9, 0)));
        assert!(implies(&c(Op::Gt, 40, 0), &c(Op::Ne, 40, 0)));
        assert!(implies(
            &c(Op::MaskedEq, 0xff, 0x01),
            &c(Op::MaskedEq, 0x0f, 0x01)
        ));
        assert!(!implies(
            &c(Op::MaskedEq, 0x0f, 0x01),
            &c(Op::MaskedEq, 0xff, 0x01)
        ));
        let other = ArgCondition {
            index: 1,
            ..c(Op::Eq, 5, 0)
        };
        assert!(!implies(&other, &c(Op::Lt, 38, 0)));
    }
}
