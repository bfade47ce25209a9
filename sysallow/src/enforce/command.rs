//! The command: found and prepared before the filter is loaded, and the exec under the filter,
//! with failure messages formatted in advance (afterwards any syscall may be denied).

use std::ffi::{OsStr, OsString};

use crate::exec::{ExecImage, HasNul, Lookup, find_program};

use super::filter::ProfileFilter;
use super::{EnforceError, Mode, seccomp_err};

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
pub(super) struct ExecFailure {
    pub(super) prefix: Vec<u8>,
    pub(super) by_errno: Vec<Vec<u8>>,
    pub(super) denied_errno: Option<i32>,
    pub(super) denied_note: Vec<u8>,
}

impl ExecFailure {
    pub(super) fn new(cmd: &Command, policy: &ProfileFilter) -> ExecFailure {
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
    pub(super) fn report_and_exit(&self, errno: i32) -> ! {
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
