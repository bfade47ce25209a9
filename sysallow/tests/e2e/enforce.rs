//! `sysallow run` and `sysallow verify` on real workloads, unprivileged.
//!
//! The workloads are the C programs in `tests/workloads/`, compiled here with gcc (statically,
//! so the syscalls they make do not depend on the dynamic loader or the host's libraries).
//! The profiles list the syscalls a static glibc 2.36 x86_64 program makes (Debian 12's
//! libc6-dev), found with `strace -f -c` and written out here so the tests are deterministic;
//! `the_static_glibc_2_36_start_up_is_what_this_machine_builds` checks that premise with
//! strace on the machine the tests run on, and says so when another libc breaks it.

use crate::common;

use crate::common::{stderr, stdout, workloads};
use crate::macros::Need;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sysallow_profile::Abi;
use sysallow_profile::recording::{Host, Recording, Target};

/// What any static glibc 2.36 program does from `execve` to `exit_group` (x86_64):
/// the exec itself; static start-up (brk for the heap, arch_prctl for TLS, set_tid_address,
/// set_robust_list, rseq, prlimit64 for the stack limit, readlink of /proc/self/exe,
/// getrandom for malloc's tcache key, mprotect for RELRO); printf (newfstatat of stdout,
/// write); and the exit.
const STATIC_GLIBC_2_36_X86_64: &[&str] = &[
    "execve",
    "brk",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "readlink",
    "getrandom",
    "mprotect",
    "newfstatat",
    "write",
    "exit_group",
];

/// The same for a static 32-bit (i386) program: ugetrlimit instead of prlimit64,
/// set_thread_area instead of arch_prctl, statx instead of newfstatat.
const STATIC_GLIBC_2_36_X86: &[&str] = &[
    "brk",
    "readlink",
    "mprotect",
    "ugetrlimit",
    "set_thread_area",
    "set_tid_address",
    "set_robust_list",
    "getrandom",
    "statx",
    "rseq",
    "write",
    "exit_group",
];

impl Need {
    /// The expected syscall lists above are for static x86_64 binaries: `require!(x86_64)`.
    fn x86_64() -> Need {
        Need::that("an x86_64 host", cfg!(target_arch = "x86_64"))
    }
}

/// Compile `sysallow/tests/workloads/NAME.c` statically into `dir`; the test says
/// `require!(gcc, x86_64)` first.
fn compile(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let flags: Vec<&str> = ["-static"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    common::compile_workload(dir, name, &flags)
}

fn write_profile(dir: &Path, name: &str, profile: serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&profile).unwrap()).unwrap();
    path
}

/// An allowlist: these names allowed, everything else EPERM.
fn allowlist(names: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
    })
}

/// Run sysallow with `args`; kill it (and fail) if it takes longer than a minute, so a broken
/// supervisor never hangs the test run or leaves a process behind.
fn sysallow(args: &[&std::ffi::OsStr]) -> Output {
    let mut child = common::sysallow()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sysallow");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait for sysallow").is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "sysallow {args:?} hung; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// The premise of this module, measured where it runs: a static `hello` built here makes
/// exactly the syscalls of [`STATIC_GLIBC_2_36_X86_64`] (strace, same run). On a machine whose
/// gcc links another static glibc this fails first, naming the difference, instead of the
/// tests below failing with a denial.
#[test]
fn the_static_glibc_2_36_start_up_is_what_this_machine_builds() {
    require!(gcc, x86_64, program("strace", "strace"));
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    let trace = dir.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg(&hello)
        .arg("0")
        .output()
        .unwrap();
    assert!(out.status.success(), "strace: {}", stderr(&out));
    let text = std::fs::read_to_string(&trace).unwrap();
    // `NAME(ARGS) = RESULT`, or `+++ exited with 0 +++`; strace names execve too.
    let made: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once('(').map(|(name, _)| name))
        .map(|name| name.rsplit(' ').next().unwrap_or(name).trim())
        .filter(|name| !name.is_empty() && !name.starts_with('+'))
        .collect();
    let listed: std::collections::BTreeSet<&str> =
        STATIC_GLIBC_2_36_X86_64.iter().copied().collect();
    assert_eq!(
        made, listed,
        "a static program built on this machine makes other syscalls than glibc 2.36's \
         (left: measured with strace, right: STATIC_GLIBC_2_36_X86_64); update the list"
    );
}

