//! A profile resolved against the host into rules, and compiled by libseccomp into the filter
//! the workload runs under (or that reports, for verify and --log-denials).
//!
//! Only the libseccomp glue is here. What a profile means (which conditions hold for given
//! arguments, the errno an action answers with, where a rule is for messages, what is
//! invalid) is `sysallow_profile`'s, the same meaning `diff` and `explain` show.

use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use sysallow_profile::abi::known_on_any_architecture;
use sysallow_profile::errno;
use sysallow_profile::formats::{self, Document};
use sysallow_profile::local_libseccomp::libseccomp_version;
use sysallow_profile::policy::{HostFacts, rule_applies};
use sysallow_profile::profile::{Action, ArgCondition, Op, rule_place};
use sysallow_profile::{Abi, Profile};

use super::{EnforceError, seccomp_err};

// ---------------------------------------------------------------------------------------------
// The policy: a profile resolved against the host, ready for libseccomp
// ---------------------------------------------------------------------------------------------

/// `cond` as libseccomp takes it. `SCMP_CMP_MASKED_EQ` takes `value` as the mask and
/// `valueTwo` as the expected value (libseccomp's `MaskedEqual(mask)` with datum).
fn scmp_compare(cond: &ArgCondition) -> ScmpArgCompare {
    let op = match cond.op {
        Op::Ne => ScmpCompareOp::NotEqual,
        Op::Lt => ScmpCompareOp::Less,
        Op::Le => ScmpCompareOp::LessOrEqual,
        Op::Eq => ScmpCompareOp::Equal,
        Op::Ge => ScmpCompareOp::GreaterEqual,
        Op::Gt => ScmpCompareOp::Greater,
        Op::MaskedEq => ScmpCompareOp::MaskedEqual(cond.value),
    };
    let datum = if cond.op == Op::MaskedEq {
        cond.value_two
    } else {
        cond.value
    };
    ScmpArgCompare::new(cond.index, op, datum)
}

/// One rule after resolution: known names, a concrete action, ANDed conditions.
#[derive(Clone, Debug)]
pub struct Rule {
    /// 1-based position of the rule in the profile's `syscalls`, for messages.
    pub number: usize,
    pub names: Vec<String>,
    pub action: ScmpAction,
    pub conds: Vec<ArgCondition>,
}

/// How the filter treats what the profile denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exactly the profile.
    Enforce,
    /// Errno denials become notifications; the supervisor answers with the profile's errno and
    /// reports them. Kill, trap and trace actions are kept as they are.
    LogDenials,
    /// Every non-allowing action becomes a notification; the supervisor lets the syscall run
    /// and reports it (an ENOSYS answer is kept, so libc falls back as it would when enforced).
    Verify,
    /// Verify without USER_NOTIF: every non-allowing action becomes `SCMP_ACT_LOG`, and the
    /// kernel's audit log (type 1326) is the only report.
    VerifyAuditLog,
}

/// A profile resolved against a host, ready to compile.
#[derive(Clone, Debug)]
pub struct ProfileFilter {
    pub default: ScmpAction,
    pub arches: Vec<ScmpArch>,
    pub rules: Vec<Rule>,
    pub log: bool,
    pub spec_allow: bool,
    pub tsync: bool,
    /// Everything that was left out or ignored, for the user to read.
    pub warnings: Vec<String>,
}

