//! The foundation, end to end: record a real workload with eBPF, generate its profile, and
//! prove it runs under it (and that what it never did is denied).

use crate::common;

use std::path::Path;

fn record(dir: &Path, argv: &[&str]) -> std::process::Output {
    let out = common::record_in(dir, &[], argv);
    assert!(dir.join("profile.json").exists() && dir.join("rec.json").exists());
    out
}

fn run_under(dir: &Path, argv: &[&str]) -> std::process::Output {
    common::run_under(dir, "profile.json", argv)
}

/// `--args strict` from `rec.json` in `dir`, as `strict.json`, checked against Docker's default.
fn generate_strict(dir: &Path) {
    let out = common::sysallow()
        .args([
            "generate",
            "rec.json",
            "--args",
            "strict",
            "-o",
            "strict.json",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    common::assert_success(&out);
    common::assert_not_wider_than_docker_default(&dir.join("strict.json"));
}

#[test]
fn a_recorded_pipeline_runs_under_its_profile_20_of_20_and_nothing_else_runs() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("words"), "pear\napple\nfig\napple\nkiwi\n").unwrap();
    // Several processes, pipes, a file written and read back.
    let pipeline = [
        "sh",
        "-c",
        "sort words | uniq -c | sort -rn | head -3 > top && cat top | wc -l && grep -c apple words",
    ];
    let recorded = record(dir.path(), &pipeline);
    let expected = String::from_utf8_lossy(&recorded.stdout).into_owned();
    assert_eq!(expected, "3\n2\n");
    common::assert_not_wider_than_docker_default(&dir.path().join("profile.json"));

    for i in 1..=20 {
        let out = run_under(dir.path(), &pipeline);
        assert!(
            out.status.success(),
            "run {i} of 20 failed under the profile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "run {i}");
    }

    // --args strict: 20/20 as well.
    generate_strict(dir.path());
    for i in 1..=20 {
        let out = common::run_under(dir.path(), "strict.json", &pipeline);
        assert!(
            out.status.success(),
            "strict run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "strict run {i}"
        );
    }

    // mkdir was never made by the pipeline: denied with EPERM.
    let out = run_under(dir.path(), &["sh", "-c", "mkdir never-made"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
    assert!(!dir.path().join("never-made").exists());
}

#[test]
fn the_example_app_is_profiled_under_its_own_test_suite_and_passes_20_of_20() {
    require!(root, that("python3 and gzip", common::have("python3")));
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/wordfreq/run-tests.sh");
    let suite = suite.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), &[suite]);
    common::assert_not_wider_than_docker_default(&dir.path().join("profile.json"));
    for i in 1..=20 {
        let out = run_under(dir.path(), &[suite]);
        assert!(
            out.status.success(),
            "suite run {i} failed under its profile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // --args strict: the suite passes under it too.
    generate_strict(dir.path());
    for i in 1..=20 {
        let out = common::run_under(dir.path(), "strict.json", &[suite]);
        assert!(
            out.status.success(),
            "suite run {i} under --args strict: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A syscall the suite never needed (symlink) is denied.
    let out = run_under(
        dir.path(),
        &["python3", "-c", "import os; os.symlink('a', 'b')"],
    );
    assert!(
        !out.status.success(),
        "symlink ran under the suite's profile"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"));

    // explain and diff read a real eBPF recording: the suite's own profile allows nothing
    // beyond itself, and against Docker's default it lists what the suite needs beyond it.
    let explain = common::sysallow()
        .args(["explain", "rec.json", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    common::assert_success(&explain);
    let json: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert!(json.to_string().contains("execve"));
    let against = common::sysallow()
        .args([
            "diff",
            "--against",
            "docker-default",
            "rec.json",
            "--format",
            "json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        matches!(against.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&against.stderr)
    );
    // Beyond the recording, the profile allows only what a named policy adds (essentials,
    // companions), each with its reason.
    let beyond = common::sysallow()
        .args(["diff", "rec.json", "profile.json", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let beyond: serde_json::Value = serde_json::from_slice(&beyond.stdout).unwrap();
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("profile.json")).unwrap()).unwrap();
    for change in beyond["syscalls"].as_array().unwrap() {
        if !change["widens"].as_bool().unwrap() {
            continue;
        }
        let name = change["name"].as_str().unwrap();
        let rule = profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
            .unwrap_or_else(|| panic!("{name} widens but has no rule"));
        let why = rule["comment"].as_str().unwrap();
        assert!(
            why.starts_with("policy: essential")
                || why.starts_with("policy: companion")
                || why.starts_with("policy: timing path"),
            "{name} is allowed beyond the recording without a named policy: {why}"
        );
    }
    // Without those, the profile allows nothing the recording did not see.
    let bare = common::sysallow()
        .args([
            "generate",
            "rec.json",
            "--no-essentials",
            "--no-companions",
            "--no-timing-paths",
            "-o",
            "bare.json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(bare.status.success());
    let same = common::sysallow()
        .args(["diff", "rec.json", "bare.json", "--fail-on", "added"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        same.status.code(),
        Some(0),
        "the generated profile allows more than the recording saw: {}",
        String::from_utf8_lossy(&same.stdout)
    );
}