#[test]
fn a_static_workload_runs_under_its_profile_and_keeps_its_exit_status() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    let profile = write_profile(dir.path(), "p.json", allowlist(STATIC_GLIBC_2_36_X86_64));
    let out = sysallow(args!["run", "--profile", &profile, "--", &hello, "5"]);
    assert_eq!(stdout(&out), "hello\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
}

#[test]
fn a_syscall_not_in_the_profile_is_denied_with_eperm() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    let profile = write_profile(dir.path(), "p.json", allowlist(STATIC_GLIBC_2_36_X86_64));
    let target = dir.path().join("made");
    let out = sysallow(args![
        "run",
        "--profile",
        &profile,
        "--",
        &hello,
        "0",
        &target
    ]);
    assert!(
        stderr(&out).contains("mkdir: Operation not permitted"),
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(!target.exists());
}

#[test]
fn commands_that_cannot_start_get_shell_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(dir.path(), "p.json", allowlist(STATIC_GLIBC_2_36_X86_64));

    let out = sysallow(args![
        "run",
        "--profile",
        &profile,
        "--",
        "sysallow-no-such-cmd"
    ]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("sysallow: sysallow-no-such-cmd: command not found"),
        "stderr: {}",
        stderr(&out)
    );

    let not_exec = dir.path().join("data.txt");
    std::fs::write(&not_exec, "not a program").unwrap();
    let out = sysallow(args!["run", "--profile", &profile, "--", &not_exec]);
    assert_eq!(out.status.code(), Some(126), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("Permission denied"));
}

