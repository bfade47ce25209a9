//! Enforcing a profile without a container runtime: `sysallow run` and `sysallow verify`.
//!
//! The profile (Docker format, read through `profile_gen::formats`) is compiled by libseccomp,
//! exactly as runc and crun compile it, into the process that then `execve`s the workload.
//! Nothing is added to the profile: the workload's first syscall under the filter is that
//! `execve`, so the profile must allow it (the recorder records the exec, so a generated profile
//! does).
//!
//! Semantics, following moby (`profiles/seccomp`) and runc (`libcontainer/seccomp`):
//! - `defaultAction`; `defaultErrnoRet` (or Podman's `defaultErrno` string), EPERM when absent.
//! - Per rule `action`, `errnoRet` (or Podman's `errno`), EPERM when absent.
//! - `args`: conditions in one rule are ANDed; several conditions on the same argument index are
//!   split into one rule each (ORed), as runc does, since one libseccomp rule cannot hold them.
//!   `SCMP_CMP_MASKED_EQ` takes `value` as the mask and `valueTwo` as the expected value.
//! - `architectures` are all added; from `archMap` only the entry of the native architecture
//!   (with its sub-architectures) is used, as moby does. The native one is always present.
//!   A syscall of an architecture the filter does not hold kills the thread (libseccomp's
//!   default bad-architecture action, as under runc).
//! - `includes`/`excludes`: `arches` is compared with the host architecture (Go, uname and
//!   `SCMP_ARCH_*` spellings); `caps` with this process's effective capabilities (moby uses the
//!   container's bounding set; here the workload runs with our effective set); `minKernel` with
//!   `uname -r`. A rule is used when every `includes` condition holds and no `excludes` one does.
//! - `flags`: `SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW`, `..._TSYNC`.
//! - A syscall name the local libseccomp does not know is reported in [`ProfileFilter::warnings`] and
//!   left out; a rule whose action equals the default action is a no-op and left out (libseccomp
//!   refuses such rules).
//! - no_new_privs is always set (libseccomp's default), so no privilege is needed.
//!
//! Reporting (`run --log-denials`, `verify`) uses `SECCOMP_RET_USER_NOTIF`: the filter answers
//! denied syscalls with a notification, and a supervisor process decides. See [`supervise`].

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use profile_gen::policy::{HostFacts, parse_kernel, rule_applies as applies};

use crate::exec::{ExecImage, ExecPointers, HasNul, Lookup, find_program};

use libseccomp::error::SeccompError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpNotifReq,
    ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall,
};
use profile_gen::formats::{self, Document, FormatError};
use profile_gen::profile::{Action, Op};
use profile_gen::{Abi, Profile};

/// Why a profile could not be enforced, or a command not started.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error("cannot read profile {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}")]
    Format { path: PathBuf, source: FormatError },
    #[error(
        "{path} is a recording, not a profile: make a profile with `sysallow generate {path} -o PROFILE`"
    )]
    NotAProfile { path: PathBuf },
    #[error("invalid profile: {0}")]
    Invalid(String),
    #[error("libseccomp refused {what}")]
    Seccomp { what: String, source: SeccompError },
    #[error("{what}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// `reason` is "command not found" for a name searched in `$PATH`, as a shell says.
    #[error("{command}: {reason}")]
    NotFound { command: String, reason: String },
    #[error("{command}: {reason}")]
    NotExecutable { command: String, reason: String },
}

impl EnforceError {
    /// The exit status `sysallow run`/`verify` use for this error: 127 for a command that does
    /// not exist and 126 for one that cannot be executed (as a shell does), 2 for a profile that
    /// cannot be read or used, 1 for anything else.
    pub fn status(&self) -> u8 {
        match self {
            EnforceError::NotFound { .. } => 127,
            EnforceError::NotExecutable { .. } => 126,
            EnforceError::Read { .. }
            | EnforceError::Format { .. }
            | EnforceError::NotAProfile { .. }
            | EnforceError::Invalid(_) => 2,
            EnforceError::Seccomp { .. } | EnforceError::Io { .. } => 1,
        }
    }
}

