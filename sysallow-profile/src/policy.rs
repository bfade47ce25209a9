//! The policy model: what a Recording or a Profile lets each syscall do, per ABI, in a form
//! where wording disappears (rule order, grouping, archMap vs architectures, the file format).
//! `diff` compares two of these, `risk` classifies against Docker's, `explain` describes one,
//! `ceiling` reads Docker's limits from one.
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::abi::Abi;
use crate::caps;
use crate::errno;
pub use crate::errno::Errno;
use crate::formats::Document;
use crate::profile::{Action, ArgCondition, Op, Profile, RuleFilter};
use crate::recording::Recording;

/// The facts a rule's `includes`/`excludes` are evaluated against where a profile is loaded
/// (moby's semantics; `Gate` is the same conditions kept as data for comparison).
#[derive(Clone, Debug)]
pub struct HostFacts {
    /// Every spelling of the native architecture (`amd64`, `x86_64`, `SCMP_ARCH_X86_64`).
    pub arch_names: Vec<String>,
    /// Effective capabilities, as `CAP_*` names.
    pub caps: BTreeSet<String>,
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
}

/// Whether `rule` applies on `host`: excluded by any `excludes` that matches (an arch, any one
/// capability, a kernel at least `minKernel`), and only where every `includes` holds.
pub fn rule_applies(rule: &crate::profile::SyscallRule, host: &HostFacts) -> Result<bool, String> {
    let arch_in = |f: &RuleFilter| f.arches.iter().any(|a| host.arch_names.contains(a));
    let kernel_at_least = |v: &str| {
        parse_kernel(v)
            .map(|min| host.kernel >= min)
            .ok_or_else(|| format!("minKernel {v:?} is not a kernel version"))
    };
    let ex = &rule.excludes;
    if !ex.arches.is_empty() && arch_in(ex) {
        return Ok(false);
    }
    if ex
        .caps
        .iter()
        .any(|c| host.caps.contains(&caps::normalize(c)))
    {
        return Ok(false);
    }
    if let Some(min) = &ex.min_kernel
        && kernel_at_least(min)?
    {
        return Ok(false);
    }
    let inc = &rule.includes;
    if !inc.arches.is_empty() && !arch_in(inc) {
        return Ok(false);
    }
    if !inc
        .caps
        .iter()
        .all(|c| host.caps.contains(&caps::normalize(c)))
    {
        return Ok(false);
    }
    if let Some(min) = &inc.min_kernel
        && !kernel_at_least(min)?
    {
        return Ok(false);
    }
    Ok(true)
}

/// `6.18.44-foo` -> (6, 18); `4.8` -> (4, 8).
pub fn parse_kernel(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()
        .map_or(Some(0), |m| {
            m.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    Some((major, minor))
}

/// What happens to a call: an action and, for `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`, its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Verdict {
    pub action: Action,
    /// Always set for `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` (EPERM where the file gives
    /// none, see [`errno::answer`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<Errno>,
}

impl Verdict {
    fn new(action: Action, number: Option<u32>, name: Option<&str>) -> Verdict {
        Verdict {
            action,
            errno: errno::answer(action, number, name),
        }
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

/// How a Recording allows `name`: for its observed argument values where they are complete and
/// the default argument level writes rules for them, else unconditionally.
fn recorded_grants(name: &str, values: Option<&crate::args::ArgValues>) -> BTreeSet<Grant> {
    let sets = values
        .filter(|v| !v.overflow && !v.values.is_empty())
        .and_then(|v| crate::args::rules(name, &v.values, crate::args::ArgsLevel::default()));
    match sets {
        Some(sets) => sets
            .into_iter()
            .map(|args| Grant {
                args,
                ..Grant::allow()
            })
            .collect(),
        None => BTreeSet::from([Grant::allow()]),
    }
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

    /// The policy a Recording stands for: exactly its syscalls, per ABI; those with a complete
    /// set of captured argument values only for those values, as `--args safe` (the default)
    /// generates them (clone's namespace flags, socket domains, personality), the others
    /// unconditionally; everything else denied (EPERM, as a generated profile does by default);
    /// the architectures are the ABIs it saw.
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
                grants.insert(name.clone(), recorded_grants(&name, seen.args.as_ref()));
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
            default: Verdict::new(Action::Errno, Some(errno::EPERM), None),
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

pub(crate) fn allowance(default: &Verdict, grants: &BTreeSet<Grant>) -> Allowance {
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
pub(crate) fn covered(grant: &Grant, old: &BTreeSet<Grant>) -> bool {
    if old.contains(grant) {
        return true;
    }
    if grant.gate.below_kernel.is_some() {
        // Applies to no current kernel (see `Gate::always_met`).
        return true;
    }
    let mut held: BTreeSet<&str> = grant.gate.caps.iter().map(String::as_str).collect();
    for cap in caps::docker_defaults() {
        held.insert(cap);
    }
    held.retain(|c| !grant.gate.without_caps.contains(*c));
    old.iter().any(|o| {
        o.verdict.allows()
            && o.gate.below_kernel.is_none()
            && o.gate.caps.iter().all(|c| held.contains(c.as_str()))
            && !o
                .gate
                .without_caps
                .iter()
                .any(|c| held.contains(c.as_str()))
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
        (Op::Eq, _) => need.holds_for(v),
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

#[cfg(test)]
mod tests {
    use super::*;

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
