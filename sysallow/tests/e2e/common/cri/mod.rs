//! A Kubernetes node without kubelet, for tests (root): a private containerd WITH its CRI plugin
//! ([`Node`]) and a test kubelet that makes kubelet's CRI calls against it ([`kubelet`]).
//!
//! There is no kubelet or kube-apiserver on these machines; kubelet's work on a node is CRI
//! calls, and containerd's CRI plugin is the real thing, so pods here run as on a node:
//! - containerd has its own root, state, socket, runc root and CNI directories in a temp dir;
//! - the sandbox image is a static pause program built here and imported into `k8s.io`;
//! - pods use the host network (no CNI), the cgroupfs driver, overlayfs;
//! - `restrict_oom_score_adj = true`: root here lacks CAP_SYS_RESOURCE, and containerd's -998
//!   for sandboxes would fail every RunPodSandbox ("can't get final child's PID from pipe").
//!
//! Dropping the node (also on a panic) removes every sandbox through CRI, stops containerd,
//! kills what is left (shims by our root in their command line, containers by their cgroups),
//! unmounts what is under the temp dir and removes the cgroup root it used from v2 and every v1
//! hierarchy.

pub mod agent;
pub mod daemonset;
pub mod kubelet;

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sysallow::cri::{CriClient, CriError, api as v1};

use super::harness::{self, Output};
use super::image::{self, ImageConfig};

/// The containerd namespace kubelet's pods live in (CRI's own).
pub const K8S_NAMESPACE: &str = "k8s.io";
/// The sandbox image (`sandbox_image`), built here.
pub const PAUSE_IMAGE: &str = "sysallow.test/pause:1";
/// The test image (busybox and the probe, `common::image`), for the pods' containers.
pub const TEST_IMAGE: &str = "sysallow.test/probe:1";

impl crate::macros::Need {
    /// Root, containerd (with its CRI plugin) and ctr, gcc for the pause and probe programs:
    /// `require!(cri)`.
    pub fn cri() -> crate::macros::Need {
        let root = crate::macros::Need::root();
        crate::macros::Need::that(
            format!(
                "{}, containerd and ctr (apt-get install containerd), gcc, tar",
                root.what
            ),
            root.met
                && super::have("containerd")
                && super::have("ctr")
                && super::have("gcc")
                && super::have("tar")
                && super::have("sha256sum"),
        )
    }
}

/// A private containerd serving CRI `runtime.v1` on its own socket.
pub struct Node {
    root: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
    pid: i32,
    /// The cgroup root of this node's pods, relative to each hierarchy's root, as kubelet's
    /// `--cgroup-root`: pods go below `<cgroup_root>/kubepods` (one per node, so that tests
    /// running side by side never see each other's pods).
    cgroup_root: String,
    client: Option<Cri>,
}

/// The agent's CRI client (`sysallow::cri`), with one method per call kubelet makes (the
/// harness shares it, hence the `RefCell`).
pub struct Cri(RefCell<CriClient>);

/// One method per CRI call: `$name(request) -> response`, through `$service` (`runtime_call`
/// or `image_call`).
macro_rules! calls {
    ($($service:ident . $name:ident ($req:ident) -> $resp:ident;)+) => {
        $(
            pub fn $name(&self, request: v1::$req) -> Result<v1::$resp, CriError> {
                self.0
                    .borrow_mut()
                    .$service(stringify!($name), |mut c| async move { c.$name(request).await })
            }
        )+
    };
}

impl Cri {
    pub fn connect(endpoint: &str) -> Result<Cri, CriError> {
        CriClient::connect(endpoint).map(|c| Cri(RefCell::new(c)))
    }