fn seccomp_err(what: impl Into<String>) -> impl FnOnce(SeccompError) -> EnforceError {
    let what = what.into();
    move |source| EnforceError::Seccomp { what, source }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnforceError {
    let what = what.into();
    move |source| EnforceError::Io { what, source }
}

// ---------------------------------------------------------------------------------------------
// The host a profile is evaluated against
// ---------------------------------------------------------------------------------------------

/// Capability names by bit number (linux/capability.h).
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// This machine and this process, as a profile's `includes`/`excludes` see them.
pub fn host_facts() -> HostFacts {
    let abi = Abi::native();
    let go = match abi {
        Abi::X86_64 => "amd64",
        Abi::X86 => "386",
        Abi::Aarch64 => "arm64",
        Abi::Arm => "arm",
    };
    let cap_eff = crate::privilege::effective_caps();
    let caps = CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| cap_eff & (1u64 << bit) != 0)
        .map(|(_, name)| (*name).to_string())
        .collect();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    HostFacts {
        arch_names: vec![
            go.to_string(),
            abi.name().to_string(),
            abi.scmp_arch().to_string(),
        ],
        caps,
        kernel: parse_kernel(&release).unwrap_or((0, 0)),
    }
}

// ---------------------------------------------------------------------------------------------
// The policy: a profile resolved against the host, ready for libseccomp
// ---------------------------------------------------------------------------------------------

/// One argument condition (`SCMP_CMP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    pub index: u32,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

impl Cond {
    fn to_scmp(self) -> ScmpArgCompare {
        let op = match self.op {
            Op::Ne => ScmpCompareOp::NotEqual,
            Op::Lt => ScmpCompareOp::Less,
            Op::Le => ScmpCompareOp::LessOrEqual,
            Op::Eq => ScmpCompareOp::Equal,
            Op::Ge => ScmpCompareOp::GreaterEqual,
            Op::Gt => ScmpCompareOp::Greater,
            Op::MaskedEq => ScmpCompareOp::MaskedEqual(self.value),
        };
        let datum = if self.op == Op::MaskedEq {
            self.value_two
        } else {
            self.value
        };
        ScmpArgCompare::new(self.index, op, datum)
    }

    /// The same comparison in user space (for the supervisor's report). 32-bit ABIs pass
    /// 32-bit arguments, so only the low halves are compared there.
    fn matches(self, args: &[u64; 6], wide: bool) -> bool {
        let narrow = |v: u64| if wide { v } else { v & 0xffff_ffff };
        let Some(&arg) = args.get(self.index as usize) else {
            return false;
        };
        let (arg, value, two) = (narrow(arg), narrow(self.value), narrow(self.value_two));
        match self.op {
            Op::Ne => arg != value,
            Op::Lt => arg < value,
            Op::Le => arg <= value,
            Op::Eq => arg == value,
            Op::Ge => arg >= value,
            Op::Gt => arg > value,
            Op::MaskedEq => arg & value == two,
        }
    }
}

