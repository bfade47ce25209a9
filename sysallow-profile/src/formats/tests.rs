//! Golden files of every format for one recording, round trips, and Docker's and Podman's
//! default profiles read and re-emitted. Golden files live in `sysallow-profile/tests/golden/`;
//! regenerate them with `SYSALLOW_UPDATE_GOLDEN=1 cargo test -p sysallow-profile` and review the diff.

use std::path::PathBuf;

use super::*;
use crate::generate::{GenerationPolicy, generate};
use crate::recording::{self, UNATTRIBUTED};

fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A vendored default profile (`sysallow-profile/data/`, see its README for provenance).
fn fixture(name: &str) -> String {
    match name {
        "docker-default.json" => crate::baseline::DOCKER_DEFAULT_JSON.to_owned(),
        "containers-common-default.json" => crate::baseline::PODMAN_DEFAULT_JSON.to_owned(),
        other => panic!("no vendored profile {other}"),
    }
}

/// A small recording with a compat ABI, as a runc container would produce.
pub(crate) fn sample_recording() -> Recording {
    let mut rec = recording::for_tests(recording::command_for_tests(&["app", "--serve"]));
    for (abi, name, program) in [
        (Abi::X86_64, "execve", UNATTRIBUTED),
        (Abi::X86_64, "brk", "/usr/bin/app"),
        (Abi::X86_64, "mmap", "/usr/bin/app"),
        (Abi::X86_64, "openat", "/usr/bin/app"),
        (Abi::X86_64, "read", "/usr/bin/app"),
        (Abi::X86_64, "write", "/usr/bin/app"),
        (Abi::X86_64, "exit_group", "/usr/bin/app"),
        (Abi::X86, "open", "/usr/lib/app/helper32"),
        (Abi::X86, "exit", "/usr/lib/app/helper32"),
    ] {
        rec.add(abi, abi.syscall_nr(name).unwrap(), program, 1);
    }
    rec
}

fn sample_profile() -> Profile {
    let policy = GenerationPolicy {
        runtime: "runc@1.1.5".parse().unwrap(),
        no_new_privileges: true,
        vdso: true,
        ..GenerationPolicy::default()
    };
    generate(&[sample_recording()], &policy).unwrap().profile
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Docker | Format::Oci | Format::Podman => "json",
        Format::Kubernetes => "yaml",
        Format::Systemd => "conf",
    }
}

