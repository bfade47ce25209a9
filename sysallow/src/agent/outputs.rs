//! What the agent writes, and where (the layout under `--output-dir` is a contract: tests and
//! users read it):
//!
//! - `recordings/<ns>/<workload>/<container>/<node>-<pod>-<id12>.rec.json`: one per container
//!   instance. These files are the agent's state: a restarted agent reads them back.
//! - `recordings/<ns>/<workload>/<container>.<node>.rec.json`: every instance merged, the
//!   input of `sysallow merge` across nodes.
//! - `manifests/<ns>/<workload>-<container>.seccompprofile.yaml`: the SPO SeccompProfile.
//! - `manifests/<ns>/<workload>-<container>.securitycontext.yaml`: the snippet to apply.
//! - `<kubelet-seccomp-dir>/<localhost path>`: the profile kubelet hands the runtime, in the
//!   OCI form it reads (`sysallow_profile::kubernetes::outputs`).

use std::path::{Path, PathBuf};

use sysallow_profile::generate::{GenerationPolicy, generate};
use sysallow_profile::kubernetes::PodRef;
use sysallow_profile::profile::Action;
use sysallow_profile::{Abi, Recording};

use super::naming::path_component;
use crate::output::{Output, OutputError};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("creating {path}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("generating the profile of {what}")]
    Generate {
        what: String,
        #[source]
        source: sysallow_profile::generate::GenerateError,
    },
    #[error("naming the outputs of {what}")]
    Name {
        what: String,
        #[source]
        source: sysallow_profile::kubernetes::NameError,
    },
}

/// Where one node's agent writes.
#[derive(Clone, Debug)]
pub struct Layout {
    pub output_dir: PathBuf,
    pub kubelet_seccomp_dir: PathBuf,
    pub node: String,
}

impl Layout {
    /// `recordings/<ns>/<workload>/<container>/`: the instances of one workload container.
    pub fn instance_dir(&self, pod: &PodRef) -> PathBuf {
        self.workload_dir(pod).join(path_component(&pod.container))
    }

    /// `<node>-<pod>-<id12>.rec.json` in [`Layout::instance_dir`].
    pub fn instance_path(&self, pod: &PodRef, container_id: &str) -> PathBuf {
        let id: String = container_id.chars().take(12).collect();
        self.instance_dir(pod).join(format!(
            "{}-{}-{}.rec.json",
            path_component(&self.node),
            path_component(&pod.pod),
            path_component(&id)
        ))
    }

    /// `recordings/<ns>/<workload>/<container>.<node>.rec.json`.
    pub fn merged_path(&self, pod: &PodRef) -> PathBuf {
        self.workload_dir(pod).join(format!(
            "{}.{}.rec.json",
            path_component(&pod.container),
            path_component(&self.node)
        ))
    }

    /// The SPO manifest and the securityContext snippet.
    pub fn manifest_paths(&self, pod: &PodRef) -> (PathBuf, PathBuf) {
        let dir = self
            .output_dir
            .join("manifests")
            .join(path_component(&pod.namespace));
        let stem = format!(
            "{}-{}",
            path_component(&pod.workload.name),
            path_component(&pod.container)
        );
        (
            dir.join(format!("{stem}.seccompprofile.yaml")),
            dir.join(format!("{stem}.securitycontext.yaml")),
        )
    }

    fn workload_dir(&self, pod: &PodRef) -> PathBuf {
        self.output_dir
            .join("recordings")
            .join(path_component(&pod.namespace))
            .join(path_component(&pod.workload.name))
    }
}

/// Write `text` to `path` atomically, creating its directory.
pub fn write_file(path: &Path, text: &str) -> Result<(), WriteError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| WriteError::Dir {
            path: dir.to_owned(),
            source,
        })?;
    }
    Output::prepare(path, None)?.commit(text)?;
    Ok(())
}

/// The instance recordings of one workload container on disk, of architecture `arch`.
/// Unreadable or foreign files are skipped (a half-written file never exists: writes are
/// atomic).
pub fn read_instances(dir: &Path, arch: Abi) -> Result<Vec<Recording>, WriteError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(WriteError::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".rec.json"))
        .collect();
    paths.sort();
    Ok(paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| Recording::from_json(&text).ok())
        .filter(|rec| rec.host.arch == arch)
        .collect())
}