/// One rule after resolution: known names, a concrete action, ANDed conditions.
#[derive(Clone, Debug)]
pub struct Rule {
    /// 1-based position of the rule in the profile's `syscalls`, for messages.
    pub number: usize,
    pub names: Vec<String>,
    pub action: ScmpAction,
    pub conds: Vec<Cond>,
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

/// Read a profile file (any format `profile_gen::formats` reads).
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

/// An errno by name (Podman's `errno`/`defaultErrno`: `ENOSYS`) or number, from the one
/// errno table (`profile_gen::formats`, the `syscalls` crate's).
fn errno_from_name(name: &str) -> Option<i32> {
    let upper = name.trim().to_ascii_uppercase();
    profile_gen::formats::errno_number(&upper)
        .and_then(|n| i32::try_from(n).ok())
        .or_else(|| upper.parse().ok())
}

/// The errno name for a report (`EPERM`), or the number.
pub fn errno_name(errno: i32) -> String {
    u32::try_from(errno)
        .ok()
        .and_then(profile_gen::formats::errno_name)
        .map_or_else(|| format!("errno {errno}"), str::to_owned)
}

fn resolve_errno(ret: Option<u32>, name: Option<&str>, place: &str) -> Result<i32, EnforceError> {
    if let Some(ret) = ret {
        return i32::try_from(ret)
            .ok()
            .filter(|e| (0..=4095).contains(e))
            .ok_or_else(|| EnforceError::Invalid(format!("{place}: errno {ret} is out of range")));
    }
    match name {
        Some(name) => errno_from_name(name)
            .ok_or_else(|| EnforceError::Invalid(format!("{place}: unknown errno {name:?}"))),
        None => Ok(libc::EPERM),
    }
}

fn resolve_action(
    action: Action,
    ret: Option<u32>,
    name: Option<&str>,
    place: &str,
) -> Result<ScmpAction, EnforceError> {
    Ok(match action {
        Action::Allow => ScmpAction::Allow,
        Action::Errno => ScmpAction::Errno(resolve_errno(ret, name, place)?),
        Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Trace => {
            let errno = resolve_errno(ret, name, place)?;
            ScmpAction::Trace(u16::try_from(errno).unwrap_or(u16::MAX))
        }
        Action::Log => ScmpAction::Log,
        Action::Notify => {
            return Err(EnforceError::Invalid(format!(
                "{place}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath); sysallow does not \
                 act as one"
            )));
        }
    })
}

fn is_allowing(action: ScmpAction) -> bool {
    matches!(action, ScmpAction::Allow | ScmpAction::Log)
}

impl ProfileFilter {
    /// Resolve `profile` against `host`.
    pub fn new(profile: &Profile, host: &HostFacts) -> Result<ProfileFilter, EnforceError> {
        let mut warnings = Vec::new();
        let default = resolve_action(
            profile.default_action,
            profile.default_errno_ret,
            profile.default_errno.as_deref(),
            "defaultAction",
        )?;

        if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
            return Err(EnforceError::Invalid(
                "both `architectures` and `archMap` are given; use one".into(),
            ));
        }
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
            let place = format!("syscalls[{i}] ({})", rule.names.join(", "));
            if !applies(rule, host).map_err(|e| EnforceError::Invalid(format!("{place}: {e}")))? {
                continue;
            }
            let action =
                resolve_action(rule.action, rule.errno_ret, rule.errno.as_deref(), &place)?;
            let mut names = Vec::new();
            for name in &rule.names {
                if ScmpSyscall::from_name(name).is_ok() {
                    names.push(name.clone());
                } else if action != default && !unknown.contains(name) {
                    // A name in a rule that only repeats the default action changes nothing
                    // when left out (the generator pins the highest syscalls that way).
                    unknown.push(name.clone());
                }
            }
            let mut conds = Vec::new();
            for arg in &rule.args {
                if arg.index > 5 {
                    return Err(EnforceError::Invalid(format!(
                        "{place}: argument index {} is out of range (0-5)",
                        arg.index
                    )));
                }
                conds.push(Cond {
                    index: arg.index,
                    op: arg.op,
                    value: arg.value,
                    value_two: arg.value_two,
                });
            }
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
            let version = libseccomp::ScmpVersion::current()
                .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
                .unwrap_or_else(|_| "?".into());
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
        ProfileFilter::new(&read_profile(path)?, &host_facts())
    }

