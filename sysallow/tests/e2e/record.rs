//! Root tests of `sysallow record`: the eBPF recorder against strace and against workloads
//! whose syscall counts are known, the command's lifecycle (exit status, signals, users), and
//! the errors a user can cause.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sysallow_profile::recording::UNATTRIBUTED;
use sysallow_profile::{Abi, Recording};

fn read_recording(path: &Path) -> Recording {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Recording::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Record `argv` and return the recording and the process output.
fn record(dir: &Path, argv: &[&str]) -> (Recording, Output) {
    record_with(dir, argv, None)
}

/// `record`, with the syscall programs attached as `attach` (`SYSALLOW_ATTACH`).
fn record_with(dir: &Path, argv: &[&str], attach: Option<&str>) -> (Recording, Output) {
    let rec = dir.join("rec.json");
    let mut cmd = common::sysallow();
    if let Some(attach) = attach {
        cmd.env("SYSALLOW_ATTACH", attach);
    }
    let out = cmd
        .arg("record")
        .arg("--recording")
        .arg(&rec)
        .arg("--")
        .args(argv)
        .current_dir(dir)
        .output()
        .expect("running sysallow record");
    assert!(
        rec.exists(),
        "no recording written: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (read_recording(&rec), out)
}

/// Per-syscall counts of one ABI, leaving out some programs.
fn counts(rec: &Recording, abi: Abi, skip_programs: &[&str]) -> BTreeMap<String, u64> {
    rec.abis
        .get(&abi)
        .map(|a| {
            a.syscalls
                .iter()
                .map(|(name, s)| {
                    let n: u64 = s
                        .programs
                        .iter()
                        .filter(|(p, _)| !skip_programs.contains(&p.as_str()))
                        .map(|(_, c)| c)
                        .sum();
                    (name.clone(), n)
                })
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default()
}

/// Parse `strace -c` output (the 64-bit table) into calls per syscall.
fn strace_summary(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).expect("strace summary");
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        if line.contains("32 bit") {
            break; // a second table follows for 32-bit calls; these workloads have none
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 5
            && fields[0].starts_with(|c: char| c.is_ascii_digit())
            && fields[fields.len() - 1] != "total"
            && let Ok(n) = fields[3].parse::<u64>()
        {
            calls.insert(fields[fields.len() - 1].to_owned(), n);
        }
    }
    calls
}

/// Record `strace -f -c -- workload` under sysallow, so both watch the very same run, and
/// require the recording to hold exactly what strace saw, count for count.
///
/// Explained differences: strace's own syscalls are attributed to its program and left out;
/// the `execve` of strace's forked child is strace's (so the workload's count is one less);
/// `exit` and `exit_group` never return, and strace -c does not count them.
fn assert_matches_strace(name: &str, workload: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("strace.txt");
    let mut argv = vec!["strace", "-f", "-c", "-o"];
    let summary_arg = summary.to_str().unwrap().to_owned();
    argv.push(&summary_arg);
    argv.push("--");
    argv.extend_from_slice(workload);
    let (rec, out) = record(dir.path(), &argv);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rec.losses.nonzero(), vec![], "{name}: losses");
    let strace_path = common::which("strace");
    let ours = counts(&rec, Abi::X86_64, &[&strace_path, UNATTRIBUTED]);
    let mut theirs = strace_summary(&summary);
    assert!(!theirs.is_empty(), "{name}: strace saw nothing");
    if let Some(execve) = theirs.get_mut("execve") {
        *execve -= 1;
        if *execve == 0 {
            theirs.remove("execve");
        }
    }
    let mut mismatches = Vec::new();
    for (syscall, n) in &theirs {
        let got = ours.get(syscall).copied().unwrap_or(0);
        if got != *n {
            mismatches.push(format!("{syscall}: strace {n}, sysallow {got}"));
        }
    }
    for (syscall, n) in &ours {
        if !theirs.contains_key(syscall) && !matches!(syscall.as_str(), "exit" | "exit_group") {
            mismatches.push(format!(
                "{syscall}: strace 0, sysallow {n} (unexplained extra)"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{name}: recording differs from strace -f:\n  {}",
        mismatches.join("\n  ")
    );
}

#[test]
fn matches_strace_for_real_programs() {
    require!(
        root,
        that(
            "strace, python3, git, tar, sqlite3",
            ["strace", "python3", "git", "tar", "sqlite3", "gzip"]
                .iter()
                .all(|p| common::have(p))
        )
    );
    assert_matches_strace(
        "python3",
        &[
            "python3",
            "-c",
            "import json, os; print(json.dumps(sorted(os.listdir('/usr'))))",
        ],
    );
    assert_matches_strace(
        "python3 threads",
        &[
            "python3",
            "-c",
            "import threading\n\
             def work(): open('/etc/hostname').read()\n\
             ts = [threading.Thread(target=work) for _ in range(8)]\n\
             [t.start() for t in ts]; [t.join() for t in ts]",
        ],
    );
    assert_matches_strace(
        "git",
        &[
            "sh",
            "-c",
            "git init -q repo && cd repo && echo hello > f && git add f && \
             git -c user.email=t@example.com -c user.name=t commit -qm first && git log --oneline",
        ],
    );
    assert_matches_strace(
        "tar",
        &[
            "sh",
            "-c",
            "tar -czf a.tgz -C /usr/share/doc tar && mkdir x && tar -xzf a.tgz -C x && ls -R x",
        ],
    );
    assert_matches_strace(
        "sqlite3",
        &[
            "sqlite3",
            "db.sqlite",
            "create table t(x); insert into t values (1),(2),(3); select sum(x) from t;",
        ],
    );
}

/// Compile a C test workload into `dir`.
fn compile(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let exe = dir.join(name);
    let status = Command::new("gcc")
        .args(flags)
        .arg("-O1")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .arg("-lpthread")
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc {name} failed");
    exe
}

#[test]
fn counts_every_syscall_of_8_threads_and_2000_forked_children() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    // Each thread makes exactly 10,000 getppid() calls; each of 2,000 children makes exactly
    // one getppid() and one getpid() before _exit. raw syscall() so that libc cannot cache.
    let exe = compile(dir.path(), "storm", STORM, &[]);
    let (rec, out) = record(dir.path(), &[exe.to_str().unwrap()]);
    assert_storm_counts(&rec, &out, exe.to_str().unwrap());
}

/// Each thread makes exactly 10,000 getppid() calls; each of 2,000 children makes exactly
/// one getppid() and one getpid() before _exit. raw syscall() so that libc cannot cache.
const STORM: &str = r#"
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void *work(void *arg) {
    for (int i = 0; i < 10000; i++) syscall(SYS_getppid);
    return arg;
}
int main(void) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) pthread_create(&t[i], 0, work, 0);
    for (int i = 0; i < 8; i++) pthread_join(t[i], 0);
    for (int i = 0; i < 2000; i++) {
        pid_t pid = fork();
        if (pid == 0) { syscall(SYS_getpid); syscall(SYS_getppid); _exit(0); }
        waitpid(pid, 0, 0);
    }
    return 0;
}
"#;

fn assert_storm_counts(rec: &Recording, out: &Output, exe_path: &str) {
    common::assert_success(out);
    assert_eq!(rec.losses.nonzero(), vec![]);
    let native = &rec.abis[&Abi::X86_64].syscalls;
    assert_eq!(native["getppid"].count, 8 * 10_000 + 2_000);
    assert_eq!(native["getpid"].count, 2_000);
    assert_eq!(native["wait4"].count, 2_000);
    // glibc's fork() is clone(); pthread_create uses clone3.
    assert_eq!(native["clone"].count, 2_000);
    assert_eq!(native["clone3"].count, 8);
    // Forked children inherit their parent's program; nothing is unattributed but the exec.
    assert_eq!(native["getppid"].programs[exe_path], 82_000);
    assert_eq!(native["execve"].programs[UNATTRIBUTED], 1);
}

#[test]
fn names_32_bit_syscalls_by_their_own_table() {
    require!(root, that("gcc -m32 (gcc-multilib)", common::have("gcc")));
    let dir = tempfile::tempdir().unwrap();
    // A 32-bit process: i386 numbers, i386 names (set_thread_area exists only there).
    let exe32 = compile(
        dir.path(),
        "prog32",
        "#include <unistd.h>\nint main(void){ char b[4]; return read(0, b, 0) < 0; }\n",
        &["-m32", "-static"],
    );
    let (rec, out) = record(dir.path(), &[exe32.to_str().unwrap()]);
    common::assert_success(&out);
    let x86 = &rec.abis[&Abi::X86].syscalls;
    assert!(x86.contains_key("set_thread_area"), "{:?}", x86.keys());
    assert!(x86.contains_key("read"));
    assert_eq!(x86["read"].nr, 3, "i386 read is 3 (x86_64's is 0)");
    let native: Vec<&String> = rec.abis[&Abi::X86_64].syscalls.keys().collect();
    assert_eq!(native, ["execve"], "only the exec is 64-bit");

    // int 0x80 from a 64-bit process: i386 getppid is 64, which is semget in the 64-bit
    // table. The code segment stays 64-bit; only TS_COMPAT tells.
    let exe = compile(
        dir.path(),
        "int80",
        "int main(void){ long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(64L) : \"memory\"); return r <= 0; }\n",
        &[],
    );
    let (rec, out) = record(dir.path(), &[exe.to_str().unwrap()]);
    common::assert_success(&out);
    assert_eq!(rec.abis[&Abi::X86].syscalls["getppid"].count, 1);
    assert!(!rec.abis[&Abi::X86_64].syscalls.contains_key("semget"));
}

#[test]
fn exit_status_is_the_commands() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let (rec, out) = record(dir.path(), &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(rec.exit.map(|e| e.status()), Some(7));
    let (rec, out) = record(dir.path(), &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(128 + 9));
    assert_eq!(rec.exit.map(|e| e.status()), Some(128 + 9));
}

#[test]
fn sigterm_reaches_the_command_and_outputs_are_still_written() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.json");
    let mut child = common::sysallow()
        .arg("record")
        .arg("--recording")
        .arg(&rec)
        .args(["--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: signalling the child we started, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15), "sleep was ended by SIGTERM");
    let rec = read_recording(&rec);
    let syscalls = &rec.abis[&Abi::X86_64].syscalls;
    assert!(
        syscalls.contains_key("clock_nanosleep") || syscalls.contains_key("nanosleep"),
        "{:?}",
        syscalls.keys()
    );
}

#[test]
fn command_not_found_is_127_and_leaves_nothing() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.json");
    let child = common::sysallow()
        .arg("record")
        .arg("--recording")
        .arg(&rec)
        .args(["--", "no-such-command-sysallow"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-command-sysallow: command not found"),
        "{stderr}"
    );
    assert!(!rec.exists());
    assert_no_leftover_cgroup(pid);
}

#[test]
fn unwritable_output_fails_before_the_command_runs() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let out = common::sysallow()
        .args(["record", "-o", "/nonexistent-dir/profile.json", "--"])
        .args(["touch", marker.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent-dir/profile.json"), "{stderr}");
    assert!(
        !marker.exists(),
        "the command ran although the output cannot be written"
    );
}

#[test]
fn refuses_without_privilege_and_says_what_is_missing() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    // setpriv drops to nobody with no capabilities, as an ordinary user would run it.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(common::sysallow_path())
        .args(["record", "-o", "-", "--", "touch", marker.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CAP_BPF"), "{stderr}");
    assert!(!marker.exists());
}

#[test]
fn no_cgroup_v2_is_a_clear_error() {
    require!(root, program("unshare", "unshare"));
    // In a private mount namespace, unmount every cgroup2 mount and try to record.
    let script = format!(
        "grep ' - cgroup2 ' /proc/self/mountinfo | cut -d' ' -f5 | xargs -r -n1 umount -l && \
         exec {} record -o - -- true",
        common::sysallow_path().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no cgroup v2 hierarchy"), "{stderr}");
}

#[test]
fn under_sudo_runs_as_the_invoking_user_who_owns_the_outputs() {
    require!(root);
    use std::os::unix::fs::MetadataExt as _;
    // The user's own directory: sysallow writes only where the invoking user could.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    let rec = dir.path().join("rec.json");
    let out = common::sysallow()
        .arg("record")
        .arg("--recording")
        .arg(&rec)
        .args(["--", "id", "-u"])
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534");
    assert_eq!(std::fs::metadata(&rec).unwrap().uid(), 65534);
    let out = common::sysallow()
        .arg("record")
        .arg("--recording")
        .arg(&rec)
        .args(["--user", "root", "--", "id", "-u"])
        .env("SUDO_UID", "65534")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

/// The cgroup a `sysallow record` with this pid created is gone.
fn assert_no_leftover_cgroup(sysallow_pid: u32) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = mountinfo
        .lines()
        .find(|l| l.contains(" - cgroup2 "))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap();
    let own = Path::new(mount)
        .join("sysallow")
        .join(format!("run-{sysallow_pid}"));
    assert!(!own.exists(), "{} was left behind", own.display());
}

/// A cgroup of the test's own with a process in it, removed (process killed) on drop.
struct OwnCgroup {
    dir: PathBuf,
    child: std::process::Child,
}

impl OwnCgroup {
    /// Start `script` under `sh` inside a fresh cgroup v2 directory.
    fn start(name: &str, script: &str) -> OwnCgroup {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mount = mountinfo
            .lines()
            .find(|l| l.contains(" - cgroup2 "))
            .and_then(|l| l.split_whitespace().nth(4))
            .unwrap()
            .to_owned();
        let dir = Path::new(&mount).join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        // The child moves itself in before running the script, so all of it is inside.
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec sh -c '{script}'",
                dir.display()
            ))
            .spawn()
            .unwrap();
        OwnCgroup { dir, child }
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..200 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn records_a_running_process_by_pid_and_its_cgroup_by_path() {
    require!(root);
    // A process already running when sysallow attaches: it reads a file in a loop.
    let own = OwnCgroup::start(
        "sysallow-test-pid",
        "while :; do cat /etc/hostname > /dev/null; sleep 0.05; done",
    );
    std::thread::sleep(Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let by_pid = dir.path().join("pid.rec.json");
    let out = common::sysallow()
        .args([
            "record",
            "--pid",
            &own.child.id().to_string(),
            "--duration",
            "1",
        ])
        .arg("--recording")
        .arg(&by_pid)
        .output()
        .unwrap();
    common::assert_success(&out);
    let rec = read_recording(&by_pid);
    match &rec.target {
        sysallow_profile::recording::Target::Cgroup { pid, .. } => {
            assert_eq!(*pid, Some(own.child.id()));
        }
        other => panic!("{other:?}"),
    }
    let native = &rec.abis[&Abi::X86_64].syscalls;
    // The loop's cat runs many times a second: its exec and reads are recorded under it.
    assert!(native["execve"].count >= 5, "{:?}", native["execve"]);
    assert!(native["read"].programs.keys().any(|p| p.ends_with("/cat")));
    // The shell was running before sysallow attached: adopted under its own program.
    assert!(
        native["wait4"]
            .programs
            .keys()
            .any(|p| p.ends_with("sh") || p.ends_with("dash"))
    );

    let by_path = dir.path().join("cgroup.rec.json");
    let out = common::sysallow()
        .args(["record", "--duration", "0.5", "--cgroup"])
        .arg(&own.dir)
        .arg("--recording")
        .arg(&by_path)
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(read_recording(&by_path).abis[&Abi::X86_64].syscalls["execve"].count >= 2);
}

/// A process whose last thread is not its leader (a Go program's exit often ends that way) is
/// forgotten when it ends: a later process given the same pid, entering the cgroup from
/// outside with no exec, is not taken for it. (Kept, the entry had Podman's runc containers'
/// set-up counted as their workload, when `runc init` got a pid reused from such a process.)
#[test]
fn a_process_ended_by_a_thread_other_than_its_leader_leaves_nothing_for_its_pid() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let exe = common::compile_workload(dir.path(), "pid_reuse", &["-lpthread"]);
    // A shell keeps the cgroup in use while the recorder attaches.
    let own = OwnCgroup::start("sysallow-test-reuse", "while :; do sleep 1; done");
    let rec_path = dir.path().join("reuse.rec.json");
    let recorder = common::recorder::Recorder::start_env(
        &[
            "--cgroup",
            own.dir.to_str().unwrap(),
            "--recording",
            rec_path.to_str().unwrap(),
        ],
        &[],
    );
    let out = Command::new(&exe).arg(&own.dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    assert!(common::stdout(&out).starts_with("reused "));
    assert!(recorder.interrupt().success());
    let rec = read_recording(&rec_path);
    let native = &rec.abis[&Abi::X86_64].syscalls;
    let exe = exe.to_str().unwrap();
    // The leader ran as itself; the process with its pid afterwards did not.
    assert!(
        native["exit_group"].programs.contains_key(exe),
        "{native:?}"
    );
    let getpriority = &native["getpriority"];
    assert!(
        !getpriority.programs.contains_key(exe),
        "the reused pid was taken for the ended process: {getpriority:?}"
    );
    assert!(
        getpriority.programs.contains_key(UNATTRIBUTED),
        "{getpriority:?}"
    );
}

#[test]
fn the_classic_tracepoint_fallback_records_the_same() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "storm", STORM, &[]);
    let (rec, out) = record_with(dir.path(), &[exe.to_str().unwrap()], Some("tracepoint"));
    assert_storm_counts(&rec, &out, exe.to_str().unwrap());
    // The ABI comes from the task, not from how the program is attached.
    let exe = compile(
        dir.path(),
        "int80",
        "int main(void){ long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(64L) : \"memory\"); return r <= 0; }\n",
        &[],
    );
    let (rec, out) = record_with(dir.path(), &[exe.to_str().unwrap()], Some("tracepoint"));
    common::assert_success(&out);
    assert_eq!(rec.abis[&Abi::X86].syscalls["getppid"].count, 1);
}

#[test]
fn the_command_runs_where_sysallow_was_started_and_sees_the_host_as_it_is() {
    require!(root);
    // sysallow creates its loader in a short-lived private mount namespace (to keep aya from
    // parsing the kernel's BTF); the command must not notice: same working directory, same
    // mount namespace, the real /sys/kernel/btf/vmlinux.
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = record(
        dir.path(),
        &[
            "sh",
            "-c",
            "pwd; readlink /proc/self/ns/mnt; wc -c < /sys/kernel/btf/vmlinux 2>/dev/null || echo 0",
        ],
    );
    common::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        std::fs::canonicalize(dir.path()).unwrap().to_str().unwrap()
    );
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(lines[1], ours.to_str().unwrap());
    let btf_size = std::fs::metadata("/sys/kernel/btf/vmlinux").map_or(0, |m| m.len());
    if btf_size > 0 {
        assert!(
            lines[2].trim().parse::<u64>().unwrap() > 0,
            "vmlinux hidden: {stdout}"
        );
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains("/sys/kernel/btf/vmlinux"),
        "a bind mount leaked"
    );
}

#[test]
fn a_kernel_without_btf_is_a_clear_error() {
    require!(root, program("unshare", "unshare"));
    // In a private mount namespace, hide /sys/kernel/btf as a kernel without BTF would lack it.
    let script = format!(
        "mount -t tmpfs none /sys/kernel/btf && exec {} record -o - -- true",
        common::sysallow_path().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no BTF"), "{stderr}");
    assert!(stderr.contains("CONFIG_DEBUG_INFO_BTF"), "{stderr}");
}

#[test]
fn mounts_tracefs_itself_when_it_is_not_mounted() {
    require!(root, program("unshare", "unshare"));
    // In a private mount namespace, cover tracefs (and the debugfs copy) with empty
    // directories, as on a host that does not mount it at boot.
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.json");
    let script = format!(
        "mount -t tmpfs none /sys/kernel/tracing && \
         {{ ! [ -d /sys/kernel/debug ] || mount -t tmpfs none /sys/kernel/debug; }} && \
         ! [ -e /sys/kernel/tracing/events ] && \
         {} record --recording {} -- true",
        common::sysallow_path().display(),
        rec.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(
        read_recording(&rec).abis[&Abi::X86_64]
            .syscalls
            .contains_key("execve")
    );
}
