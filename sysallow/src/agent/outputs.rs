//! What the agent writes, and where (the layout under `--output-dir` is a contract: tests and
//! users read it):
//!
//! - `recordings/<ns>/<workload>/<container>/<node>-<pod>-<id12>.rec.json`: one per container
//!   instance. These files are the agent's state: a restarted agent reads them back.
//! - `recordings/<ns>/<workload>/<container>.<node>.rec.json`: every instance merged, the
//!   input of `sysallow merge` across nodes.
//! - `manifests/<ns>/<workload>-<container>.seccompprofile.yaml`: the SPO SeccompProfile.
//! - `manifests/<ns>/<workload>-<container>.securitycontext.yaml`: the snippet to apply.
//! - `manifests/<ns>/<workload>-<container>.runtime-layer.yaml`: beside it, where the merged
//!   recording has its capability checks (`privileges`), the run-time layer decided from them
//!   (`sysallow_profile::hardening`, as `generate --bundle` decides it): a pod spec fragment
//!   with the container's whole securityContext (capabilities dropped and added,
//!   allowPrivilegeEscalation, the user, readOnlyRootFilesystem only where the root
//!   filesystem's writes were recorded) and the same Localhost profile, headed by the Pod
//!   Security level it meets.
//! - `<kubelet-seccomp-dir>/<localhost path>`: the profile kubelet hands the runtime, in the
//!   OCI form it reads (`sysallow_profile::kubernetes::outputs`).

use std::path::{Path, PathBuf};

use sysallow_profile::generate::{GenerationPolicy, generate};
use sysallow_profile::hardening::{self, Bundle, Options, SeccompRef};
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
        (
            self.manifest(pod, "seccompprofile.yaml"),
            self.manifest(pod, "securitycontext.yaml"),
        )
    }

    /// The run-time layer's pod spec fragment, beside the securityContext snippet.
    pub fn runtime_layer_path(&self, pod: &PodRef) -> PathBuf {
        self.manifest(pod, "runtime-layer.yaml")
    }

    /// `manifests/<ns>/<workload>-<container>.<suffix>`.
    fn manifest(&self, pod: &PodRef, suffix: &str) -> PathBuf {
        self.output_dir
            .join("manifests")
            .join(path_component(&pod.namespace))
            .join(format!(
                "{}-{}.{suffix}",
                path_component(&pod.workload.name),
                path_component(&pod.container)
            ))
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
    /// The run-time layer's one-line summary, where the merged recording has capability
    /// checks (its manifest is [`Layout::runtime_layer_path`]).
    pub runtime_layer: Option<String>,
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
    // The merge's warnings are about inputs of different targets or architectures: instances
    // are different containers by design, and of `arch` only.
    let (mut merged, _) = sysallow_profile::merge::merge_recordings(&refs);
    let mut warnings = Vec::new();
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
    let outputs =
        sysallow_profile::kubernetes::outputs(pod, &generated.profile).map_err(|source| {
            WriteError::Name {
                what: what.clone(),
                source,
            }
        })?;
    let localhost = layout.kubelet_seccomp_dir.join(&outputs.localhost_path);
    write_file(&localhost, &outputs.localhost_json)?;
    let (spo, context) = layout.manifest_paths(pod);
    write_file(&spo, &outputs.seccomp_profile_yaml)?;
    write_file(&context, &outputs.security_context_yaml)?;
    let runtime_layer =
        match runtime_layer(&merged, pod, &what, &outputs.localhost_path, &localhost) {
            Some(bundle) => {
                let yaml = hardening::output::kubernetes_yaml(&bundle);
                write_file(&layout.runtime_layer_path(pod), &yaml)?;
                Some(summary(&bundle))
            }
            None => None,
        };
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
        runtime_layer,
        notes: outputs.notes,
        warnings,
    }))
}

/// The run-time layer of a workload container, decided from its merged recording's capability
/// checks as `generate --bundle` decides it, naming the same Localhost profile; `None` where
/// the recording has none (capability recording off, or a recording older than version 3).
/// No user is proposed beyond the module's own default (nobody where non-root fits): the
/// agent does not know the image's `USER`.
fn runtime_layer(
    merged: &Recording,
    pod: &PodRef,
    what: &str,
    localhost_path: &str,
    localhost: &Path,
) -> Option<Bundle> {
    merged.privileges.as_ref()?;
    let options = Options {
        user: None,
        seccomp: Some(SeccompRef {
            path: localhost.display().to_string(),
            localhost_profile: localhost_path.to_owned(),
        }),
        name: Some(pod.container.clone()),
    };
    // The only error is "no privileges", excluded above.
    let decided = hardening::decide(std::slice::from_ref(merged), &options).ok()?;
    Some(Bundle::new(decided, format!("workload {what}"), &options))
}

