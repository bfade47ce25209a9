//! A test kubelet: kubelet's CRI calls for a pod, made the way kubelet (cgroupfs driver) makes
//! them, against a [`Node`]'s containerd. No API server: a [`PodSpec`] stands for the pod object
//! kubelet would have been handed, and a [`Deployment`] for the ReplicaSet controller's naming.
//!
//! For each pod, in kubelet's order (`kuberuntime_manager.go` SyncPod):
//! 1. the pod cgroup `<cgroup root>/kubepods/<qos>/pod<UID>` in v2 and every v1 hierarchy
//!    (kubelet's pod container manager makes it before it asks for the sandbox);
//! 2. RunPodSandbox: metadata, labels `io.kubernetes.pod.{name,namespace,uid}` plus the pod's,
//!    annotations (the pod's own plus `kubernetes.io/config.*`), log directory, the cgroup
//!    parent, host network (NODE), pid namespace (NODE for hostPID);
//! 3. per container CreateContainer (labels `io.kubernetes.container.name` and the pod's three,
//!    annotations `io.kubernetes.container.hash`, `...restartCount`, ..., log path, the
//!    security context with seccomp as a `SecurityProfile` whose Localhost ref kubelet has
//!    already made absolute, capabilities, user, read-only root, no_new_privs, masked paths,
//!    mounts incl. /dev/termination-log and /etc/hosts) then StartContainer;
//! 4. deletion: StopContainer, StopPodSandbox, RemoveContainer, RemovePodSandbox, and the pod
//!    cgroup removed from every hierarchy.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sysallow::cri::api as v1;

use super::{Node, TEST_IMAGE};
use crate::common::harness;

/// A pod's QoS class, which picks its cgroup (kubelet `cm/qos_container_manager_linux.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl Qos {
    /// The pod cgroup's parent below `kubepods` (Guaranteed pods sit in `kubepods` itself).
    fn dir(self) -> &'static str {
        match self {
            Qos::Guaranteed => "",
            Qos::Burstable => "burstable/",
            Qos::BestEffort => "besteffort/",
        }
    }
}

/// A container's `securityContext.seccompProfile`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seccomp {
    RuntimeDefault,
    Unconfined,
    /// The absolute path kubelet resolves `localhostProfile` to (`<kubelet root>/seccomp/...`).
    Localhost(PathBuf),
}

impl Seccomp {
    fn profile(&self) -> v1::SecurityProfile {
        use v1::security_profile::ProfileType;
        let (profile_type, localhost_ref) = match self {
            Seccomp::RuntimeDefault => (ProfileType::RuntimeDefault, String::new()),
            Seccomp::Unconfined => (ProfileType::Unconfined, String::new()),
            Seccomp::Localhost(path) => (ProfileType::Localhost, path.display().to_string()),
        };
        v1::SecurityProfile {
            profile_type: profile_type as i32,
            localhost_ref,
        }
    }
}

/// A hostPath volume mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostMount {
    pub host: PathBuf,
    pub container: String,
    pub readonly: bool,
    /// `mountPropagation: HostToContainer` (rslave), as a node agent's view of host mounts needs.
    pub host_to_container: bool,
}

/// A pod's container, as its spec says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Empty: the image's entrypoint (`command` in a pod spec replaces the entrypoint).
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub seccomp: Seccomp,
    pub caps_add: Vec<String>,
    pub caps_drop: Vec<String>,
    pub run_as_user: Option<i64>,
    pub read_only_root: bool,
    /// `allowPrivilegeEscalation`: `Some(false)` sets no_new_privs; unset leaves it off.
    pub allow_privilege_escalation: Option<bool>,
    pub mounts: Vec<HostMount>,
}

