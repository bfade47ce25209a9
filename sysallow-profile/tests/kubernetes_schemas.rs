//! deploy/'s manifests and the Kubernetes outputs, validated against the schemas the API
//! server validates them with, vendored in data/kubernetes/ (README there: provenance):
//! - the Kubernetes API's own JSON schemas of the built-in kinds (kubernetes-validate's
//!   strict ones: unknown fields are errors, as kubectl's default strict field validation
//!   makes them), for the oldest and the newest Kubernetes it bundles;
//! - the Security Profiles Operator's SeccompProfile CRD schema.
//!
//! Nothing needs installing or a network: the `jsonschema` crate validates in-process.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sysallow_profile::formats::{self, Document};
use sysallow_profile::kubernetes::{self, PodRef, SpoApi, Workload, WorkloadKind};
use sysallow_profile::{Profile, baseline};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/kubernetes");
/// The Kubernetes releases whose API schemas are vendored: kubernetes-validate's oldest and
/// newest, so a manifest valid under both uses nothing added or removed between them.
const KUBERNETES: [&str; 2] = ["v1.25.0", "v1.37.0"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A validator for `kind` (a top-level schema of kubernetes-validate's, e.g.
/// `daemonset-apps-v1`) in Kubernetes `version`.
fn kubernetes_schema(version: &str, kind: &str) -> jsonschema::Validator {
    let mut schema = schema_file(&format!("k8s-{version}-strict.json"));
    assert!(
        schema["$defs"].get(kind).is_some(),
        "no schema {kind} in {version}"
    );
    schema["$ref"] = json!(format!("#/$defs/{kind}"));
    validator(&schema, kind)
}

fn spo_schema() -> jsonschema::Validator {
    let name = "spo-seccompprofile.schema.json";
    validator(&schema_file(name), name)
}

fn schema_file(name: &str) -> Value {
    serde_json::from_str(&read(&Path::new(DATA).join(name)))
        .unwrap_or_else(|e| panic!("data/kubernetes/{name}: {e}"))
}

fn validator(schema: &Value, what: &str) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema).unwrap_or_else(|e| panic!("schema {what}: {e}"))
}

/// Every error, one per line, with where it is.
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// kubernetes-validate's schema for a kind and API version.
fn schema_name(api_version: &str, kind: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    match api_version.split_once('/') {
        Some((group, version)) => format!(
            "{kind}-{}-{version}",
            group.split('.').next().unwrap_or(group)
        ),
        None => format!("{kind}-{api_version}"),
    }
}

