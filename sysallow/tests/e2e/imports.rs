//! The static cross-check of recorded programs' imports, on real executables: the libc table
//! against what the program really did, a path the recording did not take, and a static
//! program that has nothing to read.

use crate::common;

use crate::common::sysallow_in as sysallow;

use std::path::{Path, PathBuf};

fn compile(dir: &Path, flags: &[&str]) -> PathBuf {
    common::compile_workload(dir, "imports_probe", flags)
}

#[test]
fn an_imported_path_the_recording_did_not_take_is_advised_and_allowed_on_request() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let probe = compile(dir.path(), &[]);
    let probe = probe.to_str().unwrap();
    let out = sysallow(
        dir.path(),
        &["record", "--recording", "rec.json", "--", probe],
    );
    common::assert_success(&out);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("{probe} (glibc): ")) && summary.contains("poll"),
        "{summary}"
    );

    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    let imports = &rec["imports"][probe];
    assert_eq!(imports["linkage"], "glibc", "{imports}");
    assert_eq!(
        imports["unseen"]["poll"],
        serde_json::json!(["poll"]),
        "{imports}"
    );
    // The table against the real program: what fopen and usleep map to was made.
    let seen = rec["abis"]["x86_64"]["syscalls"].as_object().unwrap();
    for (function, syscall) in [("fopen", "openat"), ("usleep", "clock_nanosleep")] {
        assert!(
            seen[syscall]["programs"].get(probe).is_some(),
            "{function} -> {syscall} was not made by the probe: {seen:?}"
        );
        assert!(
            imports["unseen"].get(syscall).is_none(),
            "{syscall} was made, yet listed unseen"
        );
    }

    // explain lists the advice.
    let explain = sysallow(dir.path(), &["explain", "rec.json"]);
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(
        text.contains("Imports: ") && text.contains("poll"),
        "{text}"
    );

    // Advised only without the timing paths: the path that polls is denied under the
    // profile ...
    let out = sysallow(
        dir.path(),
        &[
            "generate",
            "rec.json",
            "--no-timing-paths",
            "-o",
            "advise.json",
        ],
    );
    assert!(out.status.success());
    let out = sysallow(
        dir.path(),
        &["run", "--profile", "advise.json", "--", probe, "wait"],
    );
    assert!(
        !out.status.success(),
        "poll ran under the profile without timing paths"
    );
    // ... allowed by default, as a timing path the program's imports can take ...
    let out = sysallow(dir.path(), &["generate", "rec.json", "-o", "default.json"]);
    assert!(out.status.success());
    let default = std::fs::read_to_string(dir.path().join("default.json")).unwrap();
    assert!(
        default.contains("policy: timing path: waits on file descriptors")
            && default.contains(&format!("{probe} imports poll")),
        "{default}"
    );
    let out = sysallow(
        dir.path(),
        &["run", "--profile", "default.json", "--", probe, "wait"],
    );
    assert!(
        out.status.success(),
        "poll denied under the default profile: {out:?}"
    );
    // ... and allowed, with the imports' reason, with --imports allow.
    let out = sysallow(
        dir.path(),
        &[
            "generate",
            "rec.json",
            "--imports",
            "allow",
            "--no-timing-paths",
            "-o",
            "allow.json",
        ],
    );
    assert!(out.status.success());
    let allow = std::fs::read_to_string(dir.path().join("allow.json")).unwrap();
    assert!(
        allow.contains(&format!("policy: imports: {probe} imports poll")),
        "{allow}"
    );
    for i in 1..=5 {
        let out = sysallow(
            dir.path(),
            &["run", "--profile", "allow.json", "--", probe, "wait"],
        );
        assert!(
            out.status.success() && out.stdout == b"waited\n",
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_static_program_is_said_to_be_static() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let probe = compile(dir.path(), &["-static"]);
    let probe = probe.to_str().unwrap();
    let out = sysallow(
        dir.path(),
        &["record", "--recording", "rec.json", "--", probe],
    );
    common::assert_success(&out);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("statically linked") && summary.contains(probe),
        "{summary}"
    );
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    assert_eq!(rec["imports"][probe]["linkage"], "static");
    assert!(rec["imports"][probe]["unseen"].is_null());
}
