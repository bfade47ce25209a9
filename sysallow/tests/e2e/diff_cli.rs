//! `sysallow diff` end to end: the real binary, its output formats, exit codes and errors.
//! Unprivileged: runs everywhere.

use crate::common;

use std::path::Path;
use std::process::Output;

use sysallow_profile::{Abi, Recording, recording};

use crate::common::{diff_data as data, golden, stderr, stdout};

/// Run `sysallow diff ARGS` in the test data directory, without NO_COLOR interfering.
fn diff(args: &[&str]) -> Output {
    common::sysallow()
        .arg("diff")
        .args(args)
        .current_dir(data())
        .env_remove("NO_COLOR")
        .output()
        .expect("run sysallow")
}

fn status(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

#[test]
fn every_format_matches_its_golden_file() {
    for (format, file) in [
        ("text", "profiles.txt"),
        ("markdown", "profiles.md"),
        ("json", "profiles.json"),
    ] {
        let out = diff(&["old.json", "new.json", "--format", format]);
        assert_eq!(status(&out), 0, "{format}: {}", stderr(&out));
        assert_eq!(stdout(&out), golden(file), "{format}");
    }
    // Piped output has no colour; --color always forces it.
    let out = diff(&["old.json", "new.json", "--color", "always"]);
    assert!(stdout(&out).contains("\x1b["));
}

#[test]
fn a_recording_shows_who_made_the_added_syscalls() {
    let out = diff(&["old.rec.json", "new.rec.json"]);
    assert_eq!(stdout(&out), golden("recordings.txt"));
    assert!(stdout(&out).contains("used by: /usr/bin/app (30)"));
}

#[test]
fn exit_codes_follow_fail_on() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, names: &str| {
        let path = tmp.path().join(name);
        let text = format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
               "syscalls":[{{"names":[{names}],"action":"SCMP_ACT_ALLOW"}}]}}"#
        );
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let base = write("base.json", r#""read","write""#);
    let fewer = write("fewer.json", r#""read""#);
    let ordinary = write("ordinary.json", r#""read","write","getpid""#);
    let risky = write("risky.json", r#""read","write","keyctl""#);
    let code =
        |old: &str, new: &str, fail_on: &str| status(&diff(&[old, new, "--fail-on", fail_on]));
    assert_eq!(code(&base, &base, "any"), 0);
    assert_eq!(code(&base, &fewer, "never"), 0);
    assert_eq!(code(&base, &fewer, "any"), 1);
    assert_eq!(code(&base, &fewer, "added"), 0, "a removal adds nothing");
    assert_eq!(code(&base, &ordinary, "added"), 1);
    assert_eq!(code(&base, &ordinary, "risky"), 0);
    assert_eq!(code(&base, &risky, "risky"), 1);
    // Default: report, never fail.
    assert_eq!(status(&diff(&[&base, &risky])), 0);
}

#[test]
fn equivalent_profiles_diff_as_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let docker = tmp.path().join("docker.json");
    let oci = tmp.path().join("oci.json");
    std::fs::write(
        &docker,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[{"names":["read","write","close"],"action":"SCMP_ACT_ALLOW","comment":"observed"},
              {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
              {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    )
    .unwrap();
    // OCI spelling: flat architectures, no comments, rules split and reordered.
    std::fs::write(
        &oci,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86","SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
              {"names":["close"],"action":"SCMP_ACT_ALLOW"},
              {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
              {"names":["write","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let out = diff(&[
        docker.to_str().unwrap(),
        oci.to_str().unwrap(),
        "--fail-on",
        "any",
    ]);
    assert_eq!(status(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("no semantic difference"));
}

#[test]
fn bad_input_exits_2_naming_the_file_and_position() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "broken.json",
            "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n",
        ),
        ("unknown.json", "{\n  \"hello\": 1\n}\n"),
        (
            "types.json",
            "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": 5\n}\n",
        ),
    ];
    for (name, text) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = diff(&["new.json", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(status(&out), 2, "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(
            err.contains("line ") && err.contains("column "),
            "{name}: {err}"
        );
        assert!(stdout(&out).is_empty(), "{name}: no report on bad input");
    }
    let out = diff(&["new.json", "/nonexistent/x.json"]);
    assert_eq!(status(&out), 2);
    assert!(stderr(&out).contains("/nonexistent/x.json"));
    let out = diff(&["new.json"]);
    assert_eq!(status(&out), 2, "one input without --against");
}

/// Profiles that parse but cannot work as written are rejected with the place of the mistake;
/// mistakes runtimes accept are warned about, and the diff still runs.
#[test]
fn wrong_but_parseable_profiles_are_refused_or_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let rule = r#"{"names":["read"],"action":"SCMP_ACT_ALLOW"}"#;
    let refused = [
        (
            r#""defaultErrnoRet":99999,"syscalls":[RULE]"#,
            "defaultErrnoRet: errno 99999 is out of range (0-4095)",
        ),
        (
            r#""syscalls":[RULE,{"names":["write"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]"#,
            "syscalls[1] (write): argument index 6 is out of range (0-5)",
        ),
        (
            r#""architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}],"syscalls":[RULE]"#,
            "architectures: both `architectures` and `archMap` are given",
        ),
    ];
    for (i, (body, expected)) in refused.into_iter().enumerate() {
        let path = tmp.path().join(format!("refused{i}.json"));
        let text = format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO",{}}}"#,
            body.replace("RULE", rule)
        );
        std::fs::write(&path, text).unwrap();
        let out = diff(&["new.json", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(status(&out), 2, "{expected}: {err}");
        assert!(
            err.contains(&format!("refused{i}.json: invalid profile: {expected}")),
            "{err}"
        );
        assert!(stdout(&out).is_empty(), "no report on a refused profile");
    }

    let path = tmp.path().join("warned.json");
    let text = format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{rule},{rule},{{"names":["raed"],"action":"SCMP_ACT_ALLOW"}}]}}"#
    );
    std::fs::write(&path, text).unwrap();
    let out = diff(&["new.json", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("warned.json: no architecture knows 1 syscall name(s)")
            && err.contains("raed"),
        "{err}"
    );
    assert!(
        err.contains("read is given without conditions in syscalls[0] and syscalls[1]"),
        "{err}"
    );
    assert!(!stdout(&out).is_empty(), "the diff still runs: {err}");
}

/// A recording built from real syscall names, as the recorder would write it.
fn recording() -> Recording {
    let mut rec = Recording::new(
        recording::Target::Command {
            argv: vec!["./run-tests.sh".into()],
            user: None,
        },
        recording::Host {
            kernel: "6.18.0".into(),
            arch: Abi::X86_64,
            libc: Some("glibc 2.36".into()),
        },
        "2026-11-23T00:00:00Z".into(),
    );
    for (name, program) in [
        ("read", "/usr/bin/app"),
        ("write", "/usr/bin/app"),
        ("openat", "/usr/bin/app"),
        ("execve", recording::UNATTRIBUTED),
        ("exit_group", "/usr/bin/app"),
        ("clone", "/bin/sh"),
        ("mount", "/usr/bin/app"),
        ("keyctl", "/usr/bin/app"),
        ("bpf", "/usr/sbin/tracer-helper"),
    ] {
        let nr = Abi::X86_64.syscall_nr(name).expect("real syscall");
        rec.add(Abi::X86_64, nr, program, 2);
    }
    rec
}

#[test]
fn against_docker_default_lists_only_what_goes_beyond_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("app.rec.json");
    std::fs::write(&path, recording().to_json()).unwrap();
    let app = path.to_str().unwrap();

    let out = diff(&["--against", "docker-default", app, "--format", "json"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed: Vec<(&str, &str)> = json["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["risk"]["class"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("bpf", "kernel_code"),
            ("clone", "docker_restricted"),
            ("keyctl", "keyring"),
            ("mount", "namespace_escape"),
        ],
        "read, write, openat, execve, exit_group are in Docker's default"
    );
    assert_eq!(json["old"]["name"], "docker-default");

    let out = diff(&["--against", "docker-default", app, "--fail-on", "risky"]);
    assert_eq!(status(&out), 1);
    assert!(stdout(&out).contains("used by: /usr/sbin/tracer-helper (2)"));
    // --against with two inputs is a usage error.
    let out = diff(&["--against", "docker-default", app, app]);
    assert_eq!(status(&out), 2);
}

/// Podman's default (containers-common) as the baseline: it allows keyctl and mount, which
/// Docker's denies, so only bpf and clone's flags go beyond it here.
#[test]
fn against_podman_default_uses_podmans_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("app.rec.json");
    std::fs::write(&path, recording().to_json()).unwrap();
    let app = path.to_str().unwrap();
    let out = diff(&["--against", "podman-default", app, "--format", "json"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["old"]["name"], "podman-default");
    let listed: Vec<&str> = json["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    eprintln!("beyond Podman's default: {listed:?}");
    assert!(listed.contains(&"bpf"), "{listed:?}");
    for allowed_by_podman in ["keyctl", "mount", "read"] {
        assert!(!listed.contains(&allowed_by_podman), "{listed:?}");
    }
}

#[test]
fn help_documents_exit_codes_and_classes() {
    let out = diff(&["--help"]);
    let help = stdout(&out);
    for needle in [
        "Exit status",
        "0  no difference",
        "2  error",
        "io_uring",
        "docker_denied",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}

/// The CI example runs as documented, without root, from an existing recording.
#[test]
fn ci_example_script_runs_locally() {
    require!(program("sh", "sh"));
    let ci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ci");
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .arg("./seccomp-diff.sh")
        .current_dir(&ci)
        .env("SYSALLOW", common::sysallow_path())
        .env("RECORDING", "demo/app.rec.json")
        .env("PROFILE", "demo/profile.json")
        .env("OUT", out_dir.path())
        .output()
        .expect("run the CI script");
    assert_eq!(
        status(&out),
        1,
        "the demo adds io_uring, a risky change: {}",
        stderr(&out)
    );
    let md = std::fs::read_to_string(out_dir.path().join("diff.md")).unwrap();
    assert!(md.contains("`io_uring_setup`") && md.contains("⚠️"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("diff.json")).unwrap())
            .unwrap();
    assert!(json["summary"]["risky"].as_u64().unwrap() > 0);
    assert!(out_dir.path().join("new.json").exists());
}