    fn mapped(action: ScmpAction, mode: Mode) -> ScmpAction {
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
            let conds: Vec<ScmpArgCompare> = rule.conds.iter().map(|c| c.to_scmp()).collect();
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
            if rule.conds.iter().all(|c| c.matches(args, wide)) {
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

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// A command resolved like a shell does (`exec::find_program`, the one search `record` uses
/// too), with everything `execve` needs prepared in advance (nothing may be allocated once the
/// filter is loaded or after fork).
pub struct Command {
    /// What the user typed, for messages.
    pub display: String,
    pub image: ExecImage,
}

impl Command {
    /// Find `program` and prepare its `execve`.
    pub fn resolve(program: &OsStr, args: &[OsString]) -> Result<Command, EnforceError> {
        let display = program.to_string_lossy().into_owned();
        let path = find_program(program).map_err(|lookup| match lookup {
            Lookup::NotFound { reason } => EnforceError::NotFound {
                command: display.clone(),
                reason: reason.into(),
            },
            Lookup::NotExecutable { reason, .. } => EnforceError::NotExecutable {
                command: display.clone(),
                reason,
            },
        })?;
        let mut argv = vec![program.to_owned()];
        argv.extend(args.iter().cloned());
        let image = ExecImage::new(&path, &argv, std::env::vars_os()).map_err(|HasNul(what)| {
            EnforceError::Invalid(format!("{what:?} contains a NUL byte"))
        })?;
        Ok(Command { display, image })
    }
}

/// Messages for an `execve` that fails after the filter is loaded, formatted in advance:
/// afterwards any syscall (even `brk` for an allocation) may be denied.
struct ExecFailure {
    prefix: Vec<u8>,
    by_errno: Vec<Vec<u8>>,
    denied_errno: Option<i32>,
    denied_note: Vec<u8>,
}

impl ExecFailure {
    fn new(cmd: &Command, policy: &ProfileFilter) -> ExecFailure {
        let by_errno = (0..134)
            .map(|e| {
                let mut m = std::io::Error::from_raw_os_error(e).to_string();
                if let Some(i) = m.find(" (os error") {
                    m.truncate(i);
                }
                m.push('\n');
                m.into_bytes()
            })
            .collect();
        ExecFailure {
            prefix: format!("sysallow: {}: cannot execute: ", cmd.display).into_bytes(),
            by_errno,
            denied_errno: policy.execve_errno(),
            denied_note: b"sysallow: the profile denies execve, so no command can start under \
it; add execve to the profile (a recording always contains the exec)\n"
                .to_vec(),
        }
    }

    /// Write the message for `errno` with raw `write(2)`s, then `_exit` (126, or 127 when the
    /// file vanished). Only async-signal-safe calls.
    fn report_and_exit(&self, errno: i32) -> ! {
        let write = |bytes: &[u8]| {
            // SAFETY: writing a valid buffer to fd 2; the result is ignored on purpose (there
            // is nowhere else to report to).
            unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        };
        write(&self.prefix);
        match usize::try_from(errno)
            .ok()
            .and_then(|e| self.by_errno.get(e))
        {
            Some(m) => write(m),
            None => write(b"unknown error\n"),
        }
        if Some(errno) == self.denied_errno {
            write(&self.denied_note);
        }
        let status = if errno == libc::ENOENT { 127 } else { 126 };
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(status) }
    }
}

/// Load the policy into this process and replace it with `cmd`. Returns only on errors before
/// the filter is loaded; an `execve` failure afterwards is reported on stderr and the process
/// exits with 126 (127 if the file disappeared).
pub fn exec_enforced(
    policy: &ProfileFilter,
    cmd: &Command,
    mode: Mode,
) -> Result<std::convert::Infallible, EnforceError> {
    let ctx = policy.filter(mode)?;
    let args = cmd.image.pointers();
    let failure = ExecFailure::new(cmd, policy);
    ctx.load().map_err(seccomp_err("loading the filter"))?;
    // SAFETY: path, argv and envp are NUL-terminated strings and NULL-terminated arrays that
    // live in `cmd` and `args` for the duration of the call.
    unsafe {
        libc::execve(
            cmd.image.path.as_ptr(),
            args.argv.as_ptr(),
            args.envp.as_ptr(),
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    failure.report_and_exit(errno)
}

// ---------------------------------------------------------------------------------------------
// Supervised runs: SECCOMP_RET_USER_NOTIF
// ---------------------------------------------------------------------------------------------

/// Whether the kernel offers SECCOMP_RET_USER_NOTIF.
pub fn user_notif_available() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
        .is_ok_and(|a| a.split_whitespace().any(|w| w == "user_notif"))
}

/// One reported syscall: how often, and what the profile says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub count: u64,
    pub action: ScmpAction,
    /// For a syscall whose argument sysallow captures: the values it was denied for, named
    /// (`AF_VSOCK, SOCK_STREAM`), so that an argument rule that is too narrow says which.
    pub values: std::collections::BTreeSet<String>,
}

/// What a supervised run saw.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per (ABI, syscall name): syscalls the profile denies (in verify mode, they ran anyway).
    pub denied: BTreeMap<(String, String), Denial>,
    /// Verify only: syscalls answered with ENOSYS as the profile says, so libc falls back as it
    /// would under enforcement. Not counted as missing.
    pub fallbacks: BTreeMap<(String, String), Denial>,
}

/// How the supervised command ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Exit status as a shell reports it: the code, or 128 + signal.
    pub status: u8,
    pub report: Report,
}

