//! What the benchmark changes on the machine, each behind a guard that puts it back when
//! dropped (also on error): the bench cgroups, the ftrace event, a tracefs mount, and tracer
//! processes running in the background (ended by their PID, never by name). Plus the few raw
//! `bpf(2)` calls that read the kernel's own accounting of sysallow's maps.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Set by SIGINT/SIGTERM: the bench stops between two measurements, so that every guard runs.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catch Ctrl-C instead of dying with tracers attached and ftrace enabled.
pub fn catch_interrupts() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs an async-signal-safe handler (one atomic store).
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
}

pub fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; restoring the machine's state");
    }
    Ok(())
}

/// CLOCK_MONOTONIC in nanoseconds (what bench/stamp.c prints).
pub fn monotonic_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Wait for `pid` and return (exit status, peak RSS in KiB of it and its waited-for
/// descendants, from wait4's rusage).
pub fn wait4(child: Child) -> anyhow::Result<(i32, u64)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `child` is consumed so std never waits for it again.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    if rc != pid {
        bail!("wait4({pid}): {}", std::io::Error::last_os_error());
    }
    Ok((status, usage.ru_maxrss as u64))
}

/// The cgroup v2 mount (hybrid hosts like this one have it at /sys/fs/cgroup/unified;
/// FIELD-NOTES), found as sysallow finds it.
pub fn cgroup_v2_mount() -> anyhow::Result<PathBuf> {
    let mount = sysallow_common::mountinfo::find_cgroup2()
        .with_context(|| format!("reading {}", sysallow_common::mountinfo::PATH))?
        .context("no cgroup v2 hierarchy is mounted")?;
    Ok(mount.mount_point)
}

/// The bench's own cgroup v2 directory (`<v2>/sysallow-bench-<pid>/work`): the traced
/// workloads of every configuration run there, so the cgroup-filtering tools have a target.
pub struct BenchCgroup {
    parent: PathBuf,
    pub work: PathBuf,
    /// The agent configuration's node: `kubepods/besteffort/pod<i>/ctr` leaves.
    pub kubepods: PathBuf,
}