    calls! {
        runtime_call.version(VersionRequest) -> VersionResponse;
        runtime_call.run_pod_sandbox(RunPodSandboxRequest) -> RunPodSandboxResponse;
        runtime_call.stop_pod_sandbox(StopPodSandboxRequest) -> StopPodSandboxResponse;
        runtime_call.remove_pod_sandbox(RemovePodSandboxRequest) -> RemovePodSandboxResponse;
        runtime_call.pod_sandbox_status(PodSandboxStatusRequest) -> PodSandboxStatusResponse;
        runtime_call.list_pod_sandbox(ListPodSandboxRequest) -> ListPodSandboxResponse;
        runtime_call.create_container(CreateContainerRequest) -> CreateContainerResponse;
        runtime_call.start_container(StartContainerRequest) -> StartContainerResponse;
        runtime_call.stop_container(StopContainerRequest) -> StopContainerResponse;
        runtime_call.remove_container(RemoveContainerRequest) -> RemoveContainerResponse;
        runtime_call.list_containers(ListContainersRequest) -> ListContainersResponse;
        runtime_call.container_status(ContainerStatusRequest) -> ContainerStatusResponse;
        image_call.image_status(ImageStatusRequest) -> ImageStatusResponse;
    }
}

static NODES: AtomicU32 = AtomicU32::new(0);

