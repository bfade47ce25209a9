//! Profiles that say the same thing in different words diff as equal.

use std::path::Path;

use sysallow_profile::diff::{self, Diff, FailOn, Style};
use sysallow_profile::formats::{self, Format};
use sysallow_profile::policy::NormalizedPolicy;
use sysallow_profile::profile::Profile;

fn policy(text: &str) -> NormalizedPolicy {
    let doc = formats::read(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    NormalizedPolicy::from_document(&doc)
}

fn assert_equal(a: &str, b: &str) {
    let d = Diff::compute("a", &policy(a), "b", &policy(b));
    assert!(
        d.is_empty() && !d.fails(FailOn::Any),
        "{}",
        diff::render_text(&d, Style { color: false })
    );
}

/// A vendored default profile (`sysallow-profile/data/`, see its README for provenance).
fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn split_rules_other_order_and_arch_spelling() {
    let a = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
        "architectures":["SCMP_ARCH_X86","SCMP_ARCH_X86_64"],
        "syscalls":[{"names":["read","write","openat"],"action":"SCMP_ACT_ALLOW","comment":"observed"},
          {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"},{"index":2,"value":0,"op":"SCMP_CMP_EQ"}]},
          {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
    let b = r#"{"defaultErrnoRet":1,"defaultAction":"SCMP_ACT_ERRNO",
        "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
        "syscalls":[{"names":["clone3"],"errnoRet":38,"action":"SCMP_ACT_ERRNO","comment":"fallback"},
          {"names":["openat"],"action":"SCMP_ACT_ALLOW"},
          {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":2,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]},
          {"names":["write","read"],"action":"SCMP_ACT_ALLOW"},
          {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
    assert_equal(a, b);
}

#[test]
fn docker_and_oci_and_podman_spellings() {
    // A Docker-format profile with archMap and comments, and the OCI and Podman files the
    // writer makes of it: OCI flattens archMap and drops comments, Podman names errnos.
    let docker = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
        "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
        "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW","comment":"observed"},
          {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"comment":"fallback: x"}]}"#;
    let profile: Profile = serde_json::from_str(docker).expect("test profile");
    for format in [Format::Oci, Format::Podman, Format::Kubernetes] {
        let other = formats::write(&profile, format);
        assert_equal(docker, &other);
    }
    // And a hand-written OCI one.
    let oci = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
        "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
        "syscalls":[{"names":["write","read"],"action":"SCMP_ACT_ALLOW"},
          {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
    assert_equal(docker, oci);
}

#[test]
fn docker_default_equals_itself_reordered() {
    // Docker's own default, its rules reversed and every rule's names reversed.
    let text = fixture("docker-default.json");
    let mut profile: Profile = match formats::read(&text) {
        Ok(formats::Document::Profile(p)) => p,
        other => panic!("{other:?}"),
    };
    profile.syscalls.reverse();
    for rule in &mut profile.syscalls {
        rule.names.reverse();
    }
    let reordered = serde_json::to_string(&profile).expect("serializes");
    assert_equal(&text, &reordered);
}

#[test]
fn real_differences_are_not_hidden() {
    // Docker's and Podman's defaults really differ: the diff must say so.
    let d = Diff::compute(
        "docker",
        &policy(&fixture("docker-default.json")),
        "podman",
        &policy(&fixture("containers-common-default.json")),
    );
    assert!(!d.is_empty());
}