#[test]
fn a_malformed_profile_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n",
    )
    .unwrap();
    let out = sysallow(args!["run", "--profile", &bad, "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.json") && err.contains("line 4"),
        "stderr: {err}"
    );

    let typo = write_profile(
        dir.path(),
        "typo.json",
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscals": []}),
    );
    let out = sysallow(args!["run", "--profile", &typo, "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("syscals"), "stderr: {}", stderr(&out));
}

#[test]
fn a_profile_without_execve_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<&str> = STATIC_GLIBC_2_36_X86_64
        .iter()
        .copied()
        .filter(|n| *n != "execve")
        .collect();
    let profile = write_profile(dir.path(), "p.json", allowlist(&names));
    let out = sysallow(args!["run", "--profile", &profile, "--", "true"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        stderr(&out).contains("does not allow execve"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn unknown_syscall_names_are_named_in_a_warning() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    let mut names = STATIC_GLIBC_2_36_X86_64.to_vec();
    names.extend(["no_such_syscall_a", "no_such_syscall_b"]);
    let profile = write_profile(dir.path(), "p.json", allowlist(&names));
    let out = sysallow(args!["run", "--profile", &profile, "--", &hello]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("no_such_syscall_a, no_such_syscall_b"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn podman_string_errnos_and_min_kernel_are_honoured() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    // mkdir is allowed only on kernel 99.0 and later, so it falls to the default: EACCES.
    let profile = write_profile(
        dir.path(),
        "p.json",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrno": "EACCES",
            "syscalls": [
                { "names": STATIC_GLIBC_2_36_X86_64, "action": "SCMP_ACT_ALLOW" },
                { "names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
                  "includes": { "minKernel": "99.0" } }
            ]
        }),
    );
    let target = dir.path().join("made");
    let out = sysallow(args![
        "run",
        "--profile",
        &profile,
        "--",
        &hello,
        "0",
        &target
    ]);
    assert!(
        stderr(&out).contains("mkdir: Permission denied"),
        "stderr: {}",
        stderr(&out)
    );
    assert!(!target.exists());
}

/// The clone3 case: glibc 2.36's posix_spawn tries clone3 and falls back to clone only on
/// ENOSYS. A profile generated from a recording that saw clone (not clone3) answers clone3 with
/// ENOSYS and the spawn works; a naive allowlist answers it with EPERM and the spawn fails.
#[test]
fn clone3_needs_enosys_not_eperm() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let spawn = compile(dir.path(), "spawn", &[]);
    // What `spawn` makes when clone3 is answered with ENOSYS (strace -f under such a filter):
    // the static start-up and exit of both processes (STATIC_GLIBC_2_36_X86_64), plus posix_spawn's own:
    // mmap/munmap for the child's stack, rt_sigprocmask to block signals around the clone,
    // rt_sigaction in the child to reset handlers, clone (the fallback: the recording never
    // observed clone3, because it was answered with ENOSYS), and wait4 for waitpid.
    let mut names = STATIC_GLIBC_2_36_X86_64.to_vec();
    names.extend([
        "mmap",
        "munmap",
        "rt_sigprocmask",
        "rt_sigaction",
        "clone",
        "wait4",
    ]);
    let mut recording = Recording::new(
        Target::Command {
            argv: vec![spawn.display().to_string()],
            user: None,
        },
        Host {
            kernel: "6.1.0".into(),
            arch: Abi::X86_64,
            libc: Some("glibc 2.36".into()),
        },
        "2025-01-01T00:00:00Z".into(),
    );
    for name in &names {
        let nr = Abi::X86_64.syscall_nr(name).expect("an x86_64 syscall");
        recording.add(Abi::X86_64, nr, &spawn.display().to_string(), 1);
    }
    let rec = dir.path().join("spawn.rec.json");
    std::fs::write(&rec, recording.to_json()).unwrap();

    // The naive profile: exactly what was observed, everything else EPERM.
    let naive = write_profile(dir.path(), "naive.json", allowlist(&names));
    let out = sysallow(args!["run", "--profile", &naive, "--", &spawn]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).contains("posix_spawn failed: Operation not permitted"),
        "stdout: {}",
        stdout(&out)
    );

    let generated = dir.path().join("generated.json");
    let out = sysallow(args!["generate", &rec, "-o", &generated]);
    assert!(
        out.status.success(),
        "sysallow generate failed: {}",
        stderr(&out)
    );
    let out = sysallow(args!["run", "--profile", &generated, "--", &spawn]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}\nprofile: {}",
        stdout(&out),
        stderr(&out),
        std::fs::read_to_string(&generated).unwrap()
    );
    assert_eq!(stdout(&out), "spawned: child exited 0\n");

    // verify keeps the ENOSYS answer (so libc falls back as under enforcement) and does not
    // count it as missing.
    let out = sysallow(args!["verify", "--profile", &generated, "--", &spawn]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("clone3 (x86_64) answered with ENOSYS"),
        "stderr: {err}"
    );
    assert!(err.contains("0 syscalls would be denied"), "stderr: {err}");
}

#[test]
fn verify_lists_what_is_missing_and_lets_the_workload_succeed() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    // Too small: no mkdir, and no write (so printf would fail under enforcement).
    let names: Vec<&str> = STATIC_GLIBC_2_36_X86_64
        .iter()
        .copied()
        .filter(|n| *n != "write")
        .collect();
    let profile = write_profile(dir.path(), "p.json", allowlist(&names));
    let target = dir.path().join("made");
    let out = sysallow(args![
        "verify",
        "--profile",
        &profile,
        "--",
        &hello,
        "0",
        &target
    ]);
    assert_eq!(stdout(&out), "hello\n");
    assert!(target.is_dir(), "the workload's mkdir was let through");
    let err = stderr(&out);
    assert!(
        err.contains("2 syscalls would be denied: mkdir (x86_64, 1x), write (x86_64, 1x)"),
        "stderr: {err}"
    );
    // The command succeeded but the profile is insufficient: 3 (documented).
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");

    // A failing command's own status wins.
    let out = sysallow(args!["verify", "--profile", &profile, "--", &hello, "9"]);
    assert_eq!(out.status.code(), Some(9));

    // A sufficient profile: 0, and says so.
    let full = write_profile(dir.path(), "full.json", allowlist(STATIC_GLIBC_2_36_X86_64));
    let out = sysallow(args!["verify", "--profile", &full, "--", &hello]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("0 syscalls would be denied"));

    // A profile's warning is said once, also when verify writes a fix (it reads it twice).
    let mut names: Vec<&str> = STATIC_GLIBC_2_36_X86_64.to_vec();
    names.push("getpid");
    names.push("getpid");
    let repeated = write_profile(dir.path(), "repeated.json", allowlist(&names));
    let fixed = dir.path().join("fixed.json");
    let out = sysallow(args![
        "verify",
        "--profile",
        &repeated,
        "-o",
        &fixed,
        "--",
        &hello
    ]);
    let err = stderr(&out);
    assert_eq!(err.matches("getpid is given").count(), 1, "stderr: {err}");
}

