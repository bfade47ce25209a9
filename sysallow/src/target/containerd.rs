//! Naming containers through containerd's own metadata, for containers no engine API names
//! (`ctr run`, nerdctl, Kubernetes nodes): containerd's runc shim keeps each task's OCI bundle
//! at `<state>/io.containerd.runtime.v2.task/<namespace>/<id>/` while it runs, with the
//! container's `config.json` (its `linux.cgroupsPath` and `process.noNewPrivileges`) and the
//! shim's `options.json` (the runtime binary, when not runc). Measured on containerd 1.6.20.
//!
//! The state directory is `/run/containerd` unless `SYSALLOW_CONTAINERD_STATE` names others
//! (colon-separated), as for a containerd started with another `state`.

use std::path::{Path, PathBuf};

/// Where containerd keeps its state when its configuration does not say.
pub const DEFAULT_STATE: &str = "/run/containerd";
/// The environment variable naming other state directories.
pub const STATE_ENV: &str = "SYSALLOW_CONTAINERD_STATE";

/// A containerd task: the container it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub namespace: String,
    pub id: String,
    pub no_new_privileges: bool,
    /// The OCI runtime binary the shim runs (`runc` unless its options name another).
    pub oci_runtime: String,
    /// The OCI spec's annotations: containerd's CRI plugin names a Kubernetes container there
    /// (`io.kubernetes.cri.container-type`, `...sandbox-id`, `...container-name`).
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Task {
    /// The name a user knows it by: `namespace/id`, as `ctr -n NAMESPACE` lists it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.namespace, self.id)
    }
}

/// The state directories to look in.
pub fn state_dirs() -> Vec<PathBuf> {
    match std::env::var_os(STATE_ENV) {
        Some(dirs) => std::env::split_paths(&dirs).collect(),
        None => vec![PathBuf::from(DEFAULT_STATE)],
    }
}

/// The running task whose container is in cgroup `relative` (the path below the hierarchy's
/// root, as in `linux.cgroupsPath`), whose id is most often the cgroup's own directory name.
pub fn find(states: &[PathBuf], relative: &Path) -> Option<Task> {
    let wanted = Path::new("/").join(relative.strip_prefix("/").unwrap_or(relative));
    let dir_name = relative.file_name()?.to_string_lossy().into_owned();
    for state in states {
        let Ok(namespaces) = std::fs::read_dir(state.join("io.containerd.runtime.v2.task")) else {
            continue;
        };
        for namespace in namespaces.flatten() {
            let ns = namespace.path();
            // The id is the directory name unless the user chose another cgroup: try it first.
            let first = ns.join(&dir_name);
            let mut candidates = vec![first.clone()];
            if let Ok(ids) = std::fs::read_dir(&ns) {
                candidates.extend(ids.flatten().map(|e| e.path()).filter(|p| *p != first));
            }
            for bundle in candidates {
                if let Some(task) = read_bundle(&bundle, &wanted) {
                    return Some(task);
                }
            }
        }
    }
    None
}

/// The task in `bundle` if its container's cgroup is `wanted`.
fn read_bundle(bundle: &Path, wanted: &Path) -> Option<Task> {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).ok()?).ok()?;
    let cgroup = config.pointer("/linux/cgroupsPath")?.as_str()?;
    if Path::new("/").join(cgroup.trim_start_matches('/')) != wanted {
        return None;
    }
    let options: serde_json::Value = std::fs::read(bundle.join("options.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let binary = options
        .get("binary_name")
        .and_then(|b| b.as_str())
        .filter(|b| !b.is_empty())
        .unwrap_or("runc");
    Some(Task {
        namespace: bundle.parent()?.file_name()?.to_string_lossy().into_owned(),
        id: bundle.file_name()?.to_string_lossy().into_owned(),
        no_new_privileges: config
            .pointer("/process/noNewPrivileges")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        oci_runtime: Path::new(binary)
            .file_name()
            .map_or_else(|| binary.to_owned(), |n| n.to_string_lossy().into_owned()),
        annotations: config
            .pointer("/annotations")
            .and_then(|a| a.as_object())
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(state: &Path, ns: &str, id: &str, config: &str, options: Option<&str>) {
        let dir = state
            .join("io.containerd.runtime.v2.task")
            .join(ns)
            .join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        if let Some(options) = options {
            std::fs::write(dir.join("options.json"), options).unwrap();
        }
    }

    #[test]
    fn finds_a_task_by_its_cgroup_with_its_namespace_and_privileges() {
        let state = tempfile::tempdir().unwrap();
        // As containerd 1.6.20 wrote them for `ctr -n demo run --cgroup /ctrx-test/web`.
        bundle(
            state.path(),
            "demo",
            "web",
            r#"{"process":{"noNewPrivileges":true},"linux":{"cgroupsPath":"/ctrx-test/web"}}"#,
            Some(r#"{"root":"/tmp/ctrx/runc"}"#),
        );
        bundle(
            state.path(),
            "k8s.io",
            "abc",
            r#"{"process":{},"linux":{"cgroupsPath":"/kubepods/besteffort/pod1/abc"},
                "annotations":{"io.kubernetes.cri.container-type":"container",
                "io.kubernetes.cri.container-name":"web"}}"#,
            Some(r#"{"binary_name":"/usr/bin/crun"}"#),
        );
        let states = vec![state.path().to_owned()];
        let web = find(&states, Path::new("ctrx-test/web")).unwrap();
        assert_eq!(web.name(), "demo/web");
        assert!(web.no_new_privileges);
        assert_eq!(web.oci_runtime, "runc");
        let abc = find(&states, Path::new("/kubepods/besteffort/pod1/abc")).unwrap();
        assert_eq!(
            (abc.name().as_str(), abc.no_new_privileges),
            ("k8s.io/abc", false)
        );
        assert_eq!(abc.oci_runtime, "crun");
        assert_eq!(
            abc.annotations
                .get("io.kubernetes.cri.container-name")
                .map(String::as_str),
            Some("web")
        );
        assert!(web.annotations.is_empty());
        assert_eq!(find(&states, Path::new("ctrx-test/other")), None);
    }
}
