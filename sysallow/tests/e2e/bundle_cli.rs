//! The run-time layer through the real binary: `generate --bundle`, `explain` of a bundle,
//! `diff` of two bundles with `--fail-on`. Unprivileged (recordings made by hand, with the
//! measured checks of CAPABILITIES.md's rows).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{self, stderr, stdout};

use sysallow_profile::Abi;
use sysallow_profile::hardening::Bundle;
use sysallow_profile::privileges::{CapCheck, CapNamespace, Privileges, RootFs, RootWrite};
use sysallow_profile::recording::{Host, Recording, Target};

fn check(cap: &str, syscall: &str, program: &str, count: u64) -> CapCheck {
    CapCheck {
        capability: cap.into(),
        granted: true,
        namespace: CapNamespace::Own,
        override_creds: false,
        noaudit: None,
        syscall: Some((Abi::X86_64, syscall.into())),
        program: program.into(),
        count,
    }
}

/// A container whose workload made `extra` checks besides the overcommit ones `true` makes
/// (10, measured) and the runtime's own capset; it wrote /tmp/cache.db.
fn container(extra: Vec<CapCheck>) -> Recording {
    let mut rec = Recording::new(
        Target::Container {
            id: "0123456789abcdef".into(),
            name: Some("web".into()),
            engine: None,
            runtime: None,
            no_new_privileges: false,
            cgroup: "/system.slice/docker-0123456789abcdef.scope".into(),
        },
        Host {
            kernel: "6.18.0".into(),
            arch: Abi::X86_64,
            libc: None,
        },
        "2026-12-03T00:00:00Z".into(),
    );
    for name in ["read", "write", "mmap", "bind"] {
        let nr = Abi::X86_64.syscall_nr(name).expect("real syscall");
        rec.add(Abi::X86_64, nr, "/app/server", 1);
    }
    let mut checks = vec![
        check("CAP_SYS_ADMIN", "mmap", "/app/server", 9),
        check("CAP_SYS_ADMIN", "execve", "/app/server", 1),
        check("CAP_SETPCAP", "capset", "(container runtime)", 1),
    ];
    checks.extend(extra);
    rec.privileges = Some(Privileges {
        hook: "tp_btf/cap_capable".into(),
        sees_noaudit: false,
        checks,
        privileged_execs: Vec::new(),
        euids: [0].into(),
        egids: [0].into(),
        root_fs: Some(RootFs {
            writes: vec![RootWrite {
                path: "/tmp/cache.db".into(),
                in_image: false,
                dir: false,
            }],
            image_entries: [("/tmp".to_owned(), 0)].into(),
        }),
    });
    rec
}

fn write(dir: &Path, name: &str, rec: &Recording) -> PathBuf {
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

fn generate(dir: &Path, rec: &Path, name: &str) -> PathBuf {
    let bundle = dir.join(format!("{name}-bundle"));
    let profile = dir.join(format!("{name}.json"));
    let out = sysallow(&[
        "generate",
        rec.to_str().unwrap(),
        "-o",
        profile.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    bundle
}

#[test]
fn generate_writes_one_consistent_bundle_beside_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let rec = write(dir.path(), "quiet.rec.json", &container(Vec::new()));
    let bundle_dir = generate(dir.path(), &rec, "quiet");
    let bundle =
        Bundle::from_json(&std::fs::read_to_string(bundle_dir.join("bundle.json")).unwrap())
            .unwrap();
    assert!(bundle.added().is_empty(), "{bundle:#?}");
    assert_eq!(bundle.user.user.as_deref(), Some("65534"));
    let docker = std::fs::read_to_string(bundle_dir.join("docker.sh")).unwrap();
    let profile = dir.path().join("quiet.json");
    assert!(
        docker.contains(&format!(
            "docker run --cap-drop ALL --security-opt no-new-privileges --security-opt \
             seccomp={} --read-only --tmpfs /tmp --user 65534 IMAGE",
            profile.display()
        )),
        "{docker}"
    );
    for file in [
        "podman.sh",
        "compose.yaml",
        "kubernetes.yaml",
        "systemd.conf",
    ] {
        let text = std::fs::read_to_string(bundle_dir.join(file)).unwrap();
        assert!(text.contains("container web"), "{file}: {text}");
    }
    let k8s = std::fs::read_to_string(bundle_dir.join("kubernetes.yaml")).unwrap();
    assert!(
        k8s.contains("Pod Security Standard met: restricted"),
        "{k8s}"
    );
}

#[test]
fn a_recording_without_privileges_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = container(Vec::new());
    rec.privileges = None;
    let path = write(dir.path(), "old.rec.json", &rec);
    let out = sysallow(&[
        "generate",
        path.to_str().unwrap(),
        "-o",
        dir.path().join("p.json").to_str().unwrap(),
        "--bundle",
        dir.path().join("b").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no run-time layer recorded"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("p.json").exists(),
        "nothing written on failure"
    );
    assert!(!dir.path().join("b").exists());
}

#[test]
fn explain_and_diff_read_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = write(
        dir.path(),
        "v1.rec.json",
        &container(vec![check("CAP_CHOWN", "fchown", "/app/server", 2)]),
    );
    let v2 = write(
        dir.path(),
        "v2.rec.json",
        &container(vec![
            check("CAP_CHOWN", "fchown", "/app/server", 2),
            check("CAP_SYS_PTRACE", "ptrace", "/app/server", 1),
        ]),
    );
    let b1 = generate(dir.path(), &v1, "v1").join("bundle.json");
    let b2 = generate(dir.path(), &v2, "v2").join("bundle.json");
    let out = sysallow(&["explain", b2.to_str().unwrap(), "--color", "never"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("CAP_SYS_PTRACE"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("+ required") && row.contains("host_control (risky)"),
        "{row}"
    );
    assert!(text.contains("=> cap-add: CHOWN SYS_PTRACE"), "{text}");
    // Gaining SYS_PTRACE is risky; losing it is not even an addition.
    let (b1, b2) = (b1.to_str().unwrap(), b2.to_str().unwrap());
    let out = sysallow(&["diff", b1, b2, "--fail-on", "risky"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("+ CAP_SYS_PTRACE: not seen -> required [risk: host_control, risky]")
    );
    assert_eq!(
        sysallow(&["diff", b2, b1, "--fail-on", "added"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        sysallow(&["diff", b2, b1, "--fail-on", "any"])
            .status
            .code(),
        Some(1)
    );
    // Recordings with privileges compare both layers; JSON keeps the syscall diff's shape.
    let out = sysallow(&[
        "diff",
        v1.to_str().unwrap(),
        v2.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(json.get("syscalls").is_some(), "{json}");
    assert_eq!(
        json["run_time"]["capabilities"][0]["capability"],
        "CAP_SYS_PTRACE"
    );
    // A bundle has no syscalls to hold against Docker's default.
    let out = sysallow(&["diff", "--against", "docker-default", b1]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
