//! What a Kubernetes user applies, per workload container: the kubelet localhost profile, the
//! Security Profiles Operator `SeccompProfile`, and the `securityContext` that references it.
//!
//! The localhost profile is an OCI runtime-spec `LinuxSeccomp` document (the `oci` format):
//! containerd and CRI-O read it so and silently ignore Docker-only keys (`archMap`,
//! `includes`/`excludes`, `comment`), so the document must not need them ([`formats::restrict`]
//! drops them and [`KubeOutputs::notes`] says what that lost).

use super::names::{self, NameError};
use super::{PodRef, WorkloadKind};
use crate::formats::{self, Format};
use crate::profile::Profile;

/// An SPO `SeccompProfile` API version, and which SPO releases serve it.
///
/// Read from SPO's CRD (`deploy/base-crds/crds/seccompprofile.yaml`): v0.8 served `v1beta1`
/// namespaced; v0.9 and v0.10 serve `v1beta1` cluster-scoped; v1.0 (and main at a2e4c4b,
/// 2026-08) serve `v1` (stored) and `v1beta1`, cluster-scoped, with one schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpoApi {
    /// `v1beta1`, cluster-scoped: SPO v0.9.0 and later, v1.x included.
    V1Beta1,
    /// `v1`: SPO v1.0.0 and later only.
    V1,
}

impl SpoApi {
    pub fn api_version(self) -> &'static str {
        match self {
            SpoApi::V1Beta1 => formats::KUBERNETES_API_VERSION,
            SpoApi::V1 => formats::KUBERNETES_API_VERSION_V1,
        }
    }

    fn served_by(self) -> &'static str {
        match self {
            SpoApi::V1Beta1 => "SPO v0.9.0 and later (v1.x serves it beside v1)",
            SpoApi::V1 => "SPO v1.0.0 and later",
        }
    }
}

/// Everything [`outputs`] makes for one workload container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeOutputs {
    /// Relative to kubelet's seccomp directory (`/var/lib/kubelet/seccomp`), as
    /// `localhostProfile` takes it: `profiles/sysallow/<ns>/<kind>-<workload>/<container>.json`.
    pub localhost_path: String,
    /// The profile to write there: OCI runtime-spec `LinuxSeccomp` JSON.
    pub localhost_json: String,
    /// The SPO `SeccompProfile` manifest (`v1beta1`, cluster-scoped: every SPO since v0.9),
    /// with a header of comments saying so.
    pub seccomp_profile_yaml: String,
    /// Its `metadata.name`: `<ns>.<kind>-<workload>.<container>`.
    pub spo_name: String,
    /// A container-level `securityContext` referencing the localhost profile, with comments
    /// naming the container and the SPO alternative.
    pub security_context_yaml: String,
    /// What the OCI and SPO forms could not carry of the profile (empty for a generated
    /// profile, which uses neither `archMap` nor conditional rules).
    pub notes: Vec<String>,
}

/// The outputs for `profile`, recorded from `pod`'s container. Fails only on names that
/// cannot have come from kubelet (see [`names`]).
pub fn outputs(pod: &PodRef, profile: &Profile) -> Result<KubeOutputs, NameError> {
    let localhost_path = names::localhost_path(pod)?;
    let spo_name = names::spo_name(pod)?;
    let mut notes = formats::notes(profile, Format::Oci);
    for note in formats::notes(profile, Format::Kubernetes) {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    Ok(KubeOutputs {
        localhost_json: formats::write(profile, Format::Oci),
        seccomp_profile_yaml: seccomp_profile_yaml(pod, profile, &spo_name, SpoApi::V1Beta1),
        security_context_yaml: security_context_yaml(pod, &localhost_path, &spo_name),
        localhost_path,
        spo_name,
        notes,
    })
}

/// `<Kind> <namespace>/<name>`, as a person reads it.
fn describe(pod: &PodRef) -> String {
    let kind = match pod.workload.kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
        WorkloadKind::DaemonSet => "DaemonSet",
        WorkloadKind::Job => "Job",
        WorkloadKind::CronJob => "CronJob",
        WorkloadKind::Pod => "Pod",
    };
    format!("{kind} {}/{}", pod.namespace, pod.workload.name)
}

/// Where the container's entry is in its workload's manifest.
fn containers_field(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Pod => "spec.containers",
        WorkloadKind::CronJob => "spec.jobTemplate.spec.template.spec.containers",
        WorkloadKind::Deployment
        | WorkloadKind::StatefulSet
        | WorkloadKind::DaemonSet
        | WorkloadKind::Job => "spec.template.spec.containers",
    }
}

/// The SPO manifest in `api`'s version, named `spo_name` (cluster-scoped: no namespace).
pub fn seccomp_profile_yaml(
    pod: &PodRef,
    profile: &Profile,
    spo_name: &str,
    api: SpoApi,
) -> String {
    let body = formats::write_kubernetes(profile, spo_name, api.api_version());
    format!(
        "# sysallow: the seccomp profile of container {container:?} of {workload}, for the\n\
         # Security Profiles Operator. Cluster-scoped {api_version}: {served}.\n\
         # (SPO before v0.9 had namespaced SeccompProfiles: add metadata.namespace there.)\n\
         # SPO installs it on every node as {spo_path}.\n\
         {body}",
        container = pod.container,
        workload = describe(pod),
        api_version = api.api_version(),
        served = api.served_by(),
        spo_path = names::spo_localhost_path(spo_name),
    )
}