impl ContainerSpec {
    /// A container of the test image running `command` (as a pod spec's `command`),
    /// unconfined (kubelet's default without `--seccomp-default`).
    pub fn new(name: &str, command: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: name.to_owned(),
            image: TEST_IMAGE.to_owned(),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            args: Vec::new(),
            env: Vec::new(),
            seccomp: Seccomp::Unconfined,
            caps_add: Vec::new(),
            caps_drop: Vec::new(),
            run_as_user: None,
            read_only_root: false,
            allow_privilege_escalation: None,
            mounts: Vec::new(),
        }
    }

    /// `sh -c SCRIPT` in the test image.
    pub fn shell(name: &str, script: &str) -> ContainerSpec {
        ContainerSpec::new(name, &["sh", "-c", script])
    }

    pub fn seccomp(mut self, seccomp: Seccomp) -> ContainerSpec {
        self.seccomp = seccomp;
        self
    }
}

/// What kubelet is handed for a pod: its namespace, labels, annotations, containers and the
/// pod-level host namespaces (hostNetwork is always on: the node has no CNI).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodSpec {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub containers: Vec<ContainerSpec>,
    pub host_pid: bool,
    pub qos: Qos,
}

/// The annotation that selects a pod for the agent.
pub const RECORD_ANNOTATION: &str = "sysallow.dev/record";

impl PodSpec {
    /// A BestEffort pod in `namespace` with `containers`, no labels, no annotations.
    pub fn new(namespace: &str, containers: Vec<ContainerSpec>) -> PodSpec {
        PodSpec {
            namespace: namespace.to_owned(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            containers,
            host_pid: false,
            qos: Qos::BestEffort,
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> PodSpec {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> PodSpec {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Annotated `sysallow.dev/record: "true"`.
    pub fn recorded(self) -> PodSpec {
        self.annotation(RECORD_ANNOTATION, "true")
    }
}

/// A Deployment: `replicas` pods of one template, named as its ReplicaSet names them.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub name: String,
    pub replicas: usize,
    pub template: PodSpec,
}

impl Deployment {
    /// The pod-template-hash the Deployment controller gives the template: 10 characters of
    /// its "safe" alphabet, the same for the same template.
    pub fn template_hash(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.name.hash(&mut h);
        self.template.hash(&mut h);
        safe_encode(h.finish(), 10)
    }
}

/// One container kubelet started.
#[derive(Clone, Debug)]
pub struct PodContainer {
    pub name: String,
    pub id: String,
    pub log_path: PathBuf,
}

/// A pod kubelet started.
#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub sandbox_id: String,
    /// The pod cgroup, relative to each hierarchy's root.
    pub cgroup: String,
    pub containers: Vec<PodContainer>,
}

impl Pod {
    pub fn container(&self, name: &str) -> &PodContainer {
        self.containers
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("pod {} has no container {name}", self.name))
    }

    /// What the container wrote (stdout and stderr, in order), from its CRI log file.
    pub fn logs(&self, container: &str) -> String {
        let path = &self.container(container).log_path;
        parse_cri_log(&fs::read_to_string(path).unwrap_or_default())
    }
}

/// The test kubelet of one node.
pub struct Kubelet<'n> {
    node: &'n Node,
}

/// How long a pod's container may take to end by itself before a test fails.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

impl<'n> Kubelet<'n> {
    /// A kubelet starting on `node`: like kubelet's QoS container manager, it makes
    /// `<cgroup root>/kubepods` and its `besteffort` and `burstable` children before any pod.
    pub fn new(node: &'n Node) -> Kubelet<'n> {
        for qos in [Qos::BestEffort, Qos::Burstable] {
            make_cgroup_everywhere(&format!(
                "{}/kubepods/{}",
                node.cgroup_root(),
                qos.dir().trim_end_matches('/')
            ));
        }
        Kubelet { node }
    }

    /// kubelet's top cgroup on this node, relative to the v2 mount (the agent's
    /// `--cgroup-root`).
    pub fn kubepods(&self) -> String {
        format!("{}/kubepods", self.node.cgroup_root())
    }

    pub fn node(&self) -> &Node {
        self.node
    }

    /// The pod cgroup kubelet gives a pod of `qos` with `uid`, relative to the hierarchies'
    /// root (`<cgroup root>/kubepods/besteffort/pod<UID>` for BestEffort).
    pub fn pod_cgroup(&self, qos: Qos, uid: &str) -> String {
        format!("{}/kubepods/{}pod{uid}", self.node.cgroup_root(), qos.dir())
    }

    /// Create and start a pod named `name` from `spec`, as kubelet does when the API server
    /// binds it to this node.
    pub fn run_pod(&self, name: &str, spec: &PodSpec) -> Pod {
        let uid = uuid();
        let cgroup = self.pod_cgroup(spec.qos, &uid);
        make_cgroup_everywhere(&cgroup);
        let log_dir = self
            .node
            .pod_logs()
            .join(format!("{}_{name}_{uid}", spec.namespace));
        fs::create_dir_all(&log_dir).expect("creating the pod's log directory");
        let sandbox_config = self.sandbox_config(name, &uid, spec, &cgroup, &log_dir);
        let client = self.node.client();
        let sandbox_id = client
            .run_pod_sandbox(v1::RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            })
            .unwrap_or_else(|e| {
                panic!(
                    "RunPodSandbox {name}: {}\n{}",
                    sysallow_profile::error_chain(&e),
                    self.node.log()
                )
            })
            .pod_sandbox_id;
        let mut pod = Pod {
            name: name.to_owned(),
            namespace: spec.namespace.clone(),
            uid: uid.clone(),
            sandbox_id: sandbox_id.clone(),
            cgroup,
            containers: Vec::new(),
        };
        for container in &spec.containers {
            let config = self.container_config(&pod, spec, container);
            let log_path = log_dir.join(&config.log_path);
            fs::create_dir_all(log_dir.join(&container.name)).expect("creating the log dir");
            let id = client
                .create_container(v1::CreateContainerRequest {
                    pod_sandbox_id: sandbox_id.clone(),
                    config: Some(config),
                    sandbox_config: Some(sandbox_config.clone()),
                })
                .unwrap_or_else(|e| {
                    panic!(
                        "CreateContainer {name}/{}: {}\n{}",
                        container.name,
                        sysallow_profile::error_chain(&e),
                        self.node.log()
                    )
                })
                .container_id;
            client
                .start_container(v1::StartContainerRequest {
                    container_id: id.clone(),
                })
                .unwrap_or_else(|e| {
                    panic!(
                        "StartContainer {name}/{}: {}\n{}",
                        container.name,
                        sysallow_profile::error_chain(&e),
                        self.node.log()
                    )
                });
            pod.containers.push(PodContainer {
                name: container.name.clone(),
                id,
                log_path,
            });
        }
        pod
    }

