//! `sysallow run`: run a command under a seccomp profile, without Docker.
//!
//! Exit status: the command's own (sysallow execs it, or with `--log-denials` waits for it;
//! 128+N when a signal N killed it); 127 when the command is not found, 126 when it cannot be
//! executed (including a profile that denies `execve`); 2 when the profile cannot be read or
//! used (the message names the file and the line/column or rule); 1 for other failures.

use std::ffi::OsString;
use std::path::PathBuf;

use libseccomp::ScmpAction;
use sysallow::enforce::{self, Command, EnforceError, Mode, ProfileFilter};

use super::StatusError;

/// Run a command under a seccomp profile (no container runtime needed, no root).
///
/// The profile is compiled with libseccomp and loaded into sysallow itself (with
/// no_new_privs), which then executes the command: the command and everything it starts run
/// under exactly the profile. Nothing is added to it, so the profile must allow execve.
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: the command's; 127 command not found; 126 command not \
    executable or execve denied by the profile; 2 unusable profile; 1 other errors."
)]
pub struct Args {
    /// The seccomp profile (Docker JSON, or any format sysallow reads).
    #[arg(long, value_name = "PROFILE")]
    pub profile: PathBuf,
    /// Also report each denied syscall on stderr, by name, with a summary at the end (the
    /// command still gets the denial). Runs the command under a supervisor
    /// (SECCOMP_RET_USER_NOTIF).
    #[arg(long)]
    pub log_denials: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Turn an enforcement error into the right exit status; 126/127 print like a shell.
pub(crate) fn fail(err: EnforceError) -> anyhow::Result<u8> {
    let status = err.status();
    if matches!(
        err,
        EnforceError::NotFound { .. } | EnforceError::NotExecutable { .. }
    ) {
        eprintln!("sysallow: {}", sysallow_profile::error_chain(&err));
        return Ok(status);
    }
    Err(StatusError {
        status,
        message: sysallow_profile::error_chain(&err),
    }
    .into())
}

/// Load the profile and resolve the command, printing the policy's warnings.
pub(crate) fn prepare(
    profile: &std::path::Path,
    command: &[OsString],
) -> Result<(ProfileFilter, Command), EnforceError> {
    let policy = ProfileFilter::from_file(profile)?;
    for warning in &policy.warnings {
        eprintln!("sysallow: warning: {}: {warning}", profile.display());
    }
    let (program, args) = command
        .split_first()
        .ok_or_else(|| EnforceError::Invalid("no command given".into()))?;
    let cmd = Command::resolve(program, args)?;
    Ok((policy, cmd))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (policy, cmd) = match prepare(&args.profile, &args.command) {
        Ok(prepared) => prepared,
        Err(err) => return fail(err),
    };
    // The first syscall under the filter is our execve of the command: a profile that denies
    // it cannot run anything, and the failure could not even be reported (write and exit may
    // be denied too), so say so before loading it.
    if !policy.allows_execve() {
        return fail(EnforceError::NotExecutable {
            command: cmd.display.clone(),
            reason: format!(
                "{} does not allow execve, so no command can start under it; add execve to the \
                 profile (a recording of a command always contains its exec)",
                args.profile.display()
            ),
        });
    }
    if !args.log_denials {
        return match enforce::exec_enforced(&policy, &cmd, Mode::Enforce) {
            Ok(never) => match never {},
            Err(err) => fail(err),
        };
    }
    if !enforce::user_notif_available() {
        eprintln!(
            "sysallow: warning: this kernel does not offer SECCOMP_RET_USER_NOTIF, so denials \
             cannot be reported; enforcing without the report (`sysallow verify` falls back to \
             the kernel's audit log)"
        );
        return match enforce::exec_enforced(&policy, &cmd, Mode::Enforce) {
            Ok(never) => match never {},
            Err(err) => fail(err),
        };
    }
    let outcome = enforce::supervise(&policy, &cmd, Mode::LogDenials, |abi, name, action, _| {
        let how = match action {
            ScmpAction::Errno(e) => enforce::errno_name(e),
            other => format!("{other:?}"),
        };
        eprintln!("sysallow: denied {name} ({abi}) with {how}");
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => return fail(err),
    };
    let denied = &outcome.report.denied;
    if !denied.is_empty() {
        let list = denied
            .iter()
            .map(|((abi, name), d)| format!("{name} ({abi}, {}x)", d.count))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!("sysallow: {} syscalls denied: {list}", denied.len());
    }
    Ok(outcome.status)
}
