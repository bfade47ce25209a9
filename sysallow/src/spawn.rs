//! Starting the recorded command inside its cgroup, so that its first syscall after `execve`
//! is recorded and nothing of sysallow's own is.
//!
//! The child does all its set-up (signal mask, user and groups) while still outside the
//! target cgroup, then moves itself in with a single `write("0")` to `cgroup.procs` and calls
//! `execve` at once: the only syscall of ours the recording sees is that `execve`, which the
//! command needs anyway (it is attributed to `(unattributed)`). Rust's `Command` is not used
//! because it resets the signal mask after running `pre_exec` hooks, which would be recorded.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, User, fork, pipe2};

use crate::exec::{ExecImage, HasNul, Lookup};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{program}: cannot execute")]
    Exec {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Sys {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("user {0:?} does not exist")]
    NoUser(String),
    #[error("{0} contains a NUL byte")]
    Nul(String),
}

impl SpawnError {
    /// The shell's exit status for this failure: 127 not found, 126 not executable.
    pub fn status(&self) -> u8 {
        match self {
            SpawnError::NotFound(_) => 127,
            SpawnError::Exec { .. } => 126,
            _ => 1,
        }
    }
}

/// The user a command runs as.
#[derive(Clone, Debug)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub home: PathBuf,
}

impl RunAs {
    /// Look up a user by name or numeric uid.
    pub fn lookup(user: &str) -> Result<RunAs, SpawnError> {
        let found = match user.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => User::from_name(user),
        }
        .map_err(|source| SpawnError::Sys {
            what: "looking up the user",
            source,
        })?
        .ok_or_else(|| SpawnError::NoUser(user.to_owned()))?;
        let name =
            CString::new(found.name.as_bytes()).map_err(|_| SpawnError::Nul(found.name.clone()))?;
        let groups =
            nix::unistd::getgrouplist(&name, found.gid).map_err(|source| SpawnError::Sys {
                what: "listing the user's groups",
                source,
            })?;
        Ok(RunAs {
            name: found.name,
            uid: found.uid,
            gid: found.gid,
            groups,
            home: found.dir,
        })
    }

    /// The user who ran `sudo sysallow ...`, if that is how we were started.
    pub fn sudo_user() -> Option<Result<RunAs, SpawnError>> {
        let uid = std::env::var("SUDO_UID").ok()?;
        if !Uid::effective().is_root() || uid == "0" {
            return None;
        }
        Some(RunAs::lookup(&uid))
    }
}

/// Find `program` the way a shell does (`exec::find_program`, the one search `run` uses too).
pub fn resolve_program(program: &OsStr) -> Result<PathBuf, SpawnError> {
    crate::exec::find_program(program).map_err(|lookup| match lookup {
        Lookup::NotFound { .. } => SpawnError::NotFound(program.to_string_lossy().into_owned()),
        Lookup::NotExecutable { path, .. } => SpawnError::Exec {
            program: path.display().to_string(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        },
    })
}

/// A started command.
pub struct Child {
    pub pid: Pid,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(i32),
}

impl Child {
    /// Whether the command has ended, without waiting.
    pub fn try_wait(&self) -> Result<Option<Ended>, SpawnError> {
        loop {
            match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(Some(Ended::Code(code))),
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    return Ok(Some(Ended::Signal(signal as i32)));
                }
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(source) => {
                    return Err(SpawnError::Sys {
                        what: "waiting for the command",
                        source,
                    });
                }
            }
        }
    }

    /// Wait for the command to end (retrying when a signal interrupts the wait).
    pub fn wait(&self) -> Result<Ended, SpawnError> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(Ended::Code(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(Ended::Signal(signal as i32)),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(source) => {
                    return Err(SpawnError::Sys {
                        what: "waiting for the command",
                        source,
                    });
                }
            }
        }
    }
}

/// Start `argv` as `run_as` (or as ourselves), moving it into the cgroup whose `cgroup.procs`
/// is `procs` just before it execs.
pub fn spawn_in_cgroup(
    program: &Path,
    argv: &[OsString],
    run_as: Option<&RunAs>,
    procs: &File,
) -> Result<Child, SpawnError> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    if let Some(user) = run_as {
        // The command should see its own user's environment, not root's (sudo sets these).
        let set = [
            ("HOME", user.home.as_os_str().to_owned()),
            ("USER", OsString::from(&user.name)),
            ("LOGNAME", OsString::from(&user.name)),
        ];
        env.retain(|(k, _)| !set.iter().any(|(name, _)| k == name));
        env.extend(set.into_iter().map(|(k, v)| (OsString::from(k), v)));
    }
    // Everything the child needs, prepared before `fork` (after it, only async-signal-safe
    // calls).
    let image = ExecImage::new(program, argv, env).map_err(|HasNul(what)| SpawnError::Nul(what))?;
    let pointers = image.pointers();
    let groups: Vec<libc::gid_t> = run_as
        .map(|u| u.groups.iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    let ids = run_as.map(|u| (u.uid.as_raw(), u.gid.as_raw()));

    // Reports an exec failure to the parent; close-on-exec, so a successful exec closes it.
    let (err_read, err_write): (OwnedFd, OwnedFd) =
        pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| SpawnError::Sys {
            what: "creating a pipe",
            source,
        })?;

    // SAFETY: the child only makes async-signal-safe calls (sigprocmask, setgroups, setgid,
    // setuid, write, execve, _exit) on data prepared above, then execs or exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(err_read);
            let fail = |errno: i32| -> ! {
                let bytes = errno.to_ne_bytes();
                // SAFETY: write(2) and _exit(2) are async-signal-safe.
                unsafe {
                    libc::write(err_write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(127)
                }
            };
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            if let Some((uid, gid)) = ids {
                // SAFETY: plain syscalls on values prepared before fork.
                unsafe {
                    if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0
                    {
                        fail(nix::errno::Errno::last_raw());
                    }
                }
            }
            // Writing 0 to cgroup.procs moves the writer itself (cgroup_procs_write_start()
            // in kernel/cgroup/cgroup.c). From here on every syscall is recorded.
            // SAFETY: write(2) to an fd we hold.
            if unsafe { libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
                fail(nix::errno::Errno::last_raw());
            }
            // SAFETY: pointers to NUL-terminated arrays of C strings that outlive the call.
            unsafe {
                libc::execve(
                    image.path.as_ptr(),
                    pointers.argv.as_ptr(),
                    pointers.envp.as_ptr(),
                )
            };
            fail(nix::errno::Errno::last_raw())
        }
        Ok(ForkResult::Parent { child }) => {
            drop(err_write);
            let mut buf = [0u8; 4];
            let mut file = File::from(err_read);
            let n = file.read(&mut buf).unwrap_or(0);
            if n == 4 {
                let errno = i32::from_ne_bytes(buf);
                let _ = waitpid(child, None);
                let shown = program.display().to_string();
                return Err(if errno == libc::ENOENT {
                    SpawnError::NotFound(shown)
                } else {
                    SpawnError::Exec {
                        program: shown,
                        source: std::io::Error::from_raw_os_error(errno),
                    }
                });
            }
            Ok(Child { pid: child })
        }
        Err(source) => Err(SpawnError::Sys {
            what: "fork",
            source,
        }),
    }
}

/// Send `signal` to the command (used to pass on signals sent to sysallow).
pub fn signal(child: Pid, signal: Signal) {
    let _ = nix::sys::signal::kill(child, signal);
}