#[test]
fn verify_fixes_a_deliberately_incomplete_profile_which_then_runs_20_of_20() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("words"), "pear\napple\nfig\napple\n").unwrap();
    let words = dir.path().join("words");
    let words = words.to_str().unwrap();
    let pipeline = format!("sort {words} | uniq -c | sort -rn | head -1");
    // Far too small for a shell pipeline: only the exec itself and the exit.
    let profile = write_profile(
        dir.path(),
        "small.json",
        allowlist(&["execve", "exit_group", "brk", "arch_prctl"]),
    );
    let fixed = dir.path().join("fixed.json");
    let delta = dir.path().join("delta.rec.json");
    let out = sysallow(args![
        "verify",
        "--profile",
        &profile,
        "-o",
        &fixed,
        "--recording",
        &delta,
        "--",
        "sh",
        "-c",
        &pipeline
    ]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    let expected = stdout(&out);
    assert_eq!(expected.trim(), "2 apple");
    assert!(stderr(&out).contains("addition(s)"), "{}", stderr(&out));

    // Every addition says why.
    let text = std::fs::read_to_string(&fixed).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let added: Vec<&serde_json::Value> = json["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["comment"]
                .as_str()
                .is_some_and(|c| c.starts_with("verify: "))
        })
        .collect();
    assert!(added.len() > 5, "{text}");
    assert!(
        text.contains("pipe2") || text.contains("\"pipe\""),
        "{text}"
    );

    for i in 1..=20 {
        let out = sysallow(args![
            "run",
            "--profile",
            &fixed,
            "--",
            "sh",
            "-c",
            &pipeline
        ]);
        assert!(out.status.success(), "run {i} of 20: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "run {i}");
    }
    // The fixed profile is complete for this workload, by verify's own account.
    let out = sysallow(args![
        "verify",
        "--profile",
        &fixed,
        "--",
        "sh",
        "-c",
        &pipeline
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));

    // The delta is a Recording that merge takes.
    let merged = dir.path().join("merged.rec.json");
    let out = sysallow(args!["merge", &delta, &delta, "-o", &merged]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rec = std::fs::read_to_string(&merged).unwrap();
    assert!(
        rec.contains("\"sysallow-recording\"") && rec.contains("pipe"),
        "{rec}"
    );
}

#[test]
fn log_denials_denies_and_names_each_syscall() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let hello = compile(dir.path(), "hello", &[]);
    let profile = write_profile(dir.path(), "p.json", allowlist(STATIC_GLIBC_2_36_X86_64));
    let target = dir.path().join("made");
    let out = sysallow(args![
        "run",
        "--log-denials",
        "--profile",
        &profile,
        "--",
        &hello,
        "0",
        &target
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("denied mkdir (x86_64) with EPERM"),
        "stderr: {err}"
    );
    assert!(
        err.contains("mkdir: Operation not permitted"),
        "stderr: {err}"
    );
    assert!(err.contains("syscalls denied: "), "stderr: {err}");
    assert!(!target.exists());
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn argument_conditions_are_honoured() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    let args_bin = compile(dir.path(), "args", &[]);
    let mut names = STATIC_GLIBC_2_36_X86_64.to_vec();
    names.push("close");
    let profile = write_profile(
        dir.path(),
        "p.json",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": names, "action": "SCMP_ACT_ALLOW" },
                // Two conditions on one argument: ORed (one rule each, as runc does).
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [
                      { "index": 0, "value": 0xffff_ffff_u64, "op": "SCMP_CMP_EQ" },
                      { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }
                  ] },
                // MASKED_EQ: `value` is the mask, `valueTwo` the expected value (AF_UNIX = 1).
                { "names": ["socket"], "action": "SCMP_ACT_ALLOW",
                  "args": [
                      { "index": 0, "value": 0xff, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ" }
                  ] },
                { "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                  "args": [ { "index": 0, "value": 2, "op": "SCMP_CMP_EQ" } ] }
            ]
        }),
    );
    let out = sysallow(args!["run", "--profile", &profile, "--", &args_bin]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "personality(0xffffffff): ok\n\
         personality(PER_LINUX32): Operation not permitted\n\
         socket(AF_UNIX): ok\n\
         socket(AF_INET): Address family not supported by protocol\n"
    );
}

