//! A recording session of one command: cgroup, eBPF programs, the command, and the Recording.
//!
//! Order matters: the programs are attached and the cgroup armed before the command starts,
//! the command moves itself into the cgroup just before `execve`, and the counters are read
//! only after every process of the command has ended, so nothing is missed at either end.
//!
//! Around a session: [`repeat`] (`--repeat N`), [`parent`] (`--cgroup-parent`), [`outputs`]
//! (the files written and the summary said after), [`naming`] (one file pair per container).

pub mod naming;
pub mod outputs;
pub mod parent;
pub mod repeat;
pub mod rootfs;

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use sysallow_profile::Recording;
use sysallow_profile::recording::{Exit, Target};

use crate::cgroup::{self, Cgroup, Cgroup2Mount, CgroupError};
use crate::ebpf::{Root, Tracer, TracerError};
use crate::host;
use crate::live::{self, Live, LiveOptions};
use crate::privilege::{self, PrivilegeError};
use crate::spawn::{self, Ended, RunAs, SpawnError};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Privilege(#[from] PrivilegeError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Tracer(#[from] TracerError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("setting up signal forwarding")]
    Signals(#[source] std::io::Error),
}

impl RecordError {
    /// The exit status `record` should end with for this error.
    pub fn status(&self) -> u8 {
        match self {
            RecordError::Spawn(e) => e.status(),
            _ => 1,
        }
    }
}

/// What to record.
pub struct CommandSpec<'a> {
    pub argv: &'a [OsString],
    pub run_as: Option<&'a RunAs>,
    /// Stop the command (SIGTERM) after this long.
    pub duration: Option<Duration>,
    /// Status line and `--until-stable`.
    pub live: LiveOptions,
    /// Record capability checks and privileged execs too.
    pub capabilities: bool,
}

/// The result of recording a command.
pub struct CommandRecording {
    pub recording: Recording,
    pub ended: Ended,
    /// sysallow stopped the command because nothing new appeared (`--until-stable`).
    pub stopped_stable: bool,
    /// Processes the command left running when it ended, stopped by sysallow.
    pub stragglers: usize,
}

/// Record `spec`: run it to completion in a fresh cgroup with the programs armed.
pub fn record_command(spec: &CommandSpec<'_>) -> Result<CommandRecording, RecordError> {
    privilege::check_caps()?;
    privilege::check_btf()?;
    let program = spawn::resolve_program(spec.argv.first().map_or("".as_ref(), |a| a))?;
    let tracefs = privilege::tracefs()?;
    let mount = Cgroup2Mount::find()?;
    crate::reaper::clear_stale(&mount);
    let name = format!("run-{}", std::process::id());
    let cgroup = Cgroup::create_for_command(&mount, &name)?;
    // Dropped after the cgroup is removed (declared after it): ends the command if this
    // recorder dies.
    let reaper = crate::reaper::Reaper::start(cgroup.path());

    let (tracer, target) = Tracer::load(
        &tracefs,
        &Root {
            cgroup_id: cgroup.id(),
            level: cgroup.level(),
            flags: 0,
            running: Vec::new(),
            slots: sysallow_common::MAX_SLOTS,
            capabilities: spec.capabilities,
            // A plain command runs under no filter it did not install itself, and
            // `sys_exit` would double what every syscall on the machine pays.
            exit_facts: false,
        },
    )?;

    // Signals sent to sysallow go to the command; installed before the fork so that none is
    // lost between the fork and here (sysallow itself then never dies of them, and still writes
    // its outputs).
    let child_pid = Arc::new(AtomicI32::new(0));
    let forwarding = forward_signals(Arc::clone(&child_pid))?;

    let host = host::describe();
    let started_at = host::now_rfc3339();
    let start = Instant::now();
    let start_ns = live::monotonic_ns();
    let procs = cgroup.procs_file()?;
    let child = spawn::spawn_in_cgroup(&program, spec.argv, spec.run_as, &procs)?;
    drop(procs);
    child_pid.store(child.pid.as_raw(), Ordering::SeqCst);
    if let Some(duration) = spec.duration {
        let pid = child.pid;
        thread::spawn(move || {
            thread::sleep(duration);
            spawn::signal(pid, Signal::SIGTERM);
        });
    }
    let mut live = Live::new(spec.live, start, start_ns);
    let mut stopped_stable = false;
    let ended = loop {
        if let Some(ended) = child.try_wait()? {
            break ended;
        }
        if live.tick(&tracer, host.arch)? && !stopped_stable {
            stopped_stable = true;
            live.finish();
            eprintln!(
                "sysallow: nothing new for {} s: stopping the command (--until-stable)",
                spec.live.until_stable.map_or(0.0, |d| d.as_secs_f64())
            );
            spawn::signal(child.pid, Signal::SIGTERM);
        }
        thread::sleep(Duration::from_millis(20));
    };
    live.finish();
    child_pid.store(0, Ordering::SeqCst);
    forwarding.close();

    // The command may leave processes behind (`cmd &`); they are its own, so stop them and
    // count what they did until then.
    let stragglers = if cgroup.populated()? {
        let n = count_processes(&cgroup);
        cgroup.kill_all()?;
        cgroup.wait_empty(Duration::from_secs(10))?;
        n
    } else {
        0
    };
    let duration_ms = start.elapsed().as_millis() as u64;

    let counts = tracer.counts(&target, host.arch)?;
    let losses = tracer.losses()?;
    drop(tracer);
    cgroup.remove()?;
    drop(reaper);

    let mut recording = Recording::new(
        Target::Command {
            argv: spec
                .argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            user: spec.run_as.map(|u| u.name.clone()),
        },
        host,
        started_at,
    );
    counts.fill(&mut recording, start_ns);
    recording.losses = losses;
    recording.duration_ms = duration_ms;
    recording.exit = Some(match ended {
        Ended::Code(code) => Exit::Code(code),
        Ended::Signal(signal) => Exit::Signal(signal),
    });
    Ok(CommandRecording {
        recording,
        ended,
        stopped_stable,
        stragglers,
    })
}

