//! Supervised runs (`verify`, `run --log-denials`): the filter answers denied syscalls with a
//! user notification, and this process decides and reports, until the command ends.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::exec::ExecPointers;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpFilterContext, ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags,
};

use super::command::{Command, ExecFailure};
use super::filter::{Mode, ProfileFilter};
use super::{EnforceError, io_err, seccomp_err};

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

pub(super) fn arch_label(arch: ScmpArch) -> String {
    match arch {
        ScmpArch::X8664 => "x86_64".into(),
        ScmpArch::X86 => "x86".into(),
        ScmpArch::Aarch64 => "aarch64".into(),
        ScmpArch::Arm => "arm".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

pub(super) fn is_wide(arch: ScmpArch) -> bool {
    !matches!(
        arch,
        ScmpArch::X86 | ScmpArch::Arm | ScmpArch::X32 | ScmpArch::Mips | ScmpArch::Mipsel
    )
}

/// State shared with the child between clone and exec (a MAP_SHARED page).
#[repr(C)]
pub(super) struct Shared {
    pub(super) listener: AtomicI32,
    pub(super) setup_errno: AtomicI32,
}

/// The BPF program libseccomp generates for `ctx` (exported through a temporary file:
/// `seccomp_export_bpf_mem` needs libseccomp 2.6).
pub(super) fn bpf_program(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, EnforceError> {
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
pub(super) fn supervise_inner(
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

pub(super) fn handle_notification(
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
    if let Some(value) = sysallow_profile::args::capture_of(&name)
        .and_then(|c| sysallow_profile::args::value_of(c, &req.data.args, is_wide(arch)))
        && entry.values.len() < 16
    {
        entry
            .values
            .insert(sysallow_profile::args::describe(&name, value));
    }
    if entry.count == 1 {
        on_event(&abi, &name, action, fallback);
    }
    // The task may have died meanwhile (ENOENT): nothing to answer.
    let _ = resp.respond(fd);
}