fn yaml_documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn deploy_manifests_validate_against_the_kubernetes_api_schema() {
    let mut kinds = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in deploy/");
    for file in &files {
        for doc in yaml_documents(&read(file)) {
            let (api_version, kind) = (doc["apiVersion"].as_str(), doc["kind"].as_str());
            let (Some(api_version), Some(kind)) = (api_version, kind) else {
                panic!("{}: a document without apiVersion and kind", file.display());
            };
            for version in KUBERNETES {
                let schema = kubernetes_schema(version, &schema_name(api_version, kind));
                let found = errors(&schema, &doc);
                assert!(
                    found.is_empty(),
                    "{} ({kind}) under Kubernetes {version}:\n{}",
                    file.display(),
                    found.join("\n")
                );
            }
            kinds.push(kind.to_owned());
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["DaemonSet", "Namespace", "ServiceAccount"]);
}

/// The validator is not blind: the DaemonSet with a typo'd field, a wrong type, or no
/// containers is refused.
#[test]
fn the_kubernetes_schema_refuses_broken_manifests() {
    let daemonset = yaml_documents(&read(&deploy_dir().join("daemonset.yaml"))).remove(0);
    let schema = kubernetes_schema(KUBERNETES[1], "daemonset-apps-v1");
    assert!(schema.is_valid(&daemonset));

    let mut typo = daemonset.clone();
    typo["spec"]["template"]["spec"]["hostPid"] = json!(true);
    let mut wrong_type = daemonset.clone();
    wrong_type["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] =
        json!("BPF");
    let mut no_selector = daemonset;
    no_selector["spec"]
        .as_object_mut()
        .unwrap()
        .remove("selector");
    for (what, broken) in [
        ("typo", typo),
        ("wrong type", wrong_type),
        ("no selector", no_selector),
    ] {
        assert!(!schema.is_valid(&broken), "{what} was accepted");
    }
}

/// The DaemonSet says what deploy/README.md says it asks for, and nothing more.
#[test]
fn the_daemonset_asks_for_least_privilege() {
    let daemonset = yaml_documents(&read(&deploy_dir().join("daemonset.yaml"))).remove(0);
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostIPC").is_none());
    assert_eq!(pod["automountServiceAccountToken"], false);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let sc = &containers[0]["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["capabilities"]["add"], json!(["BPF", "PERFMON"]));
    let readme = read(&deploy_dir().join("README.md"));
    for volume in pod["volumes"].as_array().unwrap() {
        if let Some(path) = volume["hostPath"]["path"].as_str() {
            assert!(
                readme.contains(&format!("`{path}`")),
                "deploy/README.md does not name {path}"
            );
        }
    }
    for cap in ["BPF", "PERFMON"] {
        assert!(
            readme.contains(&format!("`CAP_{cap}`")),
            "deploy/README.md does not name CAP_{cap}"
        );
    }
    assert!(readme.contains("`hostPID`"));
}

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

/// Profiles with every rule shape the formats carry: Docker's and Podman's defaults (argument
/// conditions, masked compares, errno rules, many architectures).
fn profiles() -> Vec<(&'static str, Profile)> {
    [
        ("docker-default", baseline::DOCKER_DEFAULT_JSON),
        ("podman-default", baseline::PODMAN_DEFAULT_JSON),
    ]
    .into_iter()
    .map(
        |(name, text)| match formats::read(text).unwrap_or_else(|e| panic!("{name}: {e}")) {
            Document::Profile(p) => (name, p),
            Document::Recording(_) => panic!("{name} is a profile"),
        },
    )
    .collect()
}

#[test]
fn the_security_context_snippet_validates_in_a_pod() {
    for (name, profile) in profiles() {
        let out = kubernetes::outputs(&pod(), &profile).unwrap();
        let snippet: Value = serde_norway::from_str(&out.security_context_yaml).unwrap();
        let security_context = &snippet["securityContext"];
        assert_eq!(security_context["seccompProfile"]["type"], "Localhost");
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-frontend-7d4b9c8f5-x2x7k", "namespace": "shop"},
            "spec": {"containers": [{
                "name": "nginx",
                "image": "nginx:1.27",
                "securityContext": security_context,
            }]},
        });
        for version in KUBERNETES {
            for (kind, instance) in [
                ("securitycontext-v1", security_context),
                ("pod-v1", &manifest),
            ] {
                let found = errors(&kubernetes_schema(version, kind), instance);
                assert!(
                    found.is_empty(),
                    "{name}: {kind} under {version}:\n{}",
                    found.join("\n")
                );
            }
        }
    }
}

#[test]
fn seccomp_profiles_validate_against_spo_crd_schema() {
    let schema = spo_schema();
    for (name, profile) in profiles() {
        let out = kubernetes::outputs(&pod(), &profile).unwrap();
        for (api, text) in [
            (SpoApi::V1Beta1, out.seccomp_profile_yaml.clone()),
            (
                SpoApi::V1,
                kubernetes::seccomp_profile_yaml(&pod(), &profile, &out.spo_name, SpoApi::V1),
            ),
        ] {
            let docs = yaml_documents(&text);
            assert_eq!(docs.len(), 1, "{name}: one document");
            let doc = &docs[0];
            assert_eq!(doc["apiVersion"], api.api_version());
            assert_eq!(doc["kind"], "SeccompProfile");
            let found = errors(&schema, doc);
            assert!(found.is_empty(), "{name} {api:?}:\n{}", found.join("\n"));
            // metadata is free-form in the CRD; the API server checks the name.
            let name_ok = doc["metadata"]["name"].as_str().unwrap();
            assert!(
                name_ok.len() <= 253
                    && name_ok.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'-'
                        || b == b'.')
            );
        }
    }
}

