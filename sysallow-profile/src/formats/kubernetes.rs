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
