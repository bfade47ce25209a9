//! `sysallow verify`: run a command with a profile in complain mode and list every syscall the
//! profile would deny, so one run shows everything missing.
//!
//! Exit status: the command's own status (128+N for a signal) when it failed; 3 when the
//! command succeeded but the profile would have denied something (so CI notices an
//! insufficient profile); 0 when it succeeded and nothing would be denied. 127/126/2/1 as for
//! `sysallow run`.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context as _;
use libseccomp::ScmpAction;
use sysallow::enforce::{self, Mode};
use sysallow::output::Output;
use sysallow_profile::fix::{self, Missing};
use sysallow_profile::formats::{self, Document, Format};
use sysallow_profile::recording::{Target, UNATTRIBUTED};
use sysallow_profile::{Abi, Recording};

use super::io::read_document_quietly;
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
    /// Write the fixed profile here (Docker format, atomically; `-` for stdout): the profile
    /// plus every syscall it would have denied, each with its reason. A syscall the profile
    /// allows only for some argument values is reported, not widened.
    #[arg(short = 'o', long = "output", value_name = "FIXED")]
    pub output: Option<PathBuf>,
    /// Write what the profile would have denied as a Recording, which `sysallow merge` takes
    /// with the recordings the profile was made from.
    #[arg(long, value_name = "REC")]
    pub recording: Option<PathBuf>,
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
    // Fail on an unwritable output, or a profile that cannot be edited, before the command runs.
    let outputs = [&args.output, &args.recording].map(|path| {
        path.as_deref()
            .map(|p| Output::prepare(p, None).with_context(|| format!("preparing {}", p.display())))
            .transpose()
    });
    let [fixed_out, rec_out] = outputs;
    let (fixed_out, rec_out) = (fixed_out?, rec_out?);
    let original = match &fixed_out {
        Some(_) => match read_document_quietly(&args.profile, 2)? {
            Document::Profile(p) => Some(p),
            Document::Recording(_) => {
                anyhow::bail!("{} is a recording, not a profile", args.profile.display())
            }
        },
        None => None,
    };
    let started_at = sysallow::host::now_rfc3339();
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
            .map(|((abi, name), d)| {
                if d.values.is_empty() {
                    format!("{name} ({abi}, {}x)", d.count)
                } else {
                    let values: Vec<&str> = d.values.iter().map(String::as_str).collect();
                    format!("{name} ({abi}, {}x, for {})", d.count, values.join("; "))
                }
            })
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
    let missing: Vec<Missing> = report
        .denied
        .iter()
        .filter_map(|((abi, name), d)| {
            let abi = abi.parse::<Abi>().ok()?;
            Some(Missing {
                abi,
                name: name.clone(),
                count: d.count,
            })
        })
        .collect();
    if let (Some(out), Some(original)) = (fixed_out, &original) {
        let fixed = fix::add_missing(original, &missing, &cmd.display);
        for warning in &fixed.warnings {
            eprintln!("sysallow: warning: {warning}");
        }
        out.commit(&formats::write(&fixed.profile, Format::Docker))
            .context("writing the fixed profile")?;
        eprintln!(
            "sysallow: wrote {} with {} addition(s){}",
            args.output
                .as_deref()
                .unwrap_or(std::path::Path::new("-"))
                .display(),
            fixed.added.len(),
            if fixed.added.is_empty() {
                String::new()
            } else {
                format!(": {}", fixed.added.join(" "))
            }
        );
    }
    if let Some(out) = rec_out {
        let mut rec = Recording::new(
            Target::Command {
                argv: args
                    .command
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                user: None,
            },
            sysallow::host::describe(),
            started_at,
        );
        for m in &missing {
            if let Some(nr) = m.abi.syscall_nr(&m.name) {
                // verify does not know which program made it: the notification names a pid.
                rec.add(m.abi, nr, UNATTRIBUTED, m.count);
            }
        }
        out.commit(&rec.to_json())
            .context("writing the recording")?;
    }
    Ok(match (outcome.status, report.denied.is_empty()) {
        (0, false) => WOULD_DENY,
        (status, _) => status,
    })
}