fn security_context_yaml(pod: &PodRef, localhost_path: &str, spo_name: &str) -> String {
    format!(
        "# sysallow: for container {container:?} of {workload}: put this in that container's\n\
         # entry of {field}. It is enforced on nodes whose kubelet seccomp\n\
         # directory (/var/lib/kubelet/seccomp) holds {localhost_path}.\n\
         # With the Security Profiles Operator, apply SeccompProfile {spo_name} and use\n\
         #   localhostProfile: {spo_path}\n\
         securityContext:\n  \
           seccompProfile:\n    \
             type: Localhost\n    \
             localhostProfile: {localhost_path}\n",
        container = pod.container,
        workload = describe(pod),
        field = containers_field(pod.workload.kind),
        spo_path = names::spo_localhost_path(spo_name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{Document, read_detected, restrict};
    use crate::kubernetes::Workload;

    fn pod() -> PodRef {
        PodRef {
            namespace: "shop".to_owned(),
            pod: "web-frontend-7d4b9c8f5-x2x7k".to_owned(),
            uid: "0b5b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            container: "nginx".to_owned(),
            workload: Workload {
                kind: WorkloadKind::Deployment,
                name: "web-frontend".to_owned(),
            },
        }
    }

    /// Docker's default profile: it has every Docker-only key (archMap, includes/excludes,
    /// comment), so it shows what the runtime-read forms leave out.
    fn docker_default() -> Profile {
        match read_detected(crate::baseline::DOCKER_DEFAULT_JSON)
            .unwrap()
            .0
        {
            Document::Profile(p) => p,
            Document::Recording(_) => panic!("docker-default.json is a profile"),
        }
    }

    #[test]
    fn the_localhost_profile_has_no_docker_only_key() {
        let profile = docker_default();
        let out = outputs(&pod(), &profile).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out.localhost_json).unwrap();
        let text = value.to_string();
        for key in [
            "archMap",
            "includes",
            "excludes",
            "comment",
            "defaultErrno\"",
        ] {
            assert!(!text.contains(&format!("\"{key}")), "{key} in {text:.200}");
        }
        let (doc, format) = read_detected(&out.localhost_json).unwrap();
        assert_eq!(format, Some(Format::Oci));
        assert_eq!(doc, Document::Profile(restrict(&profile, Format::Oci)));
        // What was lost is said: Docker's default has conditional rules and an archMap.
        assert!(
            out.notes.iter().any(|n| n.contains("includes/excludes")),
            "{:?}",
            out.notes
        );
        assert!(
            out.notes.iter().any(|n| n.contains("archMap")),
            "{:?}",
            out.notes
        );
    }

    #[test]
    fn the_seccomp_profile_reads_back_and_says_who_takes_it() {
        let profile = docker_default();
        let out = outputs(&pod(), &profile).unwrap();
        let (doc, format) = read_detected(&out.seccomp_profile_yaml).unwrap();
        assert_eq!(format, Some(Format::Kubernetes));
        assert_eq!(
            doc,
            Document::Profile(restrict(&profile, Format::Kubernetes))
        );
        let value: serde_json::Value = serde_norway::from_str(&out.seccomp_profile_yaml).unwrap();
        assert_eq!(
            value["apiVersion"],
            "security-profiles-operator.x-k8s.io/v1beta1"
        );
        assert_eq!(value["kind"], "SeccompProfile");
        assert_eq!(value["metadata"]["name"], out.spo_name.as_str());
        assert!(
            value["metadata"].get("namespace").is_none(),
            "cluster-scoped"
        );
        assert!(out.seccomp_profile_yaml.contains("SPO v0.9.0 and later"));
        assert!(
            out.seccomp_profile_yaml
                .contains("operator/shop.deployment-web-frontend.nginx.json")
        );

        let v1 = seccomp_profile_yaml(&pod(), &profile, &out.spo_name, SpoApi::V1);
        let value: serde_json::Value = serde_norway::from_str(&v1).unwrap();
        assert_eq!(
            value["apiVersion"],
            "security-profiles-operator.x-k8s.io/v1"
        );
        assert_eq!(
            read_detected(&v1).unwrap().0,
            Document::Profile(restrict(&profile, Format::Kubernetes))
        );
    }

    #[test]
    fn the_security_context_references_the_localhost_path() {
        let out = outputs(&pod(), &docker_default()).unwrap();
        let value: serde_json::Value = serde_norway::from_str(&out.security_context_yaml).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"securityContext": {"seccompProfile": {
                "type": "Localhost",
                "localhostProfile": "profiles/sysallow/shop/deployment-web-frontend/nginx.json",
            }}})
        );
        let text = &out.security_context_yaml;
        assert!(
            text.contains("container \"nginx\" of Deployment shop/web-frontend"),
            "{text}"
        );
        assert!(text.contains("spec.template.spec.containers"), "{text}");
        assert!(
            text.contains("localhostProfile: operator/shop.deployment-web-frontend.nginx.json"),
            "{text}"
        );
    }

    #[test]
    fn bad_names_are_an_error_not_a_path() {
        let mut p = pod();
        p.namespace = "../../etc".to_owned();
        let err = outputs(&p, &docker_default()).unwrap_err();
        assert!(err.to_string().contains("namespace \"../../etc\""), "{err}");
    }
}