/// Read a profile file (any format `sysallow_profile::formats` reads).
pub fn read_profile(path: &Path) -> Result<Profile, EnforceError> {
    let text = std::fs::read_to_string(path).map_err(|source| EnforceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match formats::read(&text) {
        Ok(Document::Profile(profile)) => Ok(profile),
        Ok(Document::Recording(_)) => Err(EnforceError::NotAProfile {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(EnforceError::Format {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The errno name for a report (`EPERM`), or the number.
pub fn errno_name(errno: i32) -> String {
    u32::try_from(errno)
        .ok()
        .and_then(errno::errno_name)
        .map_or_else(|| format!("errno {errno}"), str::to_owned)
}

/// `action` as libseccomp takes it, with the errno `sysallow_profile::errno::answer` gives it.
fn scmp_action(
    action: Action,
    ret: Option<u32>,
    name: Option<&str>,
    place: &str,
) -> Result<ScmpAction, EnforceError> {
    // `check::errors` has rejected unknown names and errnos above 4095, so this only fails on
    // a profile that skipped the check.
    let errno = || {
        errno::answer(action, ret, name)
            .and_then(|e| e.number())
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| EnforceError::Invalid(format!("{place}: unknown errno {name:?}")))
    };
    Ok(match action {
        Action::Allow => ScmpAction::Allow,
        Action::Errno => ScmpAction::Errno(errno()?),
        Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Trace => ScmpAction::Trace(u16::try_from(errno()?).unwrap_or(u16::MAX)),
        Action::Log => ScmpAction::Log,
        Action::Notify => {
            return Err(EnforceError::Invalid(format!(
                "{place}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath); sysallow does not \
                 act as one"
            )));
        }
    })
}

pub(super) fn is_allowing(action: ScmpAction) -> bool {
    matches!(action, ScmpAction::Allow | ScmpAction::Log)
}

impl ProfileFilter {
    /// Resolve `profile` against `host`.
    pub fn new(profile: &Profile, host: &HostFacts) -> Result<ProfileFilter, EnforceError> {
        sysallow_profile::check::errors(profile)
            .map_err(|e| EnforceError::Invalid(e.to_string()))?;
        let mut warnings = sysallow_profile::check::warnings(profile);
        let default = scmp_action(
            profile.default_action,
            profile.default_errno_ret,
            profile.default_errno.as_deref(),
            "defaultAction",
        )?;

        let native = Abi::native().scmp_arch();
        let mut arch_names: Vec<&String> = profile.architectures.iter().collect();
        if let Some(entry) = profile.arch_map.iter().find(|e| e.architecture == native) {
            arch_names.push(&entry.architecture);
            arch_names.extend(entry.sub_architectures.iter());
        } else if !profile.arch_map.is_empty() {
            warnings.push(format!(
                "archMap has no entry for this host's {native}: only the native architecture is \
                 filtered"
            ));
        }
        let mut arches = Vec::new();
        for name in arch_names {
            let arch: ScmpArch = name
                .parse()
                .map_err(|_| EnforceError::Invalid(format!("unknown architecture {name:?}")))?;
            if !arches.contains(&arch) {
                arches.push(arch);
            }
        }

        let (mut log, mut spec_allow, mut tsync) = (false, false, false);
        for flag in &profile.flags {
            match flag.as_str() {
                "SECCOMP_FILTER_FLAG_LOG" => log = true,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => spec_allow = true,
                "SECCOMP_FILTER_FLAG_TSYNC" => tsync = true,
                other => warnings.push(format!("flag {other} is not supported; ignored")),
            }
        }
        if profile.listener_path.is_some() {
            warnings.push("listenerPath is ignored: sysallow does not start seccomp agents".into());
        }

        let mut unknown = Vec::new();
        let mut rules = Vec::new();
        for (i, rule) in profile.syscalls.iter().enumerate() {
            let number = i + 1;
            let place = rule_place(i, rule);
            if !rule_applies(rule, host)
                .map_err(|e| EnforceError::Invalid(format!("{place}: {e}")))?
            {
                continue;
            }
            let action = scmp_action(rule.action, rule.errno_ret, rule.errno.as_deref(), &place)?;
            let mut names = Vec::new();
            for name in &rule.names {
                if ScmpSyscall::from_name(name).is_ok() {
                    names.push(name.clone());
                } else if action != default
                    && !unknown.contains(name)
                    && known_on_any_architecture(name)
                {
                    // A name in a rule that only repeats the default action changes nothing
                    // when left out (the generator pins the highest syscalls that way); a name
                    // no architecture knows is already among the check's warnings.
                    unknown.push(name.clone());
                }
            }
            let conds = rule.args.clone();
            // runc: several conditions on one argument cannot share a libseccomp rule; each
            // becomes its own rule (so they are ORed).
            let repeated = conds
                .iter()
                .any(|c| conds.iter().filter(|d| d.index == c.index).count() > 1);
            if repeated {
                for cond in conds {
                    rules.push(Rule {
                        number,
                        names: names.clone(),
                        action,
                        conds: vec![cond],
                    });
                }
            } else {
                rules.push(Rule {
                    number,
                    names,
                    action,
                    conds,
                });
            }
        }
        if !unknown.is_empty() {
            let version = libseccomp_version();
            warnings.push(format!(
                "libseccomp {version} does not know {} syscall name(s), left out of the filter \
                 (they get the default action): {}",
                unknown.len(),
                unknown.join(", ")
            ));
        }
        Ok(ProfileFilter {
            default,
            arches,
            rules,
            log,
            spec_allow,
            tsync,
            warnings,
        })
    }

    /// Read `path` and resolve it against this host.
    pub fn from_file(path: &Path) -> Result<ProfileFilter, EnforceError> {
        ProfileFilter::new(&read_profile(path)?, &crate::host::facts())
    }

    pub(super) fn mapped(action: ScmpAction, mode: Mode) -> ScmpAction {
        match (mode, action) {
            (_, a) if is_allowing(a) => a,
            (Mode::Enforce, a) => a,
            (Mode::LogDenials, ScmpAction::Errno(_)) => ScmpAction::Notify,
            (Mode::LogDenials, a) => a,
            (Mode::Verify, _) => ScmpAction::Notify,
            (Mode::VerifyAuditLog, _) => ScmpAction::Log,
        }
    }

    /// Compile the policy with libseccomp for `mode`.
    pub fn filter(&self, mode: Mode) -> Result<ScmpFilterContext, EnforceError> {
        let default = Self::mapped(self.default, mode);
        let mut ctx = ScmpFilterContext::new(default)
            .map_err(seccomp_err(format!("default action {default:?}")))?;
        for &arch in &self.arches {
            let present = ctx
                .is_arch_present(arch)
                .map_err(seccomp_err(format!("architecture {arch:?}")))?;
            if !present {
                ctx.add_arch(arch)
                    .map_err(seccomp_err(format!("architecture {arch:?}")))?;
            }
        }
        if mode == Mode::Verify {
            // A syscall of an ABI the profile does not list would kill the thread; in verify
            // mode it is reported (as a kill) instead.
            ctx.set_act_badarch(ScmpAction::Notify)
                .map_err(seccomp_err("the bad-architecture action"))?;
        }
        ctx.set_ctl_nnp(true).map_err(seccomp_err("no_new_privs"))?;
        if self.log {
            ctx.set_ctl_log(true)
                .map_err(seccomp_err("SECCOMP_FILTER_FLAG_LOG"))?;
        }
        if self.spec_allow {
            ctx.set_ctl_ssb(true)
                .map_err(seccomp_err("SECCOMP_FILTER_FLAG_SPEC_ALLOW"))?;
        }
        if self.tsync && mode == Mode::Enforce {
            ctx.set_ctl_tsync(true)
                .map_err(seccomp_err("SECCOMP_FILTER_FLAG_TSYNC"))?;
        }
        for rule in &self.rules {
            let action = Self::mapped(rule.action, mode);
            if action == default {
                continue;
            }
            let conds: Vec<ScmpArgCompare> = rule.conds.iter().map(scmp_compare).collect();
            for name in &rule.names {
                let what = format!("rule #{} for {name} ({action:?})", rule.number);
                let syscall = ScmpSyscall::from_name(name).map_err(seccomp_err(what.clone()))?;
                let added = if conds.is_empty() {
                    ctx.add_rule(action, syscall)
                } else {
                    ctx.add_rule_conditional(action, syscall, &conds)
                };
                added.map_err(seccomp_err(what))?;
            }
        }
        Ok(ctx)
    }

    /// What the profile does with syscall `name` (`args` as the workload passed them): the
    /// first matching non-allowing rule's action, an allowing rule's, else the default.
    pub fn verdict(&self, name: &str, args: &[u64; 6], wide: bool) -> ScmpAction {
        let mut allowed = None;
        for rule in self
            .rules
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
        {
            if rule.conds.iter().all(|c| c.holds(args, wide)) {
                if !is_allowing(rule.action) {
                    return rule.action;
                }
                allowed.get_or_insert(rule.action);
            }
        }
        allowed.unwrap_or(self.default)
    }

    /// Whether the filter holds `arch` (the native one always).
    pub fn has_arch(&self, arch: ScmpArch) -> bool {
        arch == ScmpArch::native() || self.arches.contains(&arch)
    }

    /// The errno the profile answers `execve` with, if it denies it.
    pub fn execve_errno(&self) -> Option<i32> {
        match self.verdict("execve", &[0; 6], true) {
            ScmpAction::Errno(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the profile lets the workload start at all.
    pub fn allows_execve(&self) -> bool {
        is_allowing(self.verdict("execve", &[0; 6], true))
    }
}