    /// The Deployment's replicas, each named `<deployment>-<template hash>-<5 random>` and
    /// labelled `pod-template-hash`, as its ReplicaSet creates them.
    pub fn deploy(&self, deployment: &Deployment) -> Vec<Pod> {
        let hash = deployment.template_hash();
        let template = deployment
            .template
            .clone()
            .label("pod-template-hash", &hash);
        (0..deployment.replicas)
            .map(|_| {
                let name = format!("{}-{hash}-{}", deployment.name, safe_encode(random(), 5));
                self.run_pod(&name, &template)
            })
            .collect()
    }

    /// The container's status as CRI reports it.
    pub fn status(&self, container_id: &str) -> v1::ContainerStatus {
        self.node
            .client()
            .container_status(v1::ContainerStatusRequest {
                container_id: container_id.to_owned(),
                verbose: false,
            })
            .unwrap_or_else(|e| panic!("ContainerStatus: {}", sysallow_profile::error_chain(&e)))
            .status
            .expect("ContainerStatus has a status")
    }

    /// Wait until the pod's container `name` has exited; its exit code.
    pub fn wait_exit(&self, pod: &Pod, name: &str) -> i32 {
        self.wait_exit_within(pod, name, EXIT_TIMEOUT)
            .unwrap_or_else(|| panic!("{}/{name} still runs after {EXIT_TIMEOUT:?}", pod.name))
    }

