//! The bundle's compose fragment read by Docker's own compose parser (issue 19: "the compose
//! fragment parses with Docker's own compose parser where it can be installed").
//!
//! Debian 12 ships `docker-compose` 1.29 (Docker's compose v1, Python; `cargo xtask setup`
//! installs it), whose `config` validates a file against the compose schema (unknown keys and
//! wrong types are errors) and prints the merged, normalized configuration; it needs no
//! daemon. The fragment is merged, as its header says, into a service definition that has
//! only an image (a service needs one), and what the parser read back must be the bundle's
//! decisions, taken from bundle.json rather than from the code that wrote the fragment.
//!
//! Unprivileged: the recordings are made by hand with measured checks (CAPABILITIES.md), and
//! `generate --bundle` writes the bundles. Without docker-compose the test skips, and fails
//! under `SYSALLOW_REQUIRE_PRIVILEGED_TESTS=1`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sysallow_profile::Abi;
use sysallow_profile::hardening::{Bundle, short_name};
use sysallow_profile::privileges::{
    CapCheck, CapNamespace, PrivilegedExec, Privileges, RootFs, RootWrite,
};
use sysallow_profile::recording::{Host, Recording, Target};

use crate::common::{self, stderr, stdout};

fn check(cap: &str, syscall: &str, count: u64) -> CapCheck {
    CapCheck {
        capability: cap.into(),
        granted: true,
        namespace: CapNamespace::Own,
        override_creds: false,
        noaudit: None,
        syscall: Some((Abi::X86_64, syscall.into())),
        program: "/app/server".into(),
        count,
    }
}

fn write(path: &str, in_image: bool) -> RootWrite {
    RootWrite {
        path: path.into(),
        in_image,
        dir: false,
    }
}