#[test]
fn arch_map_adds_the_compat_abi() {
    require!(gcc, x86_64);
    let dir = tempfile::tempdir().unwrap();
    compile(dir.path(), "hello", &[]);
    let m32 = Command::new("gcc")
        .args(["-m32", "-static", "-O2", "-o"])
        .arg(dir.path().join("hello32"))
        .arg(workloads().join("hello.c"))
        .status()
        .is_ok_and(|s| s.success());
    require!(that("gcc -m32 (gcc-multilib)", m32));
    let hello32 = dir.path().join("hello32");
    let mut names = STATIC_GLIBC_2_36_X86_64.to_vec();
    names.extend(STATIC_GLIBC_2_36_X86);
    let with_map = write_profile(
        dir.path(),
        "map.json",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [
                { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"] },
                { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] }
            ],
            "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
        }),
    );
    let out = sysallow(args!["run", "--profile", &with_map, "--", &hello32, "4"]);
    assert_eq!(out.status.code(), Some(4), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n");

    // Without the i386 ABI in the filter, its first syscall kills the program (SIGSYS).
    let native_only = write_profile(
        dir.path(),
        "native.json",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
        }),
    );
    let out = sysallow(args!["run", "--profile", &native_only, "--", &hello32, "4"]);
    assert_eq!(out.status.code(), None, "killed by a signal");
    // ... and verify names the i386 syscalls that would be refused.
    let out = sysallow(args![
        "verify",
        "--profile",
        &native_only,
        "--",
        &hello32,
        "4"
    ]);
    assert!(
        stderr(&out).contains("would deny brk (x86) with kill"),
        "stderr: {}",
        stderr(&out)
    );
}

/// Where pidfd_open fails (kernels before 5.3, or denied by a filter around sysallow), verify
/// and run --log-denials say so at once, instead of blocking in waitpid on a command that waits
/// for a notification nobody answers. Forced here with an outer filter that denies it.
#[test]
fn without_pidfd_open_verify_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let outer = write_profile(
        dir.path(),
        "outer.json",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["pidfd_open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }]
        }),
    );
    let inner = write_profile(
        dir.path(),
        "inner.json",
        allowlist(STATIC_GLIBC_2_36_X86_64),
    );
    let sysallow = common::sysallow_path();
    for how in [
        &["verify", "--profile"][..],
        &["run", "--log-denials", "--profile"][..],
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "run".as_ref(),
            "--profile".as_ref(),
            outer.as_os_str(),
            "--".as_ref(),
            sysallow.as_os_str(),
        ];
        args.extend(how.iter().map(|a| std::ffi::OsStr::new(*a)));
        args.extend([inner.as_os_str(), "--".as_ref(), "true".as_ref()]);
        // `sysallow` (the helper) kills and fails the test after a minute: a hang is caught.
        let out = self::sysallow(&args);
        assert!(!out.status.success(), "{how:?}: {out:?}");
        let err = stderr(&out);
        assert!(
            err.contains("pidfd_open") && err.contains("Function not implemented"),
            "{how:?}: {err}"
        );
    }
}