impl BenchCgroup {
    pub fn create() -> anyhow::Result<Self> {
        let parent = cgroup_v2_mount()?.join(format!("sysallow-bench-{}", std::process::id()));
        fs::create_dir(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let work = parent.join("work");
        let kubepods = parent.join("kubepods");
        let cgroup = BenchCgroup {
            parent,
            work,
            kubepods,
        };
        for dir in [&cgroup.work, &cgroup.kubepods] {
            fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(cgroup)
    }

    /// The container cgroup `kubepods/besteffort/POD/ctr`, created if need be.
    pub fn kubepods_leaf(&self, pod: &str) -> anyhow::Result<PathBuf> {
        let leaf = self.kubepods.join("besteffort").join(pod).join("ctr");
        fs::create_dir_all(&leaf).with_context(|| format!("creating {}", leaf.display()))?;
        Ok(leaf)
    }

    /// End every process under `kubepods` (the agent configuration's containers).
    pub fn kill_kubepods(&self) {
        let _ = fs::write(self.kubepods.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && fs::read_to_string(self.kubepods.join("cgroup.events"))
                .is_ok_and(|e| e.contains("populated 1"))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The work cgroup's v2 id (its inode number) and its level below the root.
    pub fn id_and_level(&self) -> anyhow::Result<(u64, u32)> {
        let id = fs::metadata(&self.work)
            .with_context(|| format!("reading {}", self.work.display()))?
            .ino();
        let level = self
            .work
            .strip_prefix(cgroup_v2_mount()?)
            .context("the bench cgroup is not under the v2 mount")?
            .components()
            .count();
        Ok((id, level as u32))
    }

    /// Make `cmd` move itself into the work cgroup between fork and exec.
    pub fn enter(&self, cmd: &mut Command) -> anyhow::Result<()> {
        Self::enter_dir(&self.work, cmd)
    }

    /// Make `cmd` move itself into cgroup `dir` between fork and exec.
    pub fn enter_dir(dir: &Path, cmd: &mut Command) -> anyhow::Result<()> {
        let path = dir.join("cgroup.procs");
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: the closure only calls write(2) on an fd opened before the fork (it is
        // close-on-exec, so the workload does not inherit it); "0" moves the writer itself.
        unsafe {
            cmd.pre_exec(move || {
                if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(())
    }
}

impl Drop for BenchCgroup {
    fn drop(&mut self) {
        // Anything left in it is a workload this bench started.
        let _ = fs::write(self.work.join("cgroup.kill"), "1");
        self.kill_kubepods();
        // The kubepods tree, deepest first.
        let mut tree = Vec::new();
        let mut pending = vec![self.kubepods.clone()];
        while let Some(dir) = pending.pop() {
            if let Ok(entries) = fs::read_dir(&dir) {
                pending.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            tree.push(dir);
        }
        tree.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in tree.iter().chain([&self.work, &self.parent]) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// tracefs, mounted by the bench if it was not (and unmounted again at the end).
pub struct Tracefs {
    pub path: PathBuf,
    mounted: bool,
}

impl Tracefs {
    pub fn get() -> anyhow::Result<Self> {
        let path = PathBuf::from("/sys/kernel/tracing");
        if path.join("events").is_dir() {
            return Ok(Tracefs {
                path,
                mounted: false,
            });
        }
        crate::run(
            Command::new("mount")
                .args(["-t", "tracefs", "nodev"])
                .arg(&path),
        )?;
        Ok(Tracefs {
            path,
            mounted: true,
        })
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
    }
}

/// `raw_syscalls:sys_enter` enabled through ftrace with a filter that matches nothing: the
/// tracepoint fires on every syscall (every task takes the syscall-work slow path, and the
/// event's handler builds its record in the per-CPU buffered event, then the filter discards
/// it), yet nothing reaches the ring buffer. This is the floor any tracepoint-based tool pays.
/// The event's previous `enable` and `filter` are restored when dropped.
pub struct FtraceFloor {
    event: PathBuf,
    old_enable: String,
    old_filter: String,
}

/// Matches no syscall: pid 0 is the idle task, which makes none.
pub const FLOOR_FILTER: &str = "common_pid == 0";

impl FtraceFloor {
    pub fn enable(tracefs: &Path) -> anyhow::Result<Self> {
        let event = tracefs.join("events/raw_syscalls/sys_enter");
        let read = |name: &str| {
            fs::read_to_string(event.join(name))
                .map(|s| s.trim().to_owned())
                .with_context(|| format!("reading {}/{name}", event.display()))
        };
        let floor = FtraceFloor {
            old_enable: read("enable")?,
            old_filter: read("filter")?,
            event,
        };
        if floor.old_enable != "0" {
            bail!(
                "{}/enable is already {}: someone else is tracing syscalls; not touching it",
                floor.event.display(),
                floor.old_enable
            );
        }
        write(&floor.event.join("filter"), FLOOR_FILTER)?;
        write(&floor.event.join("enable"), "1")?;
        Ok(floor)
    }

    /// Entries the ring buffer holds: must stay 0 (the floor records nothing).
    pub fn recorded(tracefs: &Path) -> u64 {
        let mut total = 0;
        for cpu in 0..num_cpus() {
            let stats = tracefs.join(format!("per_cpu/cpu{cpu}/stats"));
            if let Ok(text) = fs::read_to_string(stats) {
                total += text
                    .lines()
                    .find_map(|l| l.strip_prefix("entries:"))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }
}

impl Drop for FtraceFloor {
    fn drop(&mut self) {
        let _ = write(&self.event.join("enable"), &self.old_enable);
        // "none" reads back for no filter; writing "0" clears one.
        let filter = if self.old_filter == "none" {
            "0"
        } else {
            &self.old_filter
        };
        let _ = write(&self.event.join("filter"), filter);
    }
}

fn write(path: &Path, value: &str) -> anyhow::Result<()> {
    fs::write(path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
}

/// Online CPUs.
pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Possible CPUs (what per-CPU maps are sized by), from /sys/devices/system/cpu/possible
/// (e.g. `0-1`, `0-3,8-11`).
pub fn possible_cpus() -> anyhow::Result<u64> {
    let text = fs::read_to_string("/sys/devices/system/cpu/possible")
        .context("reading /sys/devices/system/cpu/possible")?;
    let mut n = 0;
    for range in text.trim().split(',') {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        n += b.parse::<u64>()? - a.parse::<u64>()? + 1;
    }
    Ok(n)
}

/// A tracer running in the background. Stopped by signalling its PID; if it does not end in
/// time it and the children it had (found by PID in /proc) are SIGKILLed. Dropping it without
/// `stop` does the same.
pub struct Background {
    name: String,
    child: Option<Child>,
}

impl Background {
    pub fn spawn(name: &str, cmd: &mut Command) -> anyhow::Result<(Self, ChildStdout)> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", crate::shown(cmd)))?;
        let stdout = child.stdout.take().context("tracer stdout")?;
        Ok((
            Background {
                name: name.to_owned(),
                child: Some(child),
            },
            stdout,
        ))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Send `signal` and wait up to `timeout`; SIGKILL it (and its children) after that, with a
    /// warning.
    pub fn stop(mut self, signal: i32, timeout: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        let children = children_of(pid);
        // SAFETY: kill(2) on the PID of our own child, which we have not reaped yet.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                kill_all(&children);
                if !status.success() && status.code() != Some(128 + signal) {
                    eprintln!("bench: {} ended with {status}", self.name);
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                // The measurement is already taken; a tracer slow to detach (bpftrace under
                // load) is ended by its PID, and the run goes on.
                let _ = child.kill();
                let _ = child.wait();
                kill_all(&children);
                eprintln!(
                    "bench: warning: {} did not stop within {timeout:?}; killed",
                    self.name
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let children = children_of(child.id());
            let _ = child.kill();
            let _ = child.wait();
            kill_all(&children);
        }
    }
}

/// PIDs whose parent is `pid` (with their start times, so a recycled PID is never killed).
fn children_of(pid: u32) -> Vec<(i32, u64)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let (ppid, start) = stat_fields(p)?;
            (ppid == pid as i32).then_some((p, start))
        })
        .collect()
}

/// (ppid, start time) from /proc/PID/stat.
fn stat_fields(pid: i32) -> Option<(i32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn kill_all(pids: &[(i32, u64)]) {
    for (pid, start) in pids {
        if stat_fields(*pid).is_some_and(|(_, s)| s == *start) {
            // SAFETY: kill(2) on a process this bench started (checked by its start time).
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

/// Read lines of `stdout` until one equals `marker` (the tracer is attached), or fail after
/// `timeout` or at end of file. Reading happens on a thread so a silent tracer cannot hang us.
pub fn wait_for_line(
    stdout: ChildStdout,
    marker: &'static str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut found = false;
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if !found && line.trim() == marker {
                found = true;
                let _ = tx.send(());
            }
            line.clear();
        }
        // Keep draining to end of file, so the tracer never blocks on a full pipe.
    });
    rx.recv_timeout(timeout)
        .map_err(|_| anyhow::anyhow!("no {marker:?} from the tracer within {timeout:?}"))
}

/// Drain a child's stdout on a thread (a tracer that prints must not block on a full pipe).
pub fn drain(mut stdout: ChildStdout) {
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
}

/// One BPF map as the kernel accounts for it (from /proc/PID/fdinfo of the process holding
/// it, and its name from `BPF_OBJ_GET_INFO_BY_FD`).
#[derive(Clone, Debug)]
pub struct MapInfo {
    pub name: String,
    pub map_type: u32,
    pub key_size: u64,
    pub value_size: u64,
    pub max_entries: u64,
    pub map_flags: u64,
    /// The kernel's own accounting (`map->ops->map_mem_usage`, Linux 6.4+).
    pub memlock: u64,
}

/// The BPF maps `pid` holds open.
pub fn maps_of(pid: u32) -> anyhow::Result<Vec<MapInfo>> {
    let mut maps = Vec::new();
    let dir = format!("/proc/{pid}/fdinfo");
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let Ok(text) = fs::read_to_string(entry?.path()) else {
            continue;
        };
        let field = |name: &str| -> Option<u64> {
            let value = text.lines().find_map(|l| l.strip_prefix(name))?.trim();
            match value.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => value.parse().ok(),
            }
        };
        let (Some(map_type), Some(id)) = (field("map_type:"), field("map_id:")) else {
            continue;
        };
        let info = MapInfo {
            name: map_name(id as u32).unwrap_or_else(|_| format!("id {id}")),
            map_type: map_type as u32,
            key_size: field("key_size:").unwrap_or(0),
            value_size: field("value_size:").unwrap_or(0),
            max_entries: field("max_entries:").unwrap_or(0),
            map_flags: field("map_flags:").unwrap_or(0),
            memlock: field("memlock:").unwrap_or(0),
        };
        maps.push(info);
    }
    maps.sort_by_key(|m| std::cmp::Reverse(m.memlock));
    Ok(maps)
}

const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> std::io::Result<i64> {
    // SAFETY: bpf(2) with a zero-padded attribute block of the size we pass.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), size_of_val(attr)) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rc)
}

/// The name of map `id` (fdinfo does not show it).
fn map_name(id: u32) -> std::io::Result<String> {
    let mut attr = [0u64; 16];
    attr[0] = u64::from(id); // map_id
    let fd = bpf(BPF_MAP_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: a new fd the kernel just returned to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags (6 x u32),
    // then char name[16].
    let mut info = [0u8; 88];
    let mut attr = [0u64; 16];
    attr[0] = fd.as_raw_fd() as u64 | ((info.len() as u64) << 32); // bpf_fd, info_len
    attr[1] = info.as_mut_ptr() as u64; // info
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let name = &info[24..40];
    let len = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..len]).into_owned())
}

/// A memory figure of a running process from /proc/PID/status, in KiB: `VmHWM` (peak RSS),
/// `VmRSS` (resident now).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;

/// Tracing BPF programs loaded on the machine right now (kprobe, tracepoint, perf event, raw
/// tracepoint, tracing), as "name (type N)". On a shared machine another user's tracer adds
/// to every configuration, untraced included: the bench reports them next to the results.
pub fn tracing_programs() -> Vec<String> {
    const TYPES: [u32; 5] = [2, 5, 7, 17, 26];
    let mut found = Vec::new();
    let mut id = 0u32;
    loop {
        let mut attr = [0u64; 16];
        attr[0] = u64::from(id); // start_id
        if bpf(BPF_PROG_GET_NEXT_ID, &mut attr).is_err() {
            break;
        }
        id = (attr[0] >> 32) as u32; // next_id
        let mut attr = [0u64; 16];
        attr[0] = u64::from(id); // prog_id
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) else {
            continue;
        };
        // SAFETY: a new fd the kernel just returned to us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // struct bpf_prog_info: type at 0, name[16] at 64.
        let mut info = [0u8; 96];
        let mut attr = [0u64; 16];
        attr[0] = fd.as_raw_fd() as u64 | ((info.len() as u64) << 32);
        attr[1] = info.as_mut_ptr() as u64;
        if bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).is_err() {
            continue;
        }
        let prog_type = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
        if TYPES.contains(&prog_type) {
            let name = &info[64..80];
            let len = name.iter().position(|b| *b == 0).unwrap_or(name.len());
            found.push(format!(
                "{} (type {prog_type}, id {id})",
                String::from_utf8_lossy(&name[..len])
            ));
        }
    }
    found
}