fn arch_label(arch: ScmpArch) -> String {
    match arch {
        ScmpArch::X8664 => "x86_64".into(),
        ScmpArch::X86 => "x86".into(),
        ScmpArch::Aarch64 => "aarch64".into(),
        ScmpArch::Arm => "arm".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

fn is_wide(arch: ScmpArch) -> bool {
    !matches!(
        arch,
        ScmpArch::X86 | ScmpArch::Arm | ScmpArch::X32 | ScmpArch::Mips | ScmpArch::Mipsel
    )
}

/// State shared with the child between clone and exec (a MAP_SHARED page).
#[repr(C)]
struct Shared {
    listener: AtomicI32,
    setup_errno: AtomicI32,
}

/// The BPF program libseccomp generates for `ctx` (exported through a temporary file:
/// `seccomp_export_bpf_mem` needs libseccomp 2.6).
fn bpf_program(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, EnforceError> {
    let mut file = tempfile::tempfile().map_err(io_err("creating a temporary file"))?;
    ctx.export_bpf(&file)
        .map_err(seccomp_err("exporting the filter"))?;
    file.rewind()
        .map_err(io_err("reading the exported filter"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(io_err("reading the exported filter"))?;
    let program = bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect::<Vec<_>>();
    if program.is_empty() || program.len() > usize::from(u16::MAX) {
        return Err(EnforceError::Invalid(format!(
            "the compiled filter has {} instructions",
            program.len()
        )));
    }
    Ok(program)
}

/// Run `cmd` under the policy in a child, supervising its notifications; `on_event` is called
/// the first time each (ABI, syscall) is reported (with `true` for an ENOSYS fallback).
///
/// The child is created with `CLONE_FILES`, so the listener fd it gets from `seccomp()` lands
/// in the table it shares with us; `execve` then unshares the table and closes the child's copy
/// (the listener is close-on-exec). This way the child makes no syscall between installing the
/// filter and `execve`: passing the fd over a socket would itself be a filtered syscall, which
/// would wait for a supervisor that does not have the fd yet.
pub fn supervise(
    policy: &ProfileFilter,
    cmd: &Command,
    mode: Mode,
    mut on_event: impl FnMut(&str, &str, ScmpAction, bool),
) -> Result<Outcome, EnforceError> {
    // The supervisor learns that the command ended through a pidfd. Without one (kernels
    // before 5.3, or pidfd_open denied to sysallow itself) it could only block in waitpid
    // while the command waits for an answer to a notification: say so before starting it.
    // SAFETY: pidfd_open on this process; the fd is closed at once.
    let probe = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if probe < 0 {
        return Err(EnforceError::Io {
            what: "pidfd_open, which verify and run --log-denials need to watch the command \
                   (Linux 5.3 or later, not denied to sysallow)"
                .into(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: closing the fd just opened.
    unsafe { libc::close(i32::try_from(probe).unwrap_or(-1)) };
    let ctx = policy.filter(mode)?;
    let program = bpf_program(&ctx)?;
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len()).unwrap_or(u16::MAX),
        filter: program.as_ptr().cast_mut(),
    };
    let mut flags = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    if policy.log {
        flags |= libc::SECCOMP_FILTER_FLAG_LOG;
    }
    if policy.spec_allow {
        flags |= libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    }
    let args = cmd.image.pointers();
    let failure = ExecFailure::new(cmd, policy);

    // SAFETY: an anonymous shared mapping of one page; checked for MAP_FAILED below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(EnforceError::Io {
            what: "mapping a shared page".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    let shared = page.cast::<Shared>();
    // SAFETY: the page is fresh, writable, page-aligned and large enough for `Shared`.
    unsafe {
        shared.write(Shared {
            listener: AtomicI32::new(-1),
            setup_errno: AtomicI32::new(0),
        });
    }
    // SAFETY: initialised above; lives until munmap at the end of this function.
    let shared_ref: &Shared = unsafe { &*shared };
    let result = supervise_inner(
        cmd,
        &prog,
        flags,
        &args,
        &failure,
        shared_ref,
        policy,
        mode,
        &mut on_event,
    );
    // SAFETY: unmapping the page mapped above; the child no longer uses it (it exec'd or died).
    unsafe { libc::munmap(page, 4096) };
    result
}

#[expect(clippy::too_many_arguments, reason = "one private call site")]
fn supervise_inner(
    cmd: &Command,
    prog: &libc::sock_fprog,
    flags: libc::c_ulong,
    args: &ExecPointers,
    failure: &ExecFailure,
    shared: &Shared,
    policy: &ProfileFilter,
    mode: Mode,
    on_event: &mut impl FnMut(&str, &str, ScmpAction, bool),
) -> Result<Outcome, EnforceError> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: a fork-like clone (no CLONE_VM: the child gets a copy-on-write copy of our
    // memory) that shares the fd table. In the child only raw syscalls and atomic stores run
    // until execve or _exit, all async-signal-safe.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::CLONE_FILES | libc::SIGCHLD,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY (whole block): raw syscalls on data prepared before clone.
        unsafe {
            // Never outlive the supervisor: without it, notified syscalls would fail.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                shared
                    .setup_errno
                    .store(*libc::__errno_location(), Ordering::Release);
                libc::_exit(1);
            }
            let fd = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                prog as *const libc::sock_fprog,
            );
            if fd < 0 {
                shared
                    .setup_errno
                    .store(*libc::__errno_location(), Ordering::Release);
                libc::_exit(1);
            }
            shared
                .listener
                .store(i32::try_from(fd).unwrap_or(-1), Ordering::Release);
            libc::execve(
                cmd.image.path.as_ptr(),
                args.argv.as_ptr(),
                args.envp.as_ptr(),
            );
            failure.report_and_exit(*libc::__errno_location())
        }
    }
    if pid < 0 {
        return Err(EnforceError::Io {
            what: "starting the command".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    let pid = libc::pid_t::try_from(pid).unwrap_or(-1);
    // A terminal's ^C reaches the command, which decides; the supervisor stays to the end (as
    // a shell waiting for a foreground job does).
    // SAFETY: setting signal dispositions to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    // SAFETY: pidfd_open on our own unreaped child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let pidfd = i32::try_from(pidfd).unwrap_or(-1);
    if pidfd < 0 {
        // Worked for this process a moment ago; without it the command could not be watched.
        let source = std::io::Error::last_os_error();
        // SAFETY: ending and reaping the child we started, by its pid.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
        }
        return Err(EnforceError::Io {
            what: "pidfd_open on the command".into(),
            source,
        });
    }

    let mut report = Report::default();
    let mut listener = -1;
    loop {
        if listener < 0 {
            listener = shared.listener.load(Ordering::Acquire);
        }
        let mut fds = [
            libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Until the listener exists, poll the pidfd alone with a short timeout.
        let (n, timeout) = if listener < 0 { (1, 1) } else { (2, -1) };
        // SAFETY: `fds` is a valid array of at least `n` pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), n, timeout) };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(EnforceError::Io {
                what: "waiting for the command".into(),
                source: err,
            });
        }
        if n == 2 && fds[1].revents & libc::POLLIN != 0 {
            handle_notification(listener, policy, mode, &mut report, on_event);
            continue;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            break;
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // SAFETY: closing fds we own (the listener is ours since the child exec'd or died).
    unsafe {
        if listener >= 0 {
            libc::close(listener);
        }
        libc::close(pidfd);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
    let setup = shared.setup_errno.load(Ordering::Acquire);
    if setup != 0 {
        return Err(EnforceError::Io {
            what: "installing the filter with a user-notification listener".into(),
            source: std::io::Error::from_raw_os_error(setup),
        });
    }
    let status = if libc::WIFEXITED(status) {
        u8::try_from(libc::WEXITSTATUS(status)).unwrap_or(1)
    } else if libc::WIFSIGNALED(status) {
        u8::try_from(128 + libc::WTERMSIG(status)).unwrap_or(255)
    } else {
        1
    };
    Ok(Outcome { status, report })
}

fn handle_notification(
    fd: i32,
    policy: &ProfileFilter,
    mode: Mode,
    report: &mut Report,
    on_event: &mut impl FnMut(&str, &str, ScmpAction, bool),
) {
    // A notification may vanish (the task was killed) between poll and receive: ignore.
    let Ok(req) = ScmpNotifReq::receive(fd) else {
        return;
    };
    let arch = req.data.arch;
    let name = req
        .data
        .syscall
        .get_name_by_arch(arch)
        .unwrap_or_else(|_| format!("syscall {}", req.data.syscall.as_raw_syscall()));
    let action = if policy.has_arch(arch) {
        policy.verdict(&name, &req.data.args, is_wide(arch))
    } else {
        ScmpAction::KillThread
    };
    let (resp, fallback) = match (mode, action) {
        (Mode::Verify, ScmpAction::Errno(e)) if e == libc::ENOSYS => (
            ScmpNotifResp::new_error(req.id, -e, ScmpNotifRespFlags::empty()),
            true,
        ),
        (Mode::Verify, _) => (
            ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()),
            false,
        ),
        (_, ScmpAction::Errno(e)) if e > 0 => (
            ScmpNotifResp::new_error(req.id, -e, ScmpNotifRespFlags::empty()),
            false,
        ),
        // Errno 0 (a fake success), or a verdict the filter did not ask about.
        _ => (
            ScmpNotifResp::new_val(req.id, 0, ScmpNotifRespFlags::empty()),
            false,
        ),
    };
    let abi = arch_label(arch);
    let book = if fallback {
        &mut report.fallbacks
    } else {
        &mut report.denied
    };
    let entry = book.entry((abi.clone(), name.clone())).or_insert(Denial {
        count: 0,
        action,
        values: std::collections::BTreeSet::new(),
    });
    entry.count += 1;
    if let Some(value) = profile_gen::args::capture_of(&name)
        .and_then(|c| profile_gen::args::value_of(c, &req.data.args, is_wide(arch)))
        && entry.values.len() < 16
    {
        entry
            .values
            .insert(profile_gen::args::describe(&name, value));
    }
    if entry.count == 1 {
        on_event(&abi, &name, action, fallback);
    }
    // The task may have died meanwhile (ENOENT): nothing to answer.
    let _ = resp.respond(fd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use profile_gen::profile::{ArchMapEntry, ArgCondition, RuleFilter, SyscallRule};

    fn host() -> HostFacts {
        HostFacts {
            arch_names: vec!["amd64".into(), "x86_64".into(), "SCMP_ARCH_X86_64".into()],
            caps: ["CAP_CHOWN".to_string()].into_iter().collect(),
            kernel: (6, 1),
        }
    }

    fn profile(rules: Vec<SyscallRule>) -> Profile {
        Profile {
            default_action: Action::Errno,
            default_errno_ret: None,
            default_errno: None,
            architectures: vec![],
            arch_map: vec![],
            flags: vec![],
            listener_path: None,
            syscalls: rules,
        }
    }

    fn rule(names: &[&str], action: Action) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|s| s.to_string()).collect(),
            action,
            ..SyscallRule::default()
        }
    }

    #[test]
    fn defaults_to_eperm_and_reads_podman_errnos() {
        let mut p = profile(vec![SyscallRule {
            errno: Some("ENOSYS".into()),
            ..rule(&["clone3"], Action::Errno)
        }]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.default, ScmpAction::Errno(libc::EPERM));
        assert_eq!(
            policy.verdict("clone3", &[0; 6], true),
            ScmpAction::Errno(libc::ENOSYS)
        );
        p.default_errno = Some("EACCES".into());
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.default, ScmpAction::Errno(libc::EACCES));
        p.default_errno = Some("EWHATEVER".into());
        assert!(ProfileFilter::new(&p, &host()).is_err());
    }

    #[test]
    fn includes_and_excludes_follow_moby() {
        let p = profile(vec![
            SyscallRule {
                includes: RuleFilter {
                    caps: vec!["CAP_SYS_ADMIN".into()],
                    ..RuleFilter::default()
                },
                ..rule(&["mount"], Action::Allow)
            },
            SyscallRule {
                includes: RuleFilter {
                    arches: vec!["amd64".into()],
                    min_kernel: Some("4.8".into()),
                    ..RuleFilter::default()
                },
                ..rule(&["arch_prctl"], Action::Allow)
            },
            SyscallRule {
                excludes: RuleFilter {
                    caps: vec!["CHOWN".into()],
                    ..RuleFilter::default()
                },
                ..rule(&["chown"], Action::Allow)
            },
            SyscallRule {
                includes: RuleFilter {
                    min_kernel: Some("7.0".into()),
                    ..RuleFilter::default()
                },
                ..rule(&["getpid"], Action::Allow)
            },
        ]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        let names: Vec<_> = policy.rules.iter().flat_map(|r| r.names.clone()).collect();
        assert_eq!(names, ["arch_prctl"]);
    }

    #[test]
    fn same_argument_conditions_are_ored() {
        let cond = |value| ArgCondition {
            index: 0,
            value,
            value_two: 0,
            op: Op::Eq,
        };
        let p = profile(vec![SyscallRule {
            args: vec![cond(0), cond(8)],
            ..rule(&["personality"], Action::Allow)
        }]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.rules.len(), 2);
        assert!(is_allowing(policy.verdict(
            "personality",
            &[8, 0, 0, 0, 0, 0],
            true
        )));
        assert!(!is_allowing(policy.verdict(
            "personality",
            &[9, 0, 0, 0, 0, 0],
            true
        )));
        policy.filter(Mode::Enforce).unwrap();
    }

    #[test]
    fn masked_eq_uses_value_as_mask() {
        let c = Cond {
            index: 0,
            op: Op::MaskedEq,
            value: 0x7E02_0000,
            value_two: 0,
        };
        assert!(c.matches(&[0x11, 0, 0, 0, 0, 0], true));
        assert!(!c.matches(&[0x2000_0000, 0, 0, 0, 0, 0], true));
    }

    #[test]
    fn unknown_names_are_warned_about_not_dropped_silently() {
        let p = profile(vec![rule(
            &["read", "not_a_syscall", "mseal_x"],
            Action::Allow,
        )]);
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.rules[0].names, ["read"]);
        assert!(
            policy
                .warnings
                .iter()
                .any(|w| w.contains("not_a_syscall, mseal_x"))
        );
    }

    #[test]
    fn arch_map_uses_the_native_entry_only() {
        let mut p = profile(vec![]);
        p.arch_map = vec![
            ArchMapEntry {
                architecture: Abi::native().scmp_arch().into(),
                sub_architectures: vec!["SCMP_ARCH_X86".into()],
            },
            ArchMapEntry {
                architecture: "SCMP_ARCH_S390X".into(),
                sub_architectures: vec!["SCMP_ARCH_S390".into()],
            },
        ];
        let policy = ProfileFilter::new(&p, &host()).unwrap();
        assert_eq!(policy.arches.len(), 2);
        p.architectures = vec!["SCMP_ARCH_X86".into()];
        assert!(ProfileFilter::new(&p, &host()).is_err());
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.44-fc-v782\n"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
        assert_eq!(parse_kernel("x"), None);
    }

    #[test]
    fn missing_commands_are_127_and_directories_126() {
        let err = Command::resolve(OsStr::new("sysallow-no-such-command"), &[]).err();
        assert_eq!(err.map(|e| e.status()), Some(127));
        let err = Command::resolve(OsStr::new("/"), &[]).err();
        assert_eq!(err.map(|e| e.status()), Some(126));
        let err = Command::resolve(OsStr::new("./no/such"), &[]).err();
        assert_eq!(err.map(|e| e.status()), Some(127));
    }
}
