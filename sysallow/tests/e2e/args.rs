//! Argument rules learned in the kernel, on real programs, with default settings: never wider
//! than Docker's default (clone without namespace flags, clone3 answered with ENOSYS, socket
//! without AF_VSOCK), narrowed to what was observed; `--args strict`; an overflowing set.

use crate::common;

use crate::common::sysallow_in as sysallow;

use std::path::{Path, PathBuf};
use std::process::Output;

fn probe(dir: &Path) -> PathBuf {
    common::compile_workload(dir, "args_probe", &["-lpthread"])
}

fn ok(out: &Output) -> &str {
    common::assert_success(out);
    std::str::from_utf8(&out.stdout).unwrap().trim()
}

fn record(dir: &Path, rec: &str, argv: &[&str]) {
    let mut args = vec!["record", "--recording", rec, "--"];
    args.extend_from_slice(argv);
    ok(&sysallow(dir, &args));
}

fn generate(dir: &Path, rec: &str, profile: &str, extra: &[&str]) -> String {
    let mut args = vec!["generate", rec, "-o", profile];
    args.extend_from_slice(extra);
    let out = sysallow(dir, &args);
    common::assert_success(&out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn sockets_and_namespaces_with_default_settings_and_strict() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let exe = probe(dir.path());
    let exe = exe.to_str().unwrap();
    let script = format!("{exe} sockets && {exe} fork && {exe} threads");
    record(dir.path(), "rec.json", &["sh", "-c", &script]);
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    let socket = &rec["abis"]["x86_64"]["syscalls"]["socket"]["args"]["values"];
    let domains: Vec<u64> = socket
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() >> 32)
        .collect();
    assert!(domains.contains(&(libc::AF_UNIX as u64)) && domains.contains(&(libc::AF_INET as u64)));

    for (profile, level) in [("safe.json", "safe"), ("strict.json", "strict")] {
        generate(dir.path(), "rec.json", profile, &["--args", level]);
        common::assert_not_wider_than_docker_default(&dir.path().join(profile));
        for i in 1..=20 {
            for mode in ["sockets", "fork", "threads"] {
                let out = common::run_under(dir.path(), profile, &[exe, mode]);
                assert_eq!(ok(&out), "ok", "{level} run {i}: {mode}");
            }
        }
        // Never observed, and beyond Docker's default: denied.
        for mode in ["packet", "vsock", "newuser"] {
            let out = common::run_under(dir.path(), profile, &[exe, mode]);
            assert_eq!(
                ok(&out),
                "denied: Operation not permitted",
                "{level}: {mode}"
            );
        }
    }
    // unshare -U: a real program asking for a user namespace.
    if common::have("unshare") {
        let out = common::run_under(dir.path(), "safe.json", &["unshare", "-U", "true"]);
        assert!(!out.status.success(), "unshare -U ran under the profile");
    }
    // verify says which value would be denied.
    let out = sysallow(
        dir.path(),
        &["verify", "--profile", "safe.json", "--", exe, "vsock"],
    );
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        report.contains("socket (x86_64, 1x, for AF_VSOCK, SOCK_STREAM)"),
        "{report}"
    );
    // explain names the values.
    let out = sysallow(dir.path(), &["explain", "safe.json"]);
    let text = ok(&out);
    assert!(
        text.contains("AF_UNIX") && text.contains("AF_INET"),
        "{text}"
    );
}

#[test]
fn a_glibc_program_whose_recording_saw_only_clone3_runs_under_its_profile() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let exe = probe(dir.path());
    let exe = exe.to_str().unwrap();
    record(dir.path(), "rec.json", &[exe, "threads"]);
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    let seen = rec["abis"]["x86_64"]["syscalls"].as_object().unwrap();
    assert!(
        seen.contains_key("clone3"),
        "glibc 2.34+ makes threads with clone3"
    );
    assert!(
        !seen.contains_key("clone"),
        "the recording saw clone: the test proves nothing"
    );
    generate(dir.path(), "rec.json", "p.json", &[]);
    let profile = std::fs::read_to_string(dir.path().join("p.json")).unwrap();
    assert!(profile.contains("policy: replaces clone3"), "{profile}");
    for i in 1..=20 {
        assert_eq!(
            ok(&common::run_under(dir.path(), "p.json", &[exe, "threads"])),
            "ok",
            "run {i}"
        );
    }
}

#[test]
fn an_overflowing_value_set_is_reported_and_gets_no_rule() {
    require!(root, gcc);
    let dir = tempfile::tempdir().unwrap();
    let exe = probe(dir.path());
    let exe = exe.to_str().unwrap();
    // More distinct ioctl requests than the recorder keeps (64).
    record(dir.path(), "rec.json", &[exe, "ioctls", "100"]);
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    let ioctl = &rec["abis"]["x86_64"]["syscalls"]["ioctl"]["args"];
    assert_eq!(ioctl["overflow"], true, "{ioctl}");
    let warnings = generate(dir.path(), "rec.json", "strict.json", &["--args", "strict"]);
    assert!(warnings.contains("ioctl: no argument rule"), "{warnings}");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("strict.json")).unwrap()).unwrap();
    let ioctl_rules: Vec<&serde_json::Value> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == "ioctl"))
        .collect();
    assert_eq!(ioctl_rules.len(), 1);
    assert!(ioctl_rules[0]["args"].is_null(), "{:?}", ioctl_rules[0]);
    assert_eq!(
        ok(&common::run_under(
            dir.path(),
            "strict.json",
            &[exe, "ioctls", "100"]
        )),
        "ok"
    );
}

/// A rule that libseccomp would reject (an argument index above 5, which seccomp's six
/// registers do not have) is refused before libseccomp sees it, with an error that names the
/// rule, by `run` and `verify` alike; no root needed.
#[test]
fn a_rule_libseccomp_rejects_is_a_clear_error_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bad.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write","execve","exit_group"],"action":"SCMP_ACT_ALLOW"},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap();
    let profile = profile.to_str().unwrap();
    for how in ["run", "verify"] {
        let out = sysallow(dir.path(), &[how, "--profile", profile, "--", "true"]);
        assert_eq!(out.status.code(), Some(2), "{how}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("syscalls[1] (socket)") && err.contains("argument index 7"),
            "{how}: {err}"
        );
    }
}