impl Node {
    /// Start containerd with its CRI plugin and import the pause and test images into `k8s.io`.
    pub fn start() -> Node {
        // Short: the socket path must fit in sun_path (108 bytes).
        let root = tempfile::Builder::new()
            .prefix("sysallow-cri-")
            .tempdir_in("/tmp")
            .expect("creating the containerd temp dir")
            .keep();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o711)).expect("chmod");
        let cgroup_root = format!(
            "sysallow-node-{}-{}",
            std::process::id(),
            NODES.fetch_add(1, Ordering::Relaxed)
        );
        for dir in ["cni/bin", "cni/conf", "opt", "runc", "pods"] {
            fs::create_dir_all(root.join(dir)).expect("creating containerd's dirs");
        }
        let socket = root.join("c.sock");
        fs::write(root.join("config.toml"), config(&root)).expect("writing config.toml");
        let log = fs::File::create(root.join("containerd.log")).expect("creating the log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(root.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        let pid = child.id() as i32;
        let mut node = Node {
            root,
            socket,
            child: Some(child),
            pid,
            cgroup_root,
            client: None,
        };
        node.client = Some(node.wait_for_cri());
        node.import_images();
        node
    }

    /// containerd answers CRI `Version` (the CRI plugin loads after the socket is up; when its
    /// config is wrong it is skipped and only the log says why).
    fn wait_for_cri(&self) -> Cri {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        loop {
            if self.socket.exists() {
                match Cri::connect(&self.endpoint()).and_then(|c| {
                    c.version(v1::VersionRequest::default())?;
                    Ok(c)
                }) {
                    Ok(client) => return client,
                    Err(e) => last = sysallow_profile::error_chain(&e),
                }
            }
            assert!(
                harness::pid_alive(self.pid) && Instant::now() < deadline,
                "containerd's CRI is not ready ({last}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn import_images(&self) {
        let images = self.root.join("images");
        let pause = images.join("pause");
        image::build_pause_rootfs(&pause);
        let pause_tar = images.join("pause.tar");
        image::docker_archive(
            &pause,
            PAUSE_IMAGE,
            &ImageConfig {
                entrypoint: &["/pause"],
                cmd: &[],
                env: image::IMAGE_ENV,
            },
            &pause_tar,
        );
        self.import(&pause_tar);
        let probe = images.join("probe");
        image::build_rootfs(&probe);
        let probe_tar = images.join("probe.tar");
        image::docker_archive(
            &probe,
            TEST_IMAGE,
            &ImageConfig {
                entrypoint: &[],
                cmd: &["/bin/sh"],
                env: image::IMAGE_ENV,
            },
            &probe_tar,
        );
        self.import(&probe_tar);
        let _ = fs::remove_dir_all(&images);
        for image in [PAUSE_IMAGE, TEST_IMAGE] {
            self.wait_for_image(image);
        }
    }

    /// `ctr -n k8s.io images import TARBALL` (unpacked for the overlayfs snapshotter CRI uses).
    pub fn import(&self, tarball: &Path) {
        let tarball = tarball.to_string_lossy().into_owned();
        let out = self.ctr(
            &["images", "import", "--snapshotter", "overlayfs", &tarball],
            Duration::from_secs(120),
        );
        assert!(out.status.success(), "{out}");
    }

    /// CRI learns imported images from containerd's events: wait until ImageStatus knows it.
    pub fn wait_for_image(&self, image: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self
                .client()
                .image_status(v1::ImageStatusRequest {
                    image: Some(v1::ImageSpec {
                        image: image.to_owned(),
                        ..Default::default()
                    }),
                    verbose: false,
                })
                .expect("CRI ImageStatus");
            if status.image.is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "CRI does not know the imported image {image}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ctr ARGS` against this containerd, in `k8s.io`, bounded by `timeout`.
    pub fn ctr(&self, args: &[&str], timeout: Duration) -> Output {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", K8S_NAMESPACE])
            .args(args);
        harness::run_with_timeout(cmd, &format!("ctr {}", args.join(" ")), timeout, || {})
    }

    /// The CRI client of this node.
    pub fn client(&self) -> &Cri {
        self.client.as_ref().expect("the node is running")
    }

    /// The CRI endpoint as kubelet's `--container-runtime-endpoint` names it.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// containerd's state directory (the runtime's task bundles are under it).
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The cgroup root (kubelet's `--cgroup-root`) this node's pods go below, relative.
    pub fn cgroup_root(&self) -> &str {
        &self.cgroup_root
    }

    /// The directory kubelet would name `/var/log/pods` on this node.
    pub fn pod_logs(&self) -> PathBuf {
        self.root.join("pods")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("containerd.log")).unwrap_or_default()
    }

    /// Stop everything now, and report what could not be cleaned.
    pub fn stop(mut self) -> Vec<String> {
        self.cleanup()
    }

    /// Every sandbox this containerd knows, stopped and removed through CRI (which stops and
    /// removes their containers), as kubelet does when pods are deleted.
    fn remove_all_pods(&self, problems: &mut Vec<String>) {
        let Some(client) = &self.client else { return };
        let sandboxes = match client.list_pod_sandbox(v1::ListPodSandboxRequest::default()) {
            Ok(list) => list.items,
            Err(e) => {
                problems.push(format!(
                    "listing sandboxes: {}",
                    sysallow_profile::error_chain(&e)
                ));
                return;
            }
        };
        for sandbox in sandboxes {
            let id = sandbox.id;
            if let Err(e) = client.stop_pod_sandbox(v1::StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            }) {
                problems.push(format!(
                    "StopPodSandbox {id}: {}",
                    sysallow_profile::error_chain(&e)
                ));
            }
            if let Err(e) = client.remove_pod_sandbox(v1::RemovePodSandboxRequest {
                pod_sandbox_id: id.clone(),
            }) {
                problems.push(format!(
                    "RemovePodSandbox {id}: {}",
                    sysallow_profile::error_chain(&e)
                ));
            }
        }
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.child.is_some() {
            self.remove_all_pods(&mut problems);
        }
        self.client = None;
        if let Some(mut child) = self.child.take() {
            harness::signal(self.pid, libc::SIGTERM);
            if !harness::wait_child(&mut child, Duration::from_secs(20)) {
                problems.push(format!("containerd {} ignored SIGTERM; killed", self.pid));
                harness::signal(self.pid, libc::SIGKILL);
                let _ = child.wait();
            }
        }
        // Shims outlive containerd: found by our root in their command line; containers by
        // this node's cgroup root (ours alone), which remove_private_state kills and removes.
        harness::kill_processes_mentioning(&self.root, &mut problems);
        problems.extend(harness::remove_private_state(
            &self.root,
            std::slice::from_ref(&self.cgroup_root),
        ));
        problems
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let problems = self.cleanup();
        if !problems.is_empty() {
            eprintln!("CRI node clean-up: {problems:?}");
        }
    }
}

/// containerd's config: everything under `root`, the CRI plugin as a cgroupfs node without CNI.
fn config(root: &Path) -> String {
    let p = |name: &str| root.join(name).to_string_lossy().into_owned();
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"

[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Root here lacks CAP_SYS_RESOURCE: sandboxes' -998 would fail in runc.
  restrict_oom_score_adj = true
  # A node without AppArmor or SELinux, as this machine is.
  disable_apparmor = true
  enable_selinux = false
  # The streaming server (exec, attach) on loopback, any free port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{runc}"
  # No CNI: pods use the host network.
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
"#,
        root = p("root"),
        state = p("state"),
        sock = p("c.sock"),
        opt = p("opt"),
        pause = PAUSE_IMAGE,
        runc = p("runc"),
        cni_bin = p("cni/bin"),
        cni_conf = p("cni/conf"),
    )
}
