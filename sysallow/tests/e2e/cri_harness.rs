//! The CRI node harness itself (root + containerd): a private containerd serves CRI `runtime.v1`,
//! the test kubelet runs a pod with kubelet's cgroup parent, labels and annotations, the pod's
//! log and exit code come back through CRI, a Localhost seccomp profile is enforced, and nothing
//! is left behind: no containerd, shim, sandbox, cgroup or mount.

use std::fs;
use std::path::Path;

use crate::common::cri::kubelet::{ContainerSpec, Kubelet, PodSpec, Seccomp};
use crate::common::cri::{self, Node};
use crate::common::harness;
use crate::common::image::PROBE;
use sysallow::cri::api as v1;

#[test]
fn kubelet_harness_runs_a_pod_through_cri_and_leaves_nothing_behind() {
    require!(cri);
    let node = Node::start();
    let root = node.root().to_path_buf();
    let cgroup_root = node.cgroup_root().to_owned();
    let version = node
        .client()
        .version(v1::VersionRequest::default())
        .unwrap();
    assert_eq!(
        (
            version.runtime_name.as_str(),
            version.runtime_api_version.as_str()
        ),
        ("containerd", "v1"),
        "{version:?}"
    );
    let kubelet = Kubelet::new(&node);

    // A pod runs `echo hi`: its log says hi, its exit code is 0.
    let spec = PodSpec::new("harness", vec![ContainerSpec::shell("hello", "echo hi")])
        .label("app", "hello")
        .recorded();
    let (code, logs) = kubelet.run_to_end("hello", &spec);
    assert_eq!((code, logs.as_str()), (0, "hi\n"));

    // A failing command's exit code comes back too.
    let spec_fail = PodSpec::new("harness", vec![ContainerSpec::shell("fail", "exit 3")]);
    assert_eq!(kubelet.run_to_end("fail", &spec_fail).0, 3);

    // While a pod runs: its sandbox carries kubelet's labels and the pod's annotations, and its
    // containers sit below the pod cgroup kubelet made, in v2 and in v1.
    let spec_sleep = PodSpec::new(
        "harness",
        vec![ContainerSpec::new(
            "sleeper",
            &["sysallow-probe", "sleep", "30"],
        )],
    )
    .label("app", "sleeper")
    .recorded();
    let pod = kubelet.run_pod("sleeper", &spec_sleep);
    let sandbox = node
        .client()
        .pod_sandbox_status(v1::PodSandboxStatusRequest {
            pod_sandbox_id: pod.sandbox_id.clone(),
            verbose: false,
        })
        .unwrap()
        .status
        .unwrap();
    assert_eq!(sandbox.labels["io.kubernetes.pod.name"], "sleeper");
    assert_eq!(sandbox.labels["io.kubernetes.pod.namespace"], "harness");
    assert_eq!(sandbox.labels["io.kubernetes.pod.uid"], pod.uid);
    assert_eq!(sandbox.labels["app"], "sleeper");
    assert_eq!(sandbox.annotations["sysallow.dev/record"], "true");
    assert_eq!(sandbox.annotations["kubernetes.io/config.source"], "api");
    let status = kubelet.status(&pod.container("sleeper").id);
    assert_eq!(status.labels["io.kubernetes.container.name"], "sleeper");
    assert_eq!(status.labels["io.kubernetes.pod.uid"], pod.uid);
    assert_eq!(
        status.annotations["io.kubernetes.container.restartCount"],
        "0"
    );
    assert!(
        pod.cgroup
            .starts_with(&format!("{cgroup_root}/kubepods/besteffort/pod"))
    );
    let v2 = harness::cgroup2_mount().unwrap();
    let container_cgroup = v2.join(&pod.cgroup).join(&pod.container("sleeper").id);
    assert!(
        container_cgroup.is_dir(),
        "no {}",
        container_cgroup.display()
    );
    let procs = fs::read_to_string(container_cgroup.join("cgroup.procs")).unwrap();
    assert!(
        !procs.trim().is_empty(),
        "no process in {}",
        container_cgroup.display()
    );
    let memory_v1 = Path::new("/sys/fs/cgroup/memory");
    if memory_v1.join("cgroup.procs").exists() {
        assert!(
            memory_v1
                .join(&pod.cgroup)
                .join(&pod.container("sleeper").id)
                .is_dir(),
            "the container is not below the pod cgroup in v1's memory hierarchy"
        );
    }
    kubelet.delete_pod(&pod);
    assert!(!v2.join(&pod.cgroup).exists(), "the pod cgroup is left");

    // A Localhost profile, by absolute path as kubelet hands it, is enforced: denying uname
    // makes the probe's `syscalls` fail where it succeeds unconfined.
    let deny_uname = root.join("deny-uname.json");
    fs::write(
        &deny_uname,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let uname = |seccomp| {
        let spec = PodSpec::new(
            "harness",
            vec![ContainerSpec::new("uname", &[PROBE, "syscalls"]).seccomp(seccomp)],
        );
        kubelet.run_to_end("uname", &spec)
    };
    let (code, logs) = uname(Seccomp::Unconfined);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.starts_with("sysallow-probe: pid 1 "), "{logs}");
    let (code, logs) = uname(Seccomp::Localhost(deny_uname));
    assert_ne!(code, 0, "uname ran under a profile denying it: {logs}");

    // A Deployment's replicas are named as its ReplicaSet names them.
    let deployment = cri::kubelet::Deployment {
        name: "web".into(),
        replicas: 2,
        template: PodSpec::new("harness", vec![ContainerSpec::shell("web", "true")]),
    };
    let pods = kubelet.deploy(&deployment);
    let hash = deployment.template_hash();
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        let suffix = pod.name.strip_prefix(&format!("web-{hash}-")).unwrap();
        assert_eq!(suffix.len(), 5, "{}", pod.name);
        assert_eq!(kubelet.wait_exit(pod, "web"), 0);
        kubelet.delete_pod(pod);
    }
    assert_ne!(pods[0].name, pods[1].name);

    // A pod left running is removed with the node.
    let left = kubelet.run_pod("left", &spec_sleep);
    let left_cgroup = v2.join(&left.cgroup);
    let problems = node.stop();
    assert_eq!(problems, Vec::<String>::new());
    assert!(!left_cgroup.exists());
    assert_eq!(
        harness::processes_mentioning(&root.to_string_lossy()),
        Vec::<i32>::new()
    );
    assert_eq!(
        harness::mounts_under(&root),
        Vec::<std::path::PathBuf>::new()
    );
    for mount in harness::cgroup_mounts() {
        assert!(
            !mount.join(&cgroup_root).exists(),
            "{} is left",
            mount.join(&cgroup_root).display()
        );
    }
    assert!(!root.exists(), "{} is left", root.display());
}