    /// The exit code of the pod's container `name` once it has exited, or None after `timeout`.
    pub fn wait_exit_within(&self, pod: &Pod, name: &str, timeout: Duration) -> Option<i32> {
        let id = &pod.container(name).id;
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status(id);
            if status.state == v1::ContainerState::ContainerExited as i32 {
                return Some(status.exit_code);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Delete the pod as kubelet does: stop its containers (SIGTERM, then SIGKILL after the
    /// grace period), stop the sandbox, remove containers and sandbox, remove the pod cgroup.
    pub fn delete_pod(&self, pod: &Pod) {
        let client = self.node.client();
        for container in &pod.containers {
            client
                .stop_container(v1::StopContainerRequest {
                    container_id: container.id.clone(),
                    timeout: 2,
                })
                .unwrap_or_else(|e| panic!("StopContainer: {}", sysallow_profile::error_chain(&e)));
        }
        client
            .stop_pod_sandbox(v1::StopPodSandboxRequest {
                pod_sandbox_id: pod.sandbox_id.clone(),
            })
            .unwrap_or_else(|e| panic!("StopPodSandbox: {}", sysallow_profile::error_chain(&e)));
        for container in &pod.containers {
            client
                .remove_container(v1::RemoveContainerRequest {
                    container_id: container.id.clone(),
                })
                .unwrap_or_else(|e| {
                    panic!("RemoveContainer: {}", sysallow_profile::error_chain(&e))
                });
        }
        client
            .remove_pod_sandbox(v1::RemovePodSandboxRequest {
                pod_sandbox_id: pod.sandbox_id.clone(),
            })
            .unwrap_or_else(|e| panic!("RemovePodSandbox: {}", sysallow_profile::error_chain(&e)));
        let busy = harness::remove_cgroup_everywhere(&pod.cgroup);
        assert!(busy.is_empty(), "pod {}: {busy:?}", pod.name);
    }

    /// Run a pod of one container to its end: its exit code and its log.
    pub fn run_to_end(&self, name: &str, spec: &PodSpec) -> (i32, String) {
        let pod = self.run_pod(name, spec);
        let container = &spec.containers[0].name;
        let code = self.wait_exit(&pod, container);
        let logs = pod.logs(container);
        self.delete_pod(&pod);
        (code, logs)
    }

    fn sandbox_config(
        &self,
        name: &str,
        uid: &str,
        spec: &PodSpec,
        cgroup: &str,
        log_dir: &Path,
    ) -> v1::PodSandboxConfig {
        let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        labels.extend(pod_labels(name, &spec.namespace, uid));
        // kubelet passes the pod's annotations; the config.* ones are its own (a pod from the
        // API server).
        let mut annotations: HashMap<String, String> =
            spec.annotations.clone().into_iter().collect();
        annotations.insert("kubernetes.io/config.source".into(), "api".into());
        annotations.insert(
            "kubernetes.io/config.seen".into(),
            humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        );
        v1::PodSandboxConfig {
            metadata: Some(v1::PodSandboxMetadata {
                name: name.to_owned(),
                uid: uid.to_owned(),
                namespace: spec.namespace.clone(),
                attempt: 0,
            }),
            // A host-network pod keeps the node's hostname: kubelet sets none.
            hostname: String::new(),
            log_directory: log_dir.display().to_string(),
            dns_config: None,
            port_mappings: Vec::new(),
            labels,
            annotations,
            linux: Some(v1::LinuxPodSandboxConfig {
                cgroup_parent: format!("/{cgroup}"),
                security_context: Some(v1::LinuxSandboxSecurityContext {
                    namespace_options: Some(namespaces(spec)),
                    // The sandbox's own filter: kubelet's default without --seccomp-default.
                    seccomp: Some(Seccomp::Unconfined.profile()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            windows: None,
        }
    }

    fn container_config(
        &self,
        pod: &Pod,
        spec: &PodSpec,
        container: &ContainerSpec,
    ) -> v1::ContainerConfig {
        let mut labels: HashMap<String, String> = pod_labels(&pod.name, &pod.namespace, &pod.uid)
            .into_iter()
            .collect();
        labels.insert(
            "io.kubernetes.container.name".into(),
            container.name.clone(),
        );
        let mut h = std::collections::hash_map::DefaultHasher::new();
        container.hash(&mut h);
        let annotations: HashMap<String, String> = [
            (
                "io.kubernetes.container.hash",
                format!("{:08x}", h.finish() as u32),
            ),
            ("io.kubernetes.container.restartCount", "0".into()),
            (
                "io.kubernetes.container.terminationMessagePath",
                "/dev/termination-log".into(),
            ),
            (
                "io.kubernetes.container.terminationMessagePolicy",
                "File".into(),
            ),
            ("io.kubernetes.pod.terminationGracePeriod", "30".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut mounts: Vec<v1::Mount> = container
            .mounts
            .iter()
            .map(|m| v1::Mount {
                container_path: m.container.clone(),
                host_path: m.host.display().to_string(),
                readonly: m.readonly,
                propagation: if m.host_to_container {
                    v1::MountPropagation::PropagationHostToContainer as i32
                } else {
                    v1::MountPropagation::PropagationPrivate as i32
                },
                ..Default::default()
            })
            .collect();
        mounts.extend(self.kubelet_mounts(pod, &container.name));
        let privileged = false;
        v1::ContainerConfig {
            metadata: Some(v1::ContainerMetadata {
                name: container.name.clone(),
                attempt: 0,
            }),
            image: Some(v1::ImageSpec {
                image: container.image.clone(),
                ..Default::default()
            }),
            command: container.command.clone(),
            args: container.args.clone(),
            working_dir: String::new(),
            envs: container
                .env
                .iter()
                .map(|(key, value)| v1::KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            mounts,
            labels,
            annotations,
            // Relative to the sandbox's log directory: `<container>/<restart count>.log`.
            log_path: format!("{}/0.log", container.name),
            linux: Some(v1::LinuxContainerConfig {
                resources: Some(resources(spec.qos)),
                security_context: Some(v1::LinuxContainerSecurityContext {
                    capabilities: Some(v1::Capability {
                        add_capabilities: container.caps_add.clone(),
                        drop_capabilities: container.caps_drop.clone(),
                        add_ambient_capabilities: Vec::new(),
                    }),
                    privileged,
                    namespace_options: Some(namespaces(spec)),
                    run_as_user: container.run_as_user.map(|value| v1::Int64Value { value }),
                    readonly_rootfs: container.read_only_root,
                    no_new_privs: container.allow_privilege_escalation == Some(false),
                    masked_paths: MASKED_PATHS.iter().map(|s| (*s).to_owned()).collect(),
                    readonly_paths: READONLY_PATHS.iter().map(|s| (*s).to_owned()).collect(),
                    seccomp: Some(container.seccomp.profile()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    /// The mounts kubelet adds to every container: its termination-message file and, for a
    /// host-network pod, a copy of the node's /etc/hosts.
    fn kubelet_mounts(&self, pod: &Pod, container: &str) -> Vec<v1::Mount> {
        let dir = self
            .node
            .root()
            .join("kubelet/pods")
            .join(&pod.uid)
            .join("containers")
            .join(container);
        fs::create_dir_all(&dir).expect("creating the kubelet pod dir");
        let termination = dir.join(format!("{:08x}", random() as u32));
        fs::write(&termination, "").expect("creating the termination-log file");
        let hosts = self
            .node
            .root()
            .join("kubelet/pods")
            .join(&pod.uid)
            .join("etc-hosts");
        if !hosts.exists() {
            fs::copy("/etc/hosts", &hosts)
                .or_else(|_| fs::write(&hosts, "127.0.0.1\tlocalhost\n").map(|()| 0))
                .expect("writing the pod's /etc/hosts");
        }
        vec![
            v1::Mount {
                container_path: "/dev/termination-log".into(),
                host_path: termination.display().to_string(),
                ..Default::default()
            },
            v1::Mount {
                container_path: "/etc/hosts".into(),
                host_path: hosts.display().to_string(),
                ..Default::default()
            },
        ]
    }
}

/// kubelet's default masked and read-only /proc paths (`securitycontext` package,
/// `DefaultProcMountMaskedPaths`/`ReadonlyPaths`), given to every unprivileged container.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The three pod labels kubelet adds to sandboxes and containers.
fn pod_labels(name: &str, namespace: &str, uid: &str) -> Vec<(String, String)> {
    [
        ("io.kubernetes.pod.name", name),
        ("io.kubernetes.pod.namespace", namespace),
        ("io.kubernetes.pod.uid", uid),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Host network always (no CNI here), the node's pid namespace for hostPID, the pod's IPC.
fn namespaces(spec: &PodSpec) -> v1::NamespaceOption {
    v1::NamespaceOption {
        network: v1::NamespaceMode::Node as i32,
        pid: if spec.host_pid {
            v1::NamespaceMode::Node as i32
        } else {
            v1::NamespaceMode::Container as i32
        },
        ipc: v1::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// A container's resources as kubelet computes them without requests or limits
/// (`kuberuntime_container_linux.go`): the minimum CPU shares and BestEffort's OOM score.
fn resources(qos: Qos) -> v1::LinuxContainerResources {
    v1::LinuxContainerResources {
        cpu_period: 100_000,
        cpu_shares: 2,
        oom_score_adj: if qos == Qos::BestEffort { 1000 } else { 999 },
        ..Default::default()
    }
}

/// Make `rel` in v2 and every v1 hierarchy, as kubelet's cgroupfs manager does; a new v1 cpuset
/// gets its parent's CPUs and memory nodes (an empty one takes no tasks).
fn make_cgroup_everywhere(rel: &str) {
    for mount in harness::cgroup_mounts() {
        let mut dir = mount.clone();
        for part in rel.split('/') {
            let parent = dir.clone();
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", dir.display()));
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    if fs::read_to_string(dir.join(file)).is_ok_and(|v| v.trim().is_empty()) {
                        let value = fs::read_to_string(parent.join(file)).unwrap_or_default();
                        let _ = fs::write(dir.join(file), value.trim());
                    }
                }
            }
        }
    }
}

/// The text of a CRI log file (`<time> <stream> <P|F> <text>` per line; P lines continue).
pub fn parse_cri_log(log: &str) -> String {
    let mut text = String::new();
    for line in log.lines() {
        let mut fields = line.splitn(4, ' ');
        let (_time, _stream, tag) = (fields.next(), fields.next(), fields.next());
        let content = fields.next().unwrap_or("");
        text.push_str(content);
        if tag != Some("P") {
            text.push('\n');
        }
    }
    text
}

/// The alphabet Kubernetes' generated names use (`k8s.io/apimachinery/pkg/util/rand`): no
/// vowels, no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn safe_encode(mut n: u64, len: usize) -> String {
    (0..len)
        .map(|_| {
            let c = SAFE_ALPHABET[(n % SAFE_ALPHABET.len() as u64) as usize];
            n /= SAFE_ALPHABET.len() as u64;
            if n == 0 {
                n = random();
            }
            c as char
        })
        .collect()
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A random number (no crate: the time, the pid and a sequence, mixed by splitmix64).
fn random() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ SEQUENCE
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A pod UID (a version-4 UUID, as the API server gives).
fn uuid() -> String {
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}