/// A container named `name` whose workload made the overcommit checks `true` makes (10,
/// measured) and `extra`, ran with effective uid `euid`, and wrote `writes` on its root
/// filesystem.
fn container(
    name: &str,
    extra: Vec<CapCheck>,
    execs: Vec<PrivilegedExec>,
    euid: u32,
    writes: Vec<RootWrite>,
) -> Recording {
    let mut rec = Recording::new(
        Target::Container {
            id: "0123456789abcdef".into(),
            name: Some(name.into()),
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
    for syscall in ["read", "write", "mmap", "fchown", "execve"] {
        let nr = Abi::X86_64.syscall_nr(syscall).expect("a real syscall");
        rec.add(Abi::X86_64, nr, "/app/server", 1);
    }
    let mut checks = vec![
        check("CAP_SYS_ADMIN", "mmap", 9),
        check("CAP_SYS_ADMIN", "execve", 1),
    ];
    checks.extend(extra);
    rec.privileges = Some(Privileges {
        hook: "tp_btf/cap_capable".into(),
        sees_noaudit: false,
        checks,
        privileged_execs: execs,
        euids: [euid].into(),
        egids: [euid].into(),
        root_fs: Some(RootFs {
            writes,
            image_entries: [
                ("/tmp".to_owned(), 0),
                ("/var/lib/app".to_owned(), 2),
                ("/var/lib".to_owned(), 1),
            ]
            .into(),
        }),
    });
    rec
}

/// Bundles of different shapes: non-root with a tmpfs; root with added capabilities, a tmpfs
/// and a volume (a file the image ships, changed); a setuid exec (no no-new-privileges).
fn recordings() -> Vec<Recording> {
    vec![
        container(
            "quiet",
            vec![],
            vec![],
            0,
            vec![write("/tmp/cache.db", false)],
        ),
        container(
            "chowner",
            vec![
                check("CAP_CHOWN", "fchown", 2),
                check("CAP_DAC_OVERRIDE", "openat", 1),
            ],
            vec![],
            0,
            vec![
                write("/tmp/upload", false),
                write("/var/lib/app/state.db", true),
            ],
        ),
        container(
            "su",
            vec![],
            vec![PrivilegedExec {
                program: "/usr/bin/su-helper".into(),
                setuid: true,
                setgid: false,
                file_caps: vec![],
                count: 1,
            }],
            1000,
            vec![write("/tmp/x", false)],
        ),
    ]
}

/// `generate REC -o NAME.json --bundle NAME.bundle`: the bundle directory.
fn generate(dir: &Path, rec: &Recording) -> PathBuf {
    let Target::Container {
        name: Some(name), ..
    } = &rec.target
    else {
        unreachable!("the recordings above are named containers")
    };
    let path = dir.join(format!("{name}.rec.json"));
    std::fs::write(&path, rec.to_json()).unwrap();
    let bundle = dir.join(format!("{name}.bundle"));
    let out = common::sysallow()
        .arg("generate")
        .arg(&path)
        .arg("-o")
        .arg(dir.join(format!("{name}.json")))
        .arg("--bundle")
        .arg(&bundle)
        .output()
        .unwrap();
    common::assert_success(&out);
    bundle
}

/// `docker-compose -f base.yaml -f FRAGMENT config` in `dir`, where base.yaml gives service
/// `service` an image.
fn compose_config(dir: &Path, service: &str, fragment: &Path) -> Output {
    let base = dir.join(format!("{service}.base.yaml"));
    std::fs::write(
        &base,
        format!("services:\n  {service}:\n    image: busybox:latest\n"),
    )
    .unwrap();
    Command::new("docker-compose")
        .arg("-f")
        .arg(&base)
        .arg("-f")
        .arg(fragment)
        .arg("config")
        // No .env or COMPOSE_* of the caller's: the files alone decide.
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .expect("running docker-compose")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `seccomp=FILE` and `seccomp:FILE` are the same option (compose normalizes to `:`).
fn security_opts(v: &Value) -> BTreeSet<(String, String)> {
    strings(v)
        .into_iter()
        .map(|o| {
            let at = o.find([':', '=']).unwrap_or(o.len());
            (o[..at].to_owned(), o.get(at + 1..).unwrap_or("").to_owned())
        })
        .collect()
}

/// What compose read must be what bundle.json decided.
fn assert_parsed_as_decided(bundle: &Bundle, config: &Value) {
    let name = &bundle.name;
    let service = &config["services"][name.as_str()];
    assert_eq!(service["image"], "busybox:latest", "{name}: {config:#}");
    assert_eq!(service["cap_drop"], json!(["ALL"]), "{name}");
    let added: Vec<&str> = bundle.added().into_iter().map(short_name).collect();
    assert_eq!(strings(&service["cap_add"]), added, "{name}: {config:#}");
    let mut opts = BTreeSet::new();
    if bundle.no_new_privileges() {
        opts.insert(("no-new-privileges".to_owned(), "true".to_owned()));
    }
    let seccomp = bundle.seccomp.as_ref().expect("generate names its profile");
    opts.insert(("seccomp".to_owned(), seccomp.path.clone()));
    assert_eq!(security_opts(&service["security_opt"]), opts, "{name}");
    assert_eq!(
        service["read_only"].as_bool().unwrap_or(false),
        bundle.read_only.read_only(),
        "{name}"
    );
    let tmpfs: Vec<&str> = bundle.read_only.tmpfs().map(|m| m.path.as_str()).collect();
    assert_eq!(strings(&service["tmpfs"]), tmpfs, "{name}: {config:#}");
    // Each volume mounted at its path, and declared at the top level.
    let volumes = strings(&service["volumes"]);
    let want: Vec<&str> = bundle
        .read_only
        .volumes()
        .map(|m| m.path.as_str())
        .collect();
    assert_eq!(volumes.len(), want.len(), "{name}: {config:#}");
    for (spec, path) in volumes.iter().zip(&want) {
        let mut parts = spec.split(':');
        let (volume, target) = (parts.next().unwrap(), parts.next());
        assert_eq!(target, Some(*path), "{name}: {spec}");
        assert!(
            config["volumes"].get(volume).is_some(),
            "{name}: volume {volume} not declared: {config:#}"
        );
    }
    assert_eq!(
        service["user"].as_str(),
        bundle.user.user.as_deref(),
        "{name}"
    );
}

#[test]
fn the_compose_fragment_parses_with_docker_compose_as_the_bundle_decided() {
    require!(program("docker-compose", "docker-compose"));
    let dir = tempfile::tempdir().unwrap();
    let mut shapes = BTreeSet::new();
    for rec in recordings() {
        let bundle_dir = generate(dir.path(), &rec);
        let bundle =
            Bundle::from_json(&std::fs::read_to_string(bundle_dir.join("bundle.json")).unwrap())
                .unwrap();
        let out = compose_config(dir.path(), &bundle.name, &bundle_dir.join("compose.yaml"));
        assert!(
            out.status.success(),
            "{}: docker-compose refused the fragment: {}\n{}",
            bundle.name,
            stderr(&out),
            std::fs::read_to_string(bundle_dir.join("compose.yaml")).unwrap()
        );
        let config: Value = serde_norway::from_str(&stdout(&out)).unwrap();
        assert_parsed_as_decided(&bundle, &config);
        shapes.insert((
            !bundle.added().is_empty(),
            bundle.read_only.volumes().count() > 0,
            bundle.no_new_privileges(),
            bundle.user.non_root(),
        ));
    }
    // The shapes the recordings were made for were all there: caps and a volume, non-root,
    // no no-new-privileges.
    assert!(shapes.iter().any(|s| s.0 && s.1), "{shapes:?}");
    assert!(shapes.iter().any(|s| s.3 && !s.0), "{shapes:?}");
    assert!(shapes.iter().any(|s| !s.2), "{shapes:?}");
}

/// The parser is not blind: a fragment with a wrong type or an unknown key is refused.
#[test]
fn docker_compose_refuses_a_broken_fragment() {
    require!(program("docker-compose", "docker-compose"));
    let dir = tempfile::tempdir().unwrap();
    for (what, fragment) in [
        (
            "cap_add as a string",
            "services:\n  app:\n    cap_add: CHOWN\n",
        ),
        ("a typo'd key", "services:\n  app:\n    readonly: true\n"),
        (
            "read_only not a boolean",
            "services:\n  app:\n    read_only: [yes]\n",
        ),
    ] {
        let path = dir.path().join("broken.yaml");
        std::fs::write(&path, fragment).unwrap();
        let out = compose_config(dir.path(), "app", &path);
        assert!(
            !out.status.success(),
            "{what} was accepted: {}",
            stdout(&out)
        );
    }
}
