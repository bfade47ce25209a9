//! Shared by the end-to-end tests: where the binary is, and how privileged tests skip.
#![allow(
    dead_code,
    reason = "each test file uses a different part of this module"
)]

use std::path::PathBuf;
use std::process::Command;

pub mod containerd;
pub mod docker;
pub mod parent_e2e;
pub mod podman;
pub mod recorder;

/// The `sysallow` binary under test (built by cargo for this test run).
pub fn sysallow() -> Command {
    Command::new(sysallow_path())
}

pub fn sysallow_path() -> PathBuf {
    // The tests crate does not depend on the binary crate, so find it beside the test binary:
    // target/<profile>/deps/<test> -> target/<profile>/sysallow.
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("sysallow");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p sysallow), or run `cargo xtask test`",
        path.display()
    );
    path
}

/// CI sets this: every privileged test must run, and a skip becomes a failure.
pub const REQUIRE: &str = "SYSALLOW_REQUIRE_PRIVILEGED_TESTS";

fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// Skip (return false, after saying why) or fail when `need` is missing.
pub fn can_run(test: &str, need: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if required() {
        panic!("{test}: needs {need}, and {REQUIRE}=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: needs {need}");
    false
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// For tests that load eBPF programs: root (which on these machines has CAP_BPF).
pub fn can_run_root(test: &str) -> bool {
    can_run(test, "root (CAP_BPF, CAP_PERFMON, cgroup v2)", is_root())
}

/// [`can_run_root`], and [`can_run`] for something else the test needs.
pub fn can_run_root_with(test: &str, need: &str, available: bool) -> bool {
    can_run_root(test) && can_run(test, need, available)
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// The full path of `program` on PATH (panics if missing: call `have` first).
pub fn which(program: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .expect("running sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!path.is_empty(), "{program} is not on PATH");
    std::fs::canonicalize(&path)
        .map(|p| p.display().to_string())
        .unwrap_or(path)
}

/// Docker's default profile as vendored in the repository (`sysallow-profile/data/`), so that
/// containers can run under it without anything outside the tree.
pub fn docker_default_profile() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sysallow-profile/data/docker-default.json");
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// Assert that the profile at `path` is not wider than Docker's default where it matters:
/// `sysallow diff --against docker-default P --fail-on risky` exits 0.
pub fn assert_not_wider_than_docker_default(path: &std::path::Path) {
    let out = sysallow()
        .args(["diff", "--against", "docker-default"])
        .arg(path)
        .args(["--fail-on", "risky"])
        .output()
        .expect("running sysallow diff");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} is riskier than Docker's default:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compile `tests/workloads/NAME.c` into `dir` as NAME (with `flags`, e.g. `-static`, `-m32`,
/// `-lpthread`); None, after saying why, where gcc is missing and skipping is allowed.
pub fn compile_workload(
    test: &str,
    dir: &std::path::Path,
    name: &str,
    flags: &[&str],
) -> Option<PathBuf> {
    if !can_run(test, "gcc", have("gcc")) {
        return None;
    }
    let exe = dir.join(format!("{name}{}", flags.join("")));
    let out = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("workloads/{name}.c")))
        .args(flags)
        .output()
        .expect("running gcc");
    assert!(
        out.status.success(),
        "gcc {name}.c {flags:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

/// `sysallow ARGS` in `dir`.
pub fn sysallow_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    sysallow()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running sysallow")
}

/// A command's stdout, as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fail the test with the command's stderr unless it succeeded.
#[track_caller]
pub fn assert_success(out: &std::process::Output) {
    assert!(out.status.success(), "{}: {}", out.status, stderr(out));
}

/// A command's stderr, as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sysallow record FLAGS -o profile.json --recording rec.json -- ARGV` in `dir`; panics with
/// its stderr unless it succeeds. Returns its output (the command's stdout).
pub fn record_in(dir: &std::path::Path, flags: &[&str], argv: &[&str]) -> std::process::Output {
    let out = sysallow()
        .arg("record")
        .args(flags)
        .args(["-o", "profile.json", "--recording", "rec.json", "--"])
        .args(argv)
        .current_dir(dir)
        .output()
        .expect("running sysallow record");
    assert_success(&out);
    out
}

/// `sysallow run --profile PROFILE -- ARGV` in `dir`.
pub fn run_under(dir: &std::path::Path, profile: &str, argv: &[&str]) -> std::process::Output {
    sysallow()
        .args(["run", "--profile", profile, "--"])
        .args(argv)
        .current_dir(dir)
        .output()
        .expect("running sysallow run")
}

/// Keeps every core busy while it lives, as production machines are: one shell loop per CPU,
/// ended by PID on drop (also when the test fails).
pub struct Busy(Vec<std::process::Child>);

impl Busy {
    pub fn start() -> Busy {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Busy(
            (0..cpus)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(std::process::Stdio::null())
                        .spawn()
                        .expect("starting a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// sysallow-profile's test inputs for diff and explain (`sysallow-profile/tests/data/diff`).
pub fn diff_data() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sysallow-profile/tests/data/diff")
}

/// A golden file of sysallow-profile's (`sysallow-profile/tests/golden/NAME`).
pub fn golden(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sysallow-profile/tests/golden")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