/// The SPO schema is not blind either: what the Docker format has and SPO's has not is refused.
#[test]
fn spo_schema_refuses_what_spo_does_not_take() {
    let schema = spo_schema();
    let (_, docker) = profiles().remove(0);
    let out = kubernetes::outputs(&pod(), &docker).unwrap();
    let good = yaml_documents(&out.seccomp_profile_yaml).remove(0);
    assert!(schema.is_valid(&good));
    let mut arch_map = good.clone();
    arch_map["spec"]["archMap"] = json!([{"architecture": "SCMP_ARCH_X86_64"}]);
    let mut errno = good.clone();
    errno["spec"]["defaultErrnoRet"] = json!(1);
    let mut action = good.clone();
    action["spec"]["defaultAction"] = json!("SCMP_ACT_DENY");
    let mut huge = good;
    huge["spec"]["syscalls"][0]["args"] =
        json!([{"index": 0, "op": "SCMP_CMP_EQ", "value": u64::MAX}]);
    for (what, broken) in [
        ("archMap", arch_map),
        ("defaultErrnoRet", errno),
        ("action", action),
        ("u64 value", huge),
    ] {
        assert!(!schema.is_valid(&broken), "{what} was accepted");
    }
}

#[test]
fn vendored_schemas_are_what_data_readme_says() {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/README.md"));
    let mut files = vec![
        "spo-seccompprofile.schema.json".to_owned(),
        "extract.py".to_owned(),
    ];
    files.extend(KUBERNETES.iter().map(|v| format!("k8s-{v}-strict.json")));
    for file in files {
        let out = std::process::Command::new("sha256sum")
            .arg(Path::new(DATA).join(&file))
            .output()
            .unwrap();
        assert!(out.status.success(), "sha256sum {file}");
        let text = String::from_utf8(out.stdout).unwrap();
        let sum = text.split_whitespace().next().unwrap();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `kubernetes/{file}`")))
            .unwrap_or_else(|| panic!("data/README.md has no row for kubernetes/{file}"));
        assert!(
            row.contains(sum),
            "kubernetes/{file} has sha256 {sum}, which data/README.md does not give"
        );
    }
}

// The run-time layer's Kubernetes output (`generate --bundle`'s kubernetes.yaml): the
// container's securityContext (core/v1 SecurityContext) and the pod spec fragment with the
// volumes a read-only root needs, for bundles decided from recordings of several shapes.

mod bundles {
    use std::collections::BTreeSet;

    use serde_json::json;
    use sysallow_profile::Abi;
    use sysallow_profile::hardening::output::{
        kubernetes_pod_spec, kubernetes_security_context, kubernetes_yaml,
    };
    use sysallow_profile::hardening::pss::PssLevel;
    use sysallow_profile::hardening::{self, Bundle, Options, SeccompRef};
    use sysallow_profile::privileges::{
        CapCheck, CapNamespace, PrivilegedExec, Privileges, RootFs, RootWrite,
    };
    use sysallow_profile::recording::{Host, Recording, Target};

    use super::{KUBERNETES, errors, kubernetes_schema, yaml_documents};

    /// The container-level securityContext and the pod spec (no pod-level securityContext is
    /// written: every field the bundle sets is a container's).
    const SECURITY_CONTEXT: &str = "securitycontext-v1";
    const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";

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

    fn root_write(path: &str, in_image: bool) -> RootWrite {
        RootWrite {
            path: path.into(),
            in_image,
            dir: false,
        }
    }