fn count_processes(cgroup: &Cgroup) -> usize {
    cgroup::tree(cgroup.path())
        .iter()
        .map(|dir| cgroup::procs(dir).len())
        .sum()
}

/// A running signal forwarder.
struct Forwarding {
    handle: signal_hook::iterator::backend::Handle,
}

impl Forwarding {
    fn close(self) {
        self.handle.close();
    }
}

/// Pass SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to sysallow on to the command. A signal the
/// kernel generated for the terminal (Ctrl-C) already reached the command, which shares our
/// process group, so only signals sent by a process (kill(2)) are forwarded.
fn forward_signals(child: Arc<AtomicI32>) -> Result<Forwarding, RecordError> {
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        .map_err(RecordError::Signals)?;
    let handle = signals.handle();
    thread::spawn(move || {
        for info in signals.forever() {
            let pid = child.load(Ordering::SeqCst);
            if pid <= 0 || info.process.is_none() {
                continue;
            }
            if let Ok(signal) = Signal::try_from(info.signal) {
                spawn::signal(Pid::from_raw(pid), signal);
            }
        }
    });
    Ok(Forwarding { handle })
}

/// A cgroup to watch (a container, a cgroup given by path, a pid's cgroup, or a parent under
/// which containers will start).
pub struct WatchTarget {
    pub cgroup: Cgroup,
    /// What the recording says it is.
    pub description: Target,
    /// A container: leave the runtime's set-up out (see `sysallow_common::TARGET_BOUNDARY`).
    pub boundary: bool,
    /// A parent armed before its containers start: one recording per child cgroup.
    pub split: bool,
}

/// How a watch ends (besides SIGINT/SIGTERM, which always end it).
pub struct WatchSpec {
    pub target: WatchTarget,
    pub duration: Option<Duration>,
    /// Status line and `--until-stable`.
    pub live: LiveOptions,
    /// Record capability checks and privileged execs too.
    pub capabilities: bool,
}

/// Called once the programs are attached: from then on nothing is missed (the place to tell
/// a user to start their containers).
pub type OnArmed<'a> = Box<dyn FnOnce() + 'a>;

/// One recording of a watch, with the cgroup directory it came from.
pub struct Watched {
    pub cgroup: std::path::PathBuf,
    pub recording: Recording,
}