/// What [`regenerate`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regenerated {
    /// Syscalls the profile allows.
    pub allowed: usize,
    /// The kubelet localhost profile, absolute.
    pub localhost: PathBuf,
    /// What the OCI and SPO forms could not carry.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Rebuild one workload container's outputs from every instance recording on disk: the
/// merged recording, the profile (with `policy`), and its Kubernetes forms. Nothing is kept in
/// memory between calls, so a restarted agent continues where the files are.
pub fn regenerate(
    layout: &Layout,
    pod: &PodRef,
    arch: Abi,
    policy: &dyn Fn(&Recording) -> GenerationPolicy,
) -> Result<Option<Regenerated>, WriteError> {
    let instances = read_instances(&layout.instance_dir(pod), arch)?;
    if instances.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&Recording> = instances.iter().collect();
    let (mut merged, mut warnings) = sysallow_profile::merge::merge_recordings(&refs);
    // The workload's recording, not one pod's: keep the first instance's pod as an example.
    if merged.kubernetes.is_none() {
        merged.kubernetes = Some(pod.clone());
    }
    write_file(&layout.merged_path(pod), &merged.to_json())?;
    let what = format!("{}/{}/{}", pod.namespace, pod.workload.name, pod.container);
    let generated =
        generate(std::slice::from_ref(&merged), &policy(&merged)).map_err(|source| {
            WriteError::Generate {
                what: what.clone(),
                source,
            }
        })?;
    warnings.extend(generated.warnings.iter().cloned());
    let outputs = sysallow_profile::kubernetes::outputs(pod, &generated.profile)
        .map_err(|source| WriteError::Name { what, source })?;
    let localhost = layout.kubelet_seccomp_dir.join(&outputs.localhost_path);
    write_file(&localhost, &outputs.localhost_json)?;
    let (spo, context) = layout.manifest_paths(pod);
    write_file(&spo, &outputs.seccomp_profile_yaml)?;
    write_file(&context, &outputs.security_context_yaml)?;
    let allowed = generated
        .profile
        .syscalls
        .iter()
        .filter(|r| r.action == Action::Allow)
        .map(|r| r.names.len())
        .sum();
    Ok(Some(Regenerated {
        allowed,
        localhost,
        notes: outputs.notes,
        warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysallow_profile::kubernetes::{Workload, WorkloadKind};

    fn pod() -> PodRef {
        PodRef {
            namespace: "shop".to_owned(),
            pod: "web-6f7-abcde".to_owned(),
            uid: "u".to_owned(),
            container: "server".to_owned(),
            workload: Workload {
                kind: WorkloadKind::Deployment,
                name: "web".to_owned(),
            },
        }
    }

    #[test]
    fn the_layout_is_the_contract() {
        let layout = Layout {
            output_dir: PathBuf::from("/out"),
            kubelet_seccomp_dir: PathBuf::from("/k"),
            node: "node-a".to_owned(),
        };
        let id = "e64a7bb4136878893bbbf408d1ce0d227748c183a6bac082d7d937a0343cc4b6";
        assert_eq!(
            layout.instance_path(&pod(), id),
            Path::new("/out/recordings/shop/web/server/node-a-web-6f7-abcde-e64a7bb41368.rec.json")
        );
        assert_eq!(
            layout.merged_path(&pod()),
            Path::new("/out/recordings/shop/web/server.node-a.rec.json")
        );
        let (spo, context) = layout.manifest_paths(&pod());
        assert_eq!(
            spo,
            Path::new("/out/manifests/shop/web-server.seccompprofile.yaml")
        );
        assert_eq!(
            context,
            Path::new("/out/manifests/shop/web-server.securitycontext.yaml")
        );
        let mut odd = pod();
        odd.namespace = "../x".to_owned();
        assert!(
            layout
                .instance_dir(&odd)
                .starts_with("/out/recordings/.._x"),
            "{}",
            layout.instance_dir(&odd).display()
        );
    }
}