    /// A container (writes recorded) or, without `writes`, a command; the overcommit checks
    /// `true` makes (measured: 10) and `extra`.
    fn recording(
        extra: Vec<CapCheck>,
        execs: Vec<PrivilegedExec>,
        euids: &[u32],
        writes: Option<Vec<RootWrite>>,
    ) -> Recording {
        let target = if writes.is_some() {
            Target::Container {
                id: "0123456789abcdef".into(),
                name: Some("web".into()),
                engine: None,
                runtime: None,
                no_new_privileges: false,
                cgroup: "/system.slice/docker-0123456789abcdef.scope".into(),
            }
        } else {
            Target::Command {
                argv: vec!["/app/server".into()],
                user: None,
            }
        };
        let mut rec = Recording::new(
            target,
            Host {
                kernel: "6.18.0".into(),
                arch: Abi::X86_64,
                libc: None,
            },
            "2026-12-03T00:00:00Z".into(),
        );
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
            euids: euids.iter().copied().collect(),
            egids: euids.iter().copied().collect(),
            root_fs: writes.map(|writes| RootFs {
                writes,
                image_entries: [
                    ("/tmp".to_owned(), 0),
                    ("/var/cache/app".to_owned(), 0),
                    ("/var/lib/app".to_owned(), 3),
                ]
                .into(),
            }),
        });
        rec
    }

    /// Bundles of every shape the output has: non-root restricted with tmpfs mounts; a
    /// proposed user with a group; root with added capabilities, a tmpfs and a volume
    /// (baseline); a host-control capability (privileged); a setuid exec (privilege
    /// escalation allowed); a command (no root filesystem recorded); no seccomp profile
    /// named (RuntimeDefault).
    fn bundles() -> Vec<(&'static str, Bundle)> {
        let seccomp = Some(SeccompRef {
            path: "web.json".into(),
            localhost_profile: "profiles/web.json".into(),
        });
        let options = |user: Option<&str>, seccomp: &Option<SeccompRef>| Options {
            user: user.map(str::to_owned),
            seccomp: seccomp.clone(),
            name: Some("web".into()),
        };
        let shapes = vec![
            (
                "non-root, tmpfs",
                recording(
                    vec![],
                    vec![],
                    &[0],
                    Some(vec![
                        root_write("/tmp/cache.db", false),
                        root_write("/var/cache/app/x", false),
                    ]),
                ),
                options(None, &seccomp),
            ),
            (
                "a proposed user and group",
                recording(vec![], vec![], &[0], Some(vec![])),
                options(Some("1000:3000"), &seccomp),
            ),
            (
                "root, capabilities, tmpfs and volume",
                recording(
                    vec![
                        check("CAP_CHOWN", "fchown", 2),
                        check("CAP_DAC_OVERRIDE", "openat", 1),
                    ],
                    vec![],
                    &[0],
                    Some(vec![
                        root_write("/tmp/upload", false),
                        root_write("/var/lib/app/state.db", true),
                    ]),
                ),
                options(None, &seccomp),
            ),
            (
                "host control",
                recording(
                    vec![check("CAP_SYS_PTRACE", "ptrace", 1)],
                    vec![],
                    &[0],
                    Some(vec![]),
                ),
                options(None, &seccomp),
            ),
            (
                "setuid exec",
                recording(
                    vec![],
                    vec![PrivilegedExec {
                        program: "/usr/bin/passwd".into(),
                        setuid: true,
                        setgid: false,
                        file_caps: vec![],
                        count: 1,
                    }],
                    &[1000, 0],
                    Some(vec![root_write("/tmp/x", false)]),
                ),
                options(None, &seccomp),
            ),
            (
                "a command",
                recording(vec![check("CAP_CHOWN", "fchown", 1)], vec![], &[0], None),
                options(None, &seccomp),
            ),
            (
                "no profile named",
                recording(vec![], vec![], &[0], Some(vec![])),
                options(None, &None),
            ),
        ];
        shapes
            .into_iter()
            .map(|(what, rec, options)| {
                let decided = hardening::decide(std::slice::from_ref(&rec), &options)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                (what, Bundle::new(decided, what.to_owned(), &options))
            })
            .collect()
    }

    #[test]
    fn the_bundles_security_context_and_pod_spec_validate_against_the_kubernetes_api() {
        let mut seen = BTreeSet::new();
        for (what, bundle) in bundles() {
            let context = kubernetes_security_context(&bundle);
            let spec = kubernetes_pod_spec(&bundle);
            // kubernetes.yaml is that pod spec.
            let file = yaml_documents(&kubernetes_yaml(&bundle));
            assert_eq!(file, std::slice::from_ref(&spec), "{what}");
            assert_eq!(spec["containers"][0]["securityContext"], context, "{what}");
            // As a Pod's, with what the fragment leaves to the user's own spec (an image).
            let mut pod_spec = spec.clone();
            pod_spec["containers"][0]["image"] = json!("registry.example/web:1");
            let pod = json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web"},
                "spec": pod_spec,
            });
            for version in KUBERNETES {
                for (kind, instance) in [
                    (SECURITY_CONTEXT, &context),
                    (POD_SPEC, &spec),
                    ("pod-v1", &pod),
                ] {
                    let found = errors(&kubernetes_schema(version, kind), instance);
                    assert!(
                        found.is_empty(),
                        "{what}: {kind} under {version}:\n{}\n{instance:#}",
                        found.join("\n")
                    );
                }
            }
            // Every mount is a volume of the pod, mounted where the bundle put it.
            let mounts = spec["containers"][0]["volumeMounts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
            assert_eq!(mounts.len(), bundle.read_only.mounts.len(), "{what}");
            for (mount, decided) in mounts.iter().zip(&bundle.read_only.mounts) {
                assert_eq!(mount["mountPath"], decided.path.as_str(), "{what}");
                assert!(
                    volumes.iter().any(|v| v["name"] == mount["name"]),
                    "{what}: {spec:#}"
                );
            }
            let level = bundle.pod_security.level;
            for (feature, present) in [
                ("restricted", level == PssLevel::Restricted),
                ("baseline", level == PssLevel::Baseline),
                ("privileged", level == PssLevel::Privileged),
                ("runAsUser", context.get("runAsUser").is_some()),
                ("runAsGroup", context.get("runAsGroup").is_some()),
                (
                    "readOnlyRootFilesystem",
                    context.get("readOnlyRootFilesystem").is_some(),
                ),
                (
                    "no readOnlyRootFilesystem",
                    context.get("readOnlyRootFilesystem").is_none(),
                ),
                (
                    "allowPrivilegeEscalation: true",
                    context["allowPrivilegeEscalation"] == true,
                ),
                (
                    "emptyDir in memory",
                    volumes.iter().any(|v| v["emptyDir"]["medium"] == "Memory"),
                ),
                (
                    "emptyDir on disk",
                    volumes.iter().any(|v| v["emptyDir"] == json!({})),
                ),
                (
                    "capabilities.add",
                    context["capabilities"].get("add").is_some(),
                ),
                (
                    "RuntimeDefault",
                    context["seccompProfile"]["type"] == "RuntimeDefault",
                ),
            ] {
                if present {
                    seen.insert(feature);
                }
            }
        }
        // Each field and level was validated at least once.
        assert_eq!(seen.len(), 12, "some shape was missing: only {seen:?}");
    }

    /// The SecurityContext schema is not blind: what the output could get wrong is refused.
    #[test]
    fn the_security_context_schema_refuses_what_kubernetes_refuses() {
        let (_, bundle) = bundles().remove(0);
        let good = kubernetes_security_context(&bundle);
        let schema = kubernetes_schema(KUBERNETES[1], SECURITY_CONTEXT);
        assert!(schema.is_valid(&good), "{good:#}");
        let mut user_as_string = good.clone();
        user_as_string["runAsUser"] = json!("65534");
        let mut caps_as_string = good.clone();
        caps_as_string["capabilities"]["add"] = json!("CHOWN");
        let mut typo = good.clone();
        typo["readOnlyRootFileSystem"] = json!(true);
        let mut nnp_as_string = good;
        nnp_as_string["allowPrivilegeEscalation"] = json!("false");
        for (what, broken) in [
            ("runAsUser as a string", user_as_string),
            ("capabilities.add as a string", caps_as_string),
            ("a typo'd field", typo),
            ("allowPrivilegeEscalation as a string", nnp_as_string),
        ] {
            assert!(!schema.is_valid(&broken), "{what} was accepted");
        }
    }
}
