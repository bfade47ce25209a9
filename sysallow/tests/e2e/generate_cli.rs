//! `sysallow generate` and `sysallow merge` through the real binary. Unprivileged.

use crate::common;

use crate::common::{stderr, stdout};

use std::path::{Path, PathBuf};
use std::process::Output;

use sysallow_profile::Abi;
use sysallow_profile::formats::{self, Document, Format};
use sysallow_profile::profile::{Action, Profile};
use sysallow_profile::recording::{Host, Recording, Target};

fn recording(target: Target, names: &[&str]) -> Recording {
    let mut rec = Recording::new(
        target,
        Host {
            kernel: "6.18.0".into(),
            arch: Abi::X86_64,
            libc: Some("glibc 2.36".into()),
        },
        "2026-11-23T00:00:00Z".into(),
    );
    for name in names {
        let nr = Abi::X86_64.syscall_nr(name).expect("real syscall");
        rec.add(Abi::X86_64, nr, "/usr/bin/app", 1);
    }
    rec
}

fn command_recording(names: &[&str]) -> Recording {
    recording(
        Target::Command {
            argv: vec!["app".into()],
            user: None,
        },
        names,
    )
}

fn write_rec(dir: &Path, name: &str, rec: &Recording) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, rec.to_json()).unwrap();
    path
}

fn sysallow(args: &[&str]) -> Output {
    common::sysallow()
        .args(args)
        .output()
        .expect("run sysallow")
}

fn profile(text: &str) -> Profile {
    match formats::read(text).unwrap_or_else(|e| panic!("{e}\n{text}")) {
        Document::Profile(p) => p,
        Document::Recording(_) => panic!("expected a profile:\n{text}"),
    }
}

/// The essentials every profile allows unless `--no-essentials` (generate.rs, ESSENTIALS) that
/// an x86_64 profile has.
const ESSENTIALS: &[&str] = &["exit", "exit_group", "restart_syscall", "rt_sigreturn"];

/// `names` and the essentials, sorted: what a profile of a recording of `names` allows.
fn with_essentials(names: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = names
        .iter()
        .chain(ESSENTIALS)
        .map(|n| (*n).to_owned())
        .collect();
    all.sort();
    all.dedup();
    all
}

fn allowed(p: &Profile) -> Vec<String> {
    let mut names: Vec<String> = p
        .syscalls
        .iter()
        .filter(|r| r.action == Action::Allow)
        .flat_map(|r| r.names.iter().cloned())
        .collect();
    names.sort();
    names
}

