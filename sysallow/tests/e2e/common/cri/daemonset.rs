//! A DaemonSet's pod template, read from its manifest and translated into the [`PodSpec`] the
//! test kubelet runs, as kubelet would translate it into CRI calls: host namespaces, the
//! container's image, command, args (with `$(VAR)` expanded from its env), securityContext
//! (capabilities, user, read-only root, privilege escalation, seccomp) and volume mounts
//! (hostPath; an emptyDir is a fresh directory of the pod's, as kubelet makes one).
//!
//! What a test node differs in from a real one is said by the caller: where each host path is on
//! this node (`host_path`), and the values of `fieldRef` env vars (`field_refs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::kubelet::{ContainerSpec, HostMount, PodSpec, Seccomp};

/// The pod template's spec of the DaemonSet in `yaml` (the document of kind DaemonSet).
pub fn template_spec(yaml: &str) -> Value {
    for doc in serde_norway::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(doc).expect("parsing the manifest");
        if value["kind"] == "DaemonSet" {
            return value["spec"]["template"]["spec"].clone();
        }
    }
    panic!("no DaemonSet in the manifest")
}

/// The pod spec kubelet would run for the DaemonSet's template in namespace `namespace`:
/// `host_path(path)` is where the node keeps what the manifest calls `path`; `empty_dirs` is a
/// directory for the pod's emptyDir volumes; `field_refs` the values of `fieldRef` paths
/// (`spec.nodeName`). Fields the translation does not know make it panic, so that a manifest
/// asking for more than the test gives is noticed.
pub fn pod_spec(
    spec: &Value,
    namespace: &str,
    host_path: &dyn Fn(&str) -> PathBuf,
    empty_dirs: &Path,
    field_refs: &BTreeMap<&str, &str>,
) -> PodSpec {
    for (key, _) in spec.as_object().expect("a pod spec") {
        assert!(
            [
                "serviceAccountName",
                "automountServiceAccountToken",
                "hostPID",
                "hostNetwork",
                "tolerations",
                "terminationGracePeriodSeconds",
                "containers",
                "volumes",
                "priorityClassName",
                "nodeSelector",
            ]
            .contains(&key.as_str()),
            "the pod spec's {key} is not translated by the test"
        );
    }
    assert_ne!(
        spec["hostIPC"],
        Value::Bool(true),
        "hostIPC is not translated"
    );
    let volumes: BTreeMap<String, &Value> = spec["volumes"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|vol| (vol["name"].as_str().unwrap().to_owned(), vol))
                .collect()
        })
        .unwrap_or_default();
    let containers = spec["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| container(c, &volumes, host_path, empty_dirs, field_refs))
        .collect();
    let mut pod = PodSpec::new(namespace, containers);
    // hostNetwork: every pod of the test node is on the host network (no CNI here).
    pod.host_pid = spec["hostPID"] == Value::Bool(true);
    pod
}

fn container(
    c: &Value,
    volumes: &BTreeMap<String, &Value>,
    host_path: &dyn Fn(&str) -> PathBuf,
    empty_dirs: &Path,
    field_refs: &BTreeMap<&str, &str>,
) -> ContainerSpec {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let name = e["name"].as_str().unwrap().to_owned();
                    let value = match e["value"].as_str() {
                        Some(v) => v.to_owned(),
                        None => {
                            let path = e["valueFrom"]["fieldRef"]["fieldPath"]
                                .as_str()
                                .unwrap_or_else(|| panic!("env {name}: not translated"));
                            (*field_refs
                                .get(path)
                                .unwrap_or_else(|| panic!("env {name}: no value for {path}")))
                            .to_owned()
                        }
                    };
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default();
    // kubelet expands $(VAR) in command and args from the container's env.
    let expand = |s: String| {
        env.iter()
            .fold(s, |s, (k, v)| s.replace(&format!("$({k})"), v))
    };
    let sc = &c["securityContext"];
    let mounts = c["volumeMounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    let name = m["name"].as_str().unwrap();
                    let volume = volumes
                        .get(name)
                        .unwrap_or_else(|| panic!("volume {name} is not declared"));
                    let host = if let Some(path) = volume["hostPath"]["path"].as_str() {
                        host_path(path)
                    } else if volume.get("emptyDir").is_some() {
                        let dir = empty_dirs.join(name);
                        std::fs::create_dir_all(&dir).expect("creating an emptyDir");
                        dir
                    } else {
                        panic!("volume {name}: only hostPath and emptyDir are translated")
                    };
                    HostMount {
                        host,
                        container: m["mountPath"].as_str().unwrap().to_owned(),
                        readonly: m["readOnly"] == Value::Bool(true),
                        host_to_container: m["mountPropagation"] == "HostToContainer",
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let seccomp = match sc["seccompProfile"]["type"].as_str() {
        None | Some("Unconfined") => Seccomp::Unconfined,
        Some("RuntimeDefault") => Seccomp::RuntimeDefault,
        Some(other) => panic!("seccompProfile {other} is not translated"),
    };
    assert_ne!(
        sc["privileged"],
        Value::Bool(true),
        "a privileged agent would prove nothing about least privilege"
    );
    ContainerSpec {
        name: c["name"].as_str().unwrap().to_owned(),
        image: c["image"].as_str().unwrap().to_owned(),
        command: strings(&c["command"]).into_iter().map(expand).collect(),
        args: strings(&c["args"]).into_iter().map(expand).collect(),
        env,
        seccomp,
        caps_add: strings(&sc["capabilities"]["add"]),
        caps_drop: strings(&sc["capabilities"]["drop"]),
        run_as_user: sc["runAsUser"].as_i64(),
        read_only_root: sc["readOnlyRootFilesystem"] == Value::Bool(true),
        allow_privilege_escalation: sc["allowPrivilegeEscalation"].as_bool(),
        mounts,
    }
}
