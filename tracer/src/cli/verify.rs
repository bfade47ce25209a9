//! `sysallow verify`: run a command with a profile in complain mode and list every syscall the
//! profile would deny, so one run shows everything missing.
//!
//! Exit status: the command's own status (128+N for a signal) when it failed; 3 when the
//! command succeeded but the profile would have denied something (so CI notices an
//! insufficient profile); 0 when it succeeded and nothing would be denied. 127/126/2/1 as for
//! `sysallow run`.

use std::ffi::OsString;
use std::path::PathBuf;

use libseccomp::ScmpAction;
use tracer::enforce::{self, Mode};

use super::run::{fail, prepare};

/// The status of `verify` when the command succeeded but something would have been denied.
pub const WOULD_DENY: u8 = 3;

/// Run a command with a profile and report what the profile would deny, without denying it.
///
/// Every syscall the profile denies is let through and reported on stderr (once per ABI and
/// name), with a summary at the end. Syscalls the profile answers with ENOSYS are still
/// answered so, because libc then falls back exactly as under enforcement (clone3 -> clone);
/// they are listed apart and not counted as missing. Uses SECCOMP_RET_USER_NOTIF; where the
/// kernel lacks it, falls back to SCMP_ACT_LOG (the kernel's audit log holds the report).
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: the command's if it failed; 3 if it succeeded but the \
    profile would deny something; 0 otherwise; 127/126 command not found/not executable; \
    2 unusable profile; 1 other errors."
)]
pub struct Args {
    /// The seccomp profile (Docker JSON, or any format sysallow reads).
    #[arg(long, value_name = "PROFILE")]
    pub profile: PathBuf,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// How the profile would deny: `EPERM`, `kill`, ...
fn how(action: ScmpAction) -> String {
    match action {
        ScmpAction::Errno(e) => enforce::errno_name(e),
        ScmpAction::KillThread | ScmpAction::KillProcess => "kill (SIGSYS)".into(),
        ScmpAction::Trap => "SIGSYS".into(),
        other => format!("{other:?}"),
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (policy, cmd) = match prepare(&args.profile, &args.command) {
        Ok(prepared) => prepared,
        Err(err) => return fail(err),
    };
    if !policy.allows_execve() {
        eprintln!(
            "sysallow: warning: {} does not allow execve: under `sysallow run` or a container \
             runtime, {} could not start at all",
            args.profile.display(),
            cmd.display
        );
    }
    if !enforce::user_notif_available() {
        eprintln!(
            "sysallow: warning: this kernel does not offer SECCOMP_RET_USER_NOTIF; falling back \
             to SCMP_ACT_LOG: what the profile would deny is allowed and logged by the kernel \
             (audit records of type 1326, SECCOMP; see `dmesg` or `ausearch -m SECCOMP`, which \
             rate-limits), and no summary can be printed here"
        );
        return match enforce::exec_enforced(&policy, &cmd, Mode::VerifyAuditLog) {
            Ok(never) => match never {},
            Err(err) => fail(err),
        };
    }
    let outcome = enforce::supervise(
        &policy,
        &cmd,
        Mode::Verify,
        |abi, name, action, fallback| {
            if fallback {
                eprintln!("sysallow: {name} ({abi}) answered with ENOSYS as the profile says");
            } else {
                eprintln!("sysallow: would deny {name} ({abi}) with {}", how(action));
            }
        },
    );
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => return fail(err),
    };
    let report = &outcome.report;
    let list = |book: &std::collections::BTreeMap<(String, String), enforce::Denial>| {
        book.iter()
            .map(|((abi, name), d)| format!("{name} ({abi}, {}x)", d.count))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !report.fallbacks.is_empty() {
        eprintln!(
            "sysallow: {} syscalls answered with ENOSYS (libc falls back): {}",
            report.fallbacks.len(),
            list(&report.fallbacks)
        );
    }
    if report.denied.is_empty() {
        eprintln!(
            "sysallow: 0 syscalls would be denied: {} allows everything the command did",
            args.profile.display()
        );
    } else {
        eprintln!(
            "sysallow: {} syscalls would be denied: {}",
            report.denied.len(),
            list(&report.denied)
        );
    }
    Ok(match (outcome.status, report.denied.is_empty()) {
        (0, false) => WOULD_DENY,
        (status, _) => status,
    })
}
