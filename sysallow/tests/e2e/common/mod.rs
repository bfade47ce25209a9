//! Shared by the end-to-end tests: the binary under test, its common invocations, and the
//! repository's data. The machine-level harness is in `harness` (processes, mounts, cgroups),
//! `load` (busy and quiet machines), `image` (the container test image), `crun`; each engine
//! has its own (`docker/`, `podman`, `containerd`).
#![allow(
    dead_code,
    reason = "each test file uses a different part of this module"
)]

use std::path::PathBuf;
use std::process::Command;

pub mod containerd;
pub mod cri;
pub mod crun;
pub mod docker;
pub mod harness;
pub mod image;
pub mod load;
pub mod parent_e2e;
pub mod podman;
pub mod recorder;
pub mod sysallow_image;

pub use load::Busy;

/// The `sysallow` binary under test: the one cargo built for this test run from the source
/// being tested (cargo builds a package's binaries before its integration tests).
pub fn sysallow() -> Command {
    Command::new(sysallow_path())
}

pub fn sysallow_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sysallow"))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
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

/// Compile `sysallow/tests/workloads/NAME.c` into `dir` as NAME (with `flags`, e.g. `-static`,
/// `-m32`, `-lpthread`). The test says `require!(gcc)` first.
pub fn compile_workload(dir: &std::path::Path, name: &str, flags: &[&str]) -> PathBuf {
    let exe = dir.join(format!("{name}{}", flags.join("")));
    let out = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(workloads().join(format!("{name}.c")))
        .args(flags)
        .output()
        .expect("running gcc (the test should require!(gcc))");
    assert!(
        out.status.success(),
        "gcc {name}.c {flags:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// The C workloads' sources (`sysallow/tests/workloads/`).
pub fn workloads() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workloads")
}

/// A file of the repository's examples (`examples/REL`).
pub fn example(rel: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(rel)
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