#[test]
fn every_format_matches_its_golden_file() {
    let profile = sample_profile();
    let update = std::env::var("SYSALLOW_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for format in Format::ALL {
        let text = write_named(&profile, format, "app");
        let path = manifest_path(&format!(
            "tests/golden/sample.{format}.{}",
            extension(format)
        ));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (SYSALLOW_UPDATE_GOLDEN=1 writes it)",
                path.display()
            )
        });
        if golden != text {
            stale.push(format!("{}:\n{text}", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "output differs from golden files:\n{}",
        stale.join("\n")
    );
}

#[test]
fn formats_carry_what_they_promise() {
    let profile = sample_profile();
    let oci = write(&profile, Format::Oci);
    for absent in ["archMap", "comment", "includes", "excludes", "\"errno\""] {
        assert!(!oci.contains(absent), "oci has {absent}");
    }
    assert!(oci.contains("\"defaultErrnoRet\": 1"));
    let podman = write(&profile, Format::Podman);
    assert!(podman.contains("\"defaultErrno\": \"EPERM\""), "{podman}");
    assert!(podman.contains("\"errno\": \"ENOSYS\""));
    let k8s = write_named(&profile, Format::Kubernetes, "app");
    assert!(
        k8s.starts_with(&format!(
            "apiVersion: {KUBERNETES_API_VERSION}\nkind: {KUBERNETES_KIND}\n"
        )),
        "{k8s}"
    );
    assert!(!k8s.contains("defaultErrnoRet"));
    assert!(k8s.contains("name: app"));
    let systemd = write(&profile, Format::Systemd);
    assert!(
        systemd.contains("SystemCallArchitectures=x86-64 x86\n"),
        "{systemd}"
    );
    assert!(systemd.contains("SystemCallErrorNumber=EPERM\n"));
    assert!(
        systemd
            .lines()
            .any(|l| l.starts_with("SystemCallFilter=") && l.contains(" execve "))
    );
    assert!(systemd.contains("# Note: systemd gives every syscall outside the allow list"));
}

#[test]
fn every_format_round_trips() {
    let profiles = [
        ("generated", sample_profile()),
        (
            "docker fixture",
            profile_of(&fixture("docker-default.json")),
        ),
        (
            "podman fixture",
            profile_of(&fixture("containers-common-default.json")),
        ),
    ];
    for (what, profile) in profiles {
        for format in Format::ALL {
            let text = write(&profile, format);
            let (doc, detected) =
                read_detected(&text).unwrap_or_else(|e| panic!("{what} as {format}: {e}\n{text}"));
            assert_eq!(
                doc,
                Document::Profile(restrict(&profile, format)),
                "{what} as {format} did not round-trip"
            );
            // Docker's format is what is left when a file has no other format's marks.
            if format != Format::Docker {
                assert_eq!(detected, Some(format), "{what} as {format}");
            }
        }
    }
}

fn profile_of(text: &str) -> Profile {
    match read(text).unwrap() {
        Document::Profile(p) => p,
        Document::Recording(_) => panic!("a profile was read as a recording"),
    }
}

/// JSON with the spellings that mean the same thing made equal: `null`, `[]`, `{}`, `""`, `0`
/// for `valueTwo` and absent all mean "nothing".
fn normalize(value: serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value;
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.into_iter().filter_map(normalize).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => {
            let map: serde_json::Map<String, Value> = map
                .into_iter()
                .filter(|(k, v)| !(k == "valueTwo" && v == &Value::from(0)))
                .filter_map(|(k, v)| normalize(v).map(|v| (k, v)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        other => Some(other),
    }
}

#[test]
fn default_profiles_are_read_and_re_emitted_equal() {
    for (name, format) in [
        ("docker-default.json", Format::Docker),
        ("containers-common-default.json", Format::Podman),
    ] {
        let original = fixture(name);
        let (doc, detected) = read_detected(&original).unwrap();
        assert_eq!(detected, Some(format), "{name}");
        let Document::Profile(profile) = doc else {
            panic!("{name} read as a recording")
        };
        assert!(
            profile.syscalls.iter().any(|r| !r.includes.caps.is_empty()),
            "{name}: includes were not understood"
        );
        let emitted = write(&profile, format);
        let a = normalize(serde_json::from_str(&original).unwrap());
        let b = normalize(serde_json::from_str(&emitted).unwrap());
        assert_eq!(a, b, "{name} changed meaning when re-emitted");
    }
}

#[test]
fn oci_notes_what_it_cannot_carry() {
    let profile = profile_of(&fixture("docker-default.json"));
    let notes = notes(&profile, Format::Oci);
    assert!(
        notes.iter().any(|n| n.contains("conditional rules")),
        "{notes:?}"
    );
    assert!(restrict(&profile, Format::Oci).syscalls.len() < profile.syscalls.len());
}

#[test]
fn errors_say_where() {
    let err = read("{\n  \"defaultAction\": \"SCMP_ACT_NOPE\"\n}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    let err = read("{\n  \"defaultAction\": ").unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    let err = read("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  bogus: 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line"), "{err}");
    let err = read("SystemCallFilter=@system-service\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1") && err.contains("systemd-analyze"),
        "{err}"
    );
    let err = read("SystemCallFilter=read\nSystemCallErrorNumber=EWHAT\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(read("").is_err());
}

#[test]
fn systemd_deny_lists_and_errnos_are_understood() {
    let text = "[Service]\nSystemCallFilter=~mount:EPERM umount2\nSystemCallErrorNumber=EACCES\n";
    let p = profile_of(text);
    assert_eq!(p.default_action, Action::Allow);
    let errnos: Vec<(Vec<String>, Option<u32>)> = p
        .syscalls
        .iter()
        .map(|r| (r.names.clone(), r.errno_ret))
        .collect();
    assert_eq!(
        errnos,
        vec![
            (vec!["mount".into()], Some(1)),
            (vec!["umount2".into()], Some(13))
        ]
    );
}

#[test]
fn errno_names_come_from_the_kernel_table() {
    assert_eq!(errno_number("ENOSYS"), Some(38));
    assert_eq!(errno_name(1), Some("EPERM"));
    assert_eq!(errno_number("ENOPE"), None);
}