/// Record a cgroup (or every child of a parent) until SIGINT/SIGTERM, `duration`, or, for a
/// single cgroup, until it has no process left (the container exited). `describe_child` names
/// a child cgroup of a split target while it still exists (e.g. container id to name).
pub fn record_watch(
    spec: WatchSpec,
    on_armed: OnArmed<'_>,
    mut describe_child: impl FnMut(&std::path::Path) -> Target,
) -> Result<Vec<Watched>, RecordError> {
    privilege::check_caps()?;
    privilege::check_btf()?;
    let tracefs = privilege::tracefs()?;
    let target = spec.target;
    let mut flags = 0;
    if target.boundary {
        flags |= sysallow_common::TARGET_BOUNDARY;
    }
    if target.split {
        flags |= sysallow_common::TARGET_SPLIT;
    }
    let (tracer, armed) = Tracer::load(
        &tracefs,
        &Root {
            cgroup_id: target.cgroup.id(),
            level: target.cgroup.level(),
            flags,
            // Processes already running are past any set-up: follow them as the workload.
            running: processes_below(target.cgroup.path()),
            slots: sysallow_common::MAX_SLOTS,
            capabilities: spec.capabilities,
            // A container may run under its engine's filter while recorded: what that filter
            // answered is answered again (`generate`).
            exit_facts: target.boundary,
        },
    )?;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(RecordError::Signals)?;
    }
    on_armed();
    let host = host::describe();
    let started_at = host::now_rfc3339();
    let start = Instant::now();
    let start_ns = live::monotonic_ns();
    let mut live = Live::new(spec.live, start, start_ns);
    // Child cgroups by id, named as soon as their directory appears (a container can start
    // and end between two looks at the kernel's targets; its directory is seen sooner).
    let mut children: std::collections::BTreeMap<u64, (std::path::PathBuf, Target)> =
        std::collections::BTreeMap::new();
    // Children as the kernel creates them, named at once (see `cgroup::births`).
    let births = target
        .split
        .then(|| cgroup::births::Births::watch(target.cgroup.path()))
        .flatten();
    // Each container's root filesystem writes, by cgroup path (read only with the
    // capabilities: they are part of the run-time layer).
    let mut root_fs: std::collections::BTreeMap<std::path::PathBuf, rootfs::RootFsWatch> =
        std::collections::BTreeMap::new();
    let is_container = |t: &Target| matches!(t, Target::Container { .. });
    loop {
        if spec.capabilities {
            let watched: Vec<(&std::path::Path, &Target)> = if target.split {
                children
                    .values()
                    .filter(|(_, t)| is_container(t))
                    .map(|(p, t)| (p.as_path(), t))
                    .collect()
            } else if is_container(&target.description) {
                vec![(target.cgroup.path(), &target.description)]
            } else {
                Vec::new()
            };
            for (path, description) in watched {
                // A container gone keeps its watch for one last look (see `look`).
                if path.exists() || root_fs.contains_key(path) {
                    root_fs
                        .entry(path.to_owned())
                        .or_insert_with(|| rootfs::RootFsWatch::for_target(description))
                        .look(path);
                }
            }
        }
        if target.split {
            for (id, path) in cgroup::subdirs(target.cgroup.path()) {
                if let std::collections::btree_map::Entry::Vacant(entry) = children.entry(id) {
                    let description = describe_child(&path);
                    entry.insert((path, description));
                }
            }
        }
        if live.tick(&tracer, host.arch)? {
            live.finish();
            eprintln!(
                "sysallow: nothing new for {} s: ending the recording (--until-stable)",
                spec.live.until_stable.map_or(0.0, |d| d.as_secs_f64())
            );
            break;
        }
        if stop.load(Ordering::SeqCst)
            || spec.duration.is_some_and(|d| start.elapsed() >= d)
            || (!target.split && !target.cgroup.path().exists())
            || (!target.split && !target.cgroup.populated().unwrap_or(false))
        {
            break;
        }
        match &births {
            // Wakes at once when a child appears.
            Some(births) => {
                if let Some((id, path)) = births.next(Duration::from_millis(20)) {
                    children
                        .entry(id)
                        .or_insert_with(|| (path.clone(), describe_child(&path)));
                }
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    }
    drop(births);
    live.finish();
    let duration_ms = start.elapsed().as_millis() as u64;
    let losses = tracer.losses()?;

    let mut out = Vec::new();
    let mut finish = |armed: &crate::ebpf::ArmedTarget,
                      path: std::path::PathBuf,
                      description: Target|
     -> Result<(), RecordError> {
        let counts = tracer.counts(armed, host.arch)?;
        let mut recording = Recording::new(description, host.clone(), started_at.clone());
        counts.fill(&mut recording, start_ns);
        if let Some(privileges) = &mut recording.privileges
            && let Some(watch) = root_fs.remove(&path)
        {
            privileges.root_fs = watch.finish();
        }
        recording.losses = losses.clone();
        recording.duration_ms = duration_ms;
        out.push(Watched {
            cgroup: path,
            recording,
        });
        Ok(())
    };
    if target.split {
        for child in tracer.child_targets()? {
            let (path, description) = match children.remove(&child.cgroup_id) {
                Some(known) => known,
                // Started and gone between two looks: name it by its id.
                None => (
                    target
                        .cgroup
                        .path()
                        .join(format!("cgroup-{}", child.cgroup_id)),
                    Target::Cgroup {
                        path: format!("(cgroup id {})", child.cgroup_id),
                        pid: None,
                    },
                ),
            };
            finish(&child, path, description)?;
        }
    } else {
        finish(
            &armed,
            target.cgroup.path().to_owned(),
            target.description.clone(),
        )?;
    }
    Ok(out)
}

/// Every process in a cgroup and below it, with its executable.
fn processes_below(dir: &std::path::Path) -> Vec<(u32, String)> {
    cgroup::tree(dir)
        .iter()
        .flat_map(|d| cgroup::procs(d))
        .map(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| sysallow_profile::recording::UNATTRIBUTED.to_owned());
            (pid, exe)
        })
        .collect()
}