#[test]
fn generate_writes_a_docker_profile_to_stdout_and_messages_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // mseal is unknown to Debian 12's libseccomp 2.5.4: kept, with a warning.
    let rec = write_rec(
        dir.path(),
        "a.rec.json",
        &command_recording(&["execve", "read", "write", "exit_group", "mseal"]),
    );
    let out = sysallow(&["generate", rec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = profile(&stdout(&out));
    assert_eq!(p.default_action, Action::Errno);
    assert_eq!(p.default_errno_ret, Some(1));
    assert_eq!(p.architectures, vec!["SCMP_ARCH_X86_64".to_owned()]);
    assert_eq!(
        allowed(&p),
        with_essentials(&["execve", "exit_group", "mseal", "read", "write"])
    );
    assert!(!stdout(&out).contains("warning"));
    let clone3 = p
        .syscalls
        .iter()
        .find(|r| r.names.contains(&"clone3".into()))
        .unwrap();
    assert_eq!(clone3.errno_ret, Some(38));
    if stderr(&out).contains("libseccomp 2.5") {
        assert!(stderr(&out).contains("mseal"), "{}", stderr(&out));
    }
}

#[test]
fn output_file_is_written_whole_and_alone() {
    let dir = tempfile::tempdir().unwrap();
    let rec = write_rec(
        dir.path(),
        "a.rec.json",
        &command_recording(&["read", "execve"]),
    );
    let target = dir.path().join("app.json");
    let out = sysallow(&[
        "generate",
        rec.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("wrote"));
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(
        allowed(&profile(&written)),
        with_essentials(&["execve", "read"])
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // `-o -` is stdout.
    let out = sysallow(&["generate", rec.to_str().unwrap(), "-o", "-"]);
    assert_eq!(profile(&stdout(&out)), profile(&written));
}

#[test]
fn every_format_is_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let rec = write_rec(
        dir.path(),
        "a.rec.json",
        &command_recording(&["read", "execve"]),
    );
    for format in Format::ALL {
        let out = sysallow(&["generate", rec.to_str().unwrap(), "--format", format.name()]);
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        let (doc, detected) = formats::read_detected(&stdout(&out)).unwrap();
        let Document::Profile(p) = doc else {
            panic!("{format}")
        };
        if format != Format::Docker {
            assert_eq!(detected, Some(format));
        }
        assert_eq!(
            allowed(&p),
            with_essentials(&["execve", "read"]),
            "{format}"
        );
    }
    let out = sysallow(&["generate", rec.to_str().unwrap(), "--format", "yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown format"), "{}", stderr(&out));
}

#[test]
fn runtime_defaults_follow_the_recording_kind() {
    let dir = tempfile::tempdir().unwrap();
    let container = recording(
        Target::Container {
            id: "abc".into(),
            name: None,
            engine: Some("docker".into()),
            runtime: None,
            no_new_privileges: false,
            cgroup: "/docker/abc".into(),
        },
        &["read", "execve"],
    );
    let c = write_rec(dir.path(), "c.rec.json", &container);
    let a = write_rec(
        dir.path(),
        "a.rec.json",
        &command_recording(&["read", "execve"]),
    );

    let out = sysallow(&["generate", c.to_str().unwrap()]);
    assert!(allowed(&profile(&stdout(&out))).contains(&"capset".to_owned()));
    let out = sysallow(&["generate", c.to_str().unwrap(), "--no-new-privileges"]);
    assert!(!allowed(&profile(&stdout(&out))).contains(&"capset".to_owned()));
    let out = sysallow(&["generate", a.to_str().unwrap()]);
    assert!(!allowed(&profile(&stdout(&out))).contains(&"capset".to_owned()));
    let out = sysallow(&["generate", a.to_str().unwrap(), "--runtime", "runc@1.1.5"]);
    let p = profile(&stdout(&out));
    assert!(allowed(&p).contains(&"capset".to_owned()));
    assert!(!allowed(&p).contains(&"mount".to_owned()));
    let out = sysallow(&["generate", a.to_str().unwrap(), "--runtime", "docker"]);
    assert!(!out.status.success());
}

/// A Podman container's profile is written in Podman's format unless `--format` says
/// otherwise; Docker's stays in Docker's.
#[test]
fn the_default_format_follows_the_recorded_engine() {
    let dir = tempfile::tempdir().unwrap();
    let of_engine = |engine: &str| {
        let rec = recording(
            Target::Container {
                id: "abc".into(),
                name: Some("web".into()),
                engine: Some(engine.into()),
                runtime: Some("crun".into()),
                no_new_privileges: false,
                cgroup: "/sysallow/libpod-abc".into(),
            },
            &["read", "execve"],
        );
        write_rec(dir.path(), &format!("{engine}.rec.json"), &rec)
    };
    let podman = of_engine("podman");
    let out = sysallow(&["generate", podman.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"defaultErrno\": \"EPERM\""),
        "{}",
        stdout(&out)
    );
    let out = sysallow(&["generate", podman.to_str().unwrap(), "--format", "docker"]);
    assert!(!stdout(&out).contains("defaultErrno\""), "{}", stdout(&out));
    let docker = of_engine("docker");
    let out = sysallow(&["generate", docker.to_str().unwrap()]);
    assert!(!stdout(&out).contains("defaultErrno\""), "{}", stdout(&out));
}

#[test]
fn policy_flags_change_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_rec(
        dir.path(),
        "a.rec.json",
        &command_recording(&["openat", "execve"]),
    );
    let arg = a.to_str().unwrap();
    let out = sysallow(&[
        "generate",
        arg,
        "--vdso",
        "--portable",
        "--default-errno",
        "enosys",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = profile(&stdout(&out));
    assert_eq!(p.default_errno_ret, Some(38));
    for name in ["clock_gettime", "open", "openat2"] {
        assert!(allowed(&p).contains(&name.to_owned()), "{name}");
    }
    let out = sysallow(&["generate", arg, "--only-exe", "/nowhere/*"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/usr/bin/app"), "{}", stderr(&out));
}

#[test]
fn bad_input_names_the_file_and_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(
        &bad,
        "{\n  \"format\": \"sysallow-recording\",\n  \"version\": \n",
    )
    .unwrap();
    let out = sysallow(&["generate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("broken.json") && err.contains("line 4"),
        "{err}"
    );
    let out = sysallow(&[
        "generate",
        dir.path().join("missing.json").to_str().unwrap(),
    ]);
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
}

#[test]
fn merge_keeps_coverage_and_generate_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_rec(
        dir.path(),
        "a.rec.json",
        &command_recording(&["read", "execve"]),
    );
    let b = write_rec(
        dir.path(),
        "b.rec.json",
        &command_recording(&["read", "write", "execve"]),
    );
    let merged = dir.path().join("all.rec.json");
    let out = sysallow(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rec = Recording::from_json(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let coverage = rec.coverage.expect("coverage");
    assert_eq!(coverage.inputs, 2);
    assert_eq!(coverage.syscalls[&Abi::X86_64]["write"], 1);
    let out = sysallow(&["generate", merged.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("observed: in 1 of 2 recordings"),
        "{}",
        stdout(&out)
    );

    // Profiles merge into a profile.
    let pa = dir.path().join("a.json");
    let pb = dir.path().join("b.yaml");
    sysallow(&["generate", a.to_str().unwrap(), "-o", pa.to_str().unwrap()]);
    sysallow(&[
        "generate",
        b.to_str().unwrap(),
        "--format",
        "kubernetes",
        "-o",
        pb.to_str().unwrap(),
    ]);
    let out = sysallow(&["merge", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        allowed(&profile(&stdout(&out))),
        with_essentials(&["execve", "read", "write"])
    );
}

#[test]
fn help_documents_every_policy_flag_and_the_kubernetes_path() {
    let out = sysallow(&["generate", "--help"]);
    let help = stdout(&out);
    for needle in [
        "--runtime",
        "--no-new-privileges",
        "--default-errno",
        "--vdso",
        "--portable",
        "--only-exe",
        "--exclude-exe",
        "--format",
        "/var/lib/kubelet/seccomp",
        "localhostProfile",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
