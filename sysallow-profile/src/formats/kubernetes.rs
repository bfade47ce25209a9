//! Kubernetes: the Security Profiles Operator's `SeccompProfile` resource
//! (`security-profiles-operator.x-k8s.io/v1beta1`). Its `spec` has the OCI rule shape
//! (`defaultAction`, `architectures`, `syscalls[{names, action, errnoRet, args}]`) and no
//! `defaultErrnoRet`. The operator writes the spec as JSON to
//! `/var/lib/kubelet/seccomp/operator/<namespace>/<name>.json` on every node.

use serde::{Deserialize, Serialize};

use super::FormatError;
use crate::profile::Profile;

pub const API_VERSION: &str = "security-profiles-operator.x-k8s.io/v1beta1";
/// The storage version since SPO v1.0 (which still serves `v1beta1`).
pub const API_VERSION_V1: &str = "security-profiles-operator.x-k8s.io/v1";
pub const KIND: &str = "SeccompProfile";

/// The architectures SPO's CRD accepts (`spec.architectures` enum in
/// `deploy/base-crds/crds/seccompprofile.yaml`, the same from v0.9 to v1.0 and main at
/// a2e4c4b): no `SCMP_ARCH_LOONGARCH64`, `SCMP_ARCH_M68K`, `SCMP_ARCH_SH*`, which Docker's
/// profile lists. The API server refuses a resource naming another.
pub const SPO_ARCHITECTURES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

/// The seccomp(2) flags SPO's CRD accepts (`spec.flags` enum).
pub const SPO_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// What of `values` SPO does not accept.
pub(super) fn refused<'a>(values: &'a [String], accepted: &[&str]) -> Vec<&'a str> {
    values
        .iter()
        .map(String::as_str)
        .filter(|v| !accepted.contains(v))
        .collect()
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Profile,
}

#[derive(Serialize, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `profile` must already be restricted to what the resource carries.
pub(super) fn write(profile: &Profile, name: &str) -> String {
    write_versioned(profile, name, API_VERSION)
}

/// [`write`] with another served version of the same resource (SPO v1.0 serves `v1` and
/// `v1beta1`, with one schema).
pub(super) fn write_versioned(profile: &Profile, name: &str, api_version: &str) -> String {
    let resource = Resource {
        api_version: api_version.to_owned(),
        kind: KIND.to_owned(),
        metadata: Metadata {
            name: resource_name(name),
            namespace: None,
            annotations: None,
        },
        spec: profile.clone(),
    };
    // Plain data with string keys: serialization cannot fail.
    serde_norway::to_string(&resource).unwrap_or_default()
}

/// A DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253 characters.
fn resource_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out = out.trim_matches(|c| c == '-' || c == '.').to_owned();
    out.truncate(253);
    if out.is_empty() {
        "sysallow-profile".to_owned()
    } else {
        out
    }
}

pub(super) fn read(text: &str) -> Result<Profile, FormatError> {
    let resource: Resource = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        FormatError::Yaml {
            line,
            column,
            message: e.to_string(),
        }
    })?;
    if resource.kind != KIND
        || !resource
            .api_version
            .starts_with("security-profiles-operator")
    {
        return Err(FormatError::Yaml {
            line: 1,
            column: 1,
            message: format!(
                "expected apiVersion {API_VERSION} and kind {KIND}, found {} {}",
                resource.api_version, resource.kind
            ),
        });
    }
    Ok(resource.spec)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_dns_subdomains() {
        assert_eq!(super::resource_name("My_App.json"), "my-app.json");
        assert_eq!(super::resource_name("__"), "sysallow-profile");
    }
}