/// `cap-add [CHOWN], allowPrivilegeEscalation false, read-only root no, Pod Security baseline`.
fn summary(bundle: &Bundle) -> String {
    let added: Vec<&str> = bundle
        .added()
        .into_iter()
        .map(hardening::short_name)
        .collect();
    format!(
        "cap-add [{}], allowPrivilegeEscalation {}, user {}, read-only root {}, Pod Security {}",
        added.join(" "),
        !bundle.no_new_privileges(),
        bundle.user.user.as_deref().unwrap_or("(the image's)"),
        if bundle.read_only.read_only() {
            "yes"
        } else {
            "no"
        },
        bundle.pod_security.level.name()
    )
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
        assert_eq!(
            layout.runtime_layer_path(&pod()),
            Path::new("/out/manifests/shop/web-server.runtime-layer.yaml")
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

    /// One instance of the pod's container: it chowned (CAP_CHOWN granted in fchown) and
    /// made the overcommit checks every process makes, as root; no root filesystem writes
    /// recorded (the agent does not read the writable layer).
    fn instance(privileges: bool) -> Recording {
        use sysallow_profile::privileges::{CapCheck, CapNamespace, Privileges};
        use sysallow_profile::recording::{Host, Target};
        let mut rec = Recording::new(
            Target::Container {
                id: "e64a7bb4136878893bbbf408d1ce0d227748c183a6bac082d7d937a0343cc4b6".into(),
                name: Some("server".into()),
                engine: None,
                runtime: None,
                no_new_privileges: false,
                cgroup: "/kubepods/besteffort/podu/e64a7bb41368".into(),
            },
            Host {
                kernel: "6.18.0".into(),
                arch: Abi::X86_64,
                libc: None,
            },
            "2026-12-03T00:00:00Z".into(),
        );
        for name in ["read", "write", "fchown", "exit_group"] {
            let nr = Abi::X86_64.syscall_nr(name).expect("a real syscall");
            rec.add(Abi::X86_64, nr, "/app/server", 1);
        }
        rec.kubernetes = Some(pod());
        let check = |cap: &str, syscall: &str, count| CapCheck {
            capability: cap.into(),
            granted: true,
            namespace: CapNamespace::Own,
            override_creds: false,
            noaudit: None,
            syscall: Some((Abi::X86_64, syscall.into())),
            program: "/app/server".into(),
            count,
        };
        if privileges {
            rec.privileges = Some(Privileges {
                hook: "tp_btf/cap_capable".into(),
                sees_noaudit: false,
                checks: vec![
                    check("CAP_SYS_ADMIN", "mmap", 10),
                    check("CAP_CHOWN", "fchown", 1),
                ],
                privileged_execs: Vec::new(),
                euids: [0].into(),
                egids: [0].into(),
                root_fs: None,
            });
        }
        rec
    }

    fn regenerate_one(privileges: bool) -> (tempfile::TempDir, Layout, Regenerated) {
        let out = tempfile::tempdir().unwrap();
        let layout = Layout {
            output_dir: out.path().join("out"),
            kubelet_seccomp_dir: out.path().join("kubelet"),
            node: "node-a".to_owned(),
        };
        let id = "e64a7bb4136878893bbbf408d1ce0d227748c183a6bac082d7d937a0343cc4b6";
        write_file(
            &layout.instance_path(&pod(), id),
            &instance(privileges).to_json(),
        )
        .unwrap();
        let done = regenerate(&layout, &pod(), Abi::X86_64, &|_| {
            GenerationPolicy::default()
        })
        .unwrap()
        .expect("an instance on disk");
        (out, layout, done)
    }

    #[test]
    fn the_run_time_layer_is_written_beside_the_security_context() {
        let (_out, layout, done) = regenerate_one(true);
        let summary = done.runtime_layer.expect("privileges were recorded");
        assert!(
            summary.starts_with("cap-add [CHOWN], allowPrivilegeEscalation false"),
            "{summary}"
        );
        let text = std::fs::read_to_string(layout.runtime_layer_path(&pod())).unwrap();
        assert!(
            text.contains("Pod Security Standard met: baseline"),
            "{text}"
        );
        let spec: serde_json::Value = serde_norway::from_str(&text).unwrap();
        let container = &spec["containers"][0];
        assert_eq!(container["name"], "server");
        let ctx = &container["securityContext"];
        assert_eq!(ctx["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert_eq!(ctx["capabilities"]["add"], serde_json::json!(["CHOWN"]));
        assert_eq!(ctx["allowPrivilegeEscalation"], false);
        // The root filesystem's writes were not recorded: no read-only root is proposed.
        assert!(ctx.get("readOnlyRootFilesystem").is_none(), "{text}");
        // Needs CHOWN as root: no non-root user.
        assert!(ctx.get("runAsNonRoot").is_none(), "{text}");
        // The same Localhost profile as the securityContext snippet beside it.
        let (_, snippet) = layout.manifest_paths(&pod());
        let snippet: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(snippet).unwrap()).unwrap();
        assert_eq!(
            ctx["seccompProfile"],
            snippet["securityContext"]["seccompProfile"]
        );
    }

    #[test]
    fn no_run_time_layer_without_capability_checks() {
        let (_out, layout, done) = regenerate_one(false);
        assert_eq!(done.runtime_layer, None);
        assert!(!layout.runtime_layer_path(&pod()).exists());
        let (spo, context) = layout.manifest_paths(&pod());
        assert!(spo.is_file() && context.is_file());
    }
}
