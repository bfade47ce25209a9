//! `sysallow agent` on a node driven as kubelet drives it (root + containerd's CRI): a
//! selected Deployment's replicas give one workload profile in the output layout, an
//! unselected pod and the pause containers give nothing, and the agent says what it wrote.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::cri::Node;
use crate::common::cri::kubelet::{ContainerSpec, Deployment, Kubelet, PodSpec};
use crate::common::harness;
use crate::common::image::PROBE;
use sysallow_profile::Recording;

/// A background `sysallow agent`, its stderr lines on a channel; killed if the test fails.
struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Agent {
    fn start(node: &Node, out: &Path, kubelet_dir: &Path, extra: &[&str]) -> Agent {
        let mut child = crate::common::sysallow()
            .arg("agent")
            .arg("--runtime-endpoint")
            .arg(node.endpoint())
            .arg("--output-dir")
            .arg(out)
            .arg("--kubelet-seccomp-dir")
            .arg(kubelet_dir)
            .arg("--cgroup-root")
            .arg(format!("{}/kubepods", node.cgroup_root()))
            .arg("--node")
            .arg("node-a")
            .args(extra)
            .env("SYSALLOW_CONTAINERD_STATE", node.state())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sysallow agent");
        let stderr = child.stderr.take().expect("stderr");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Agent {
            child,
            lines,
            seen: Vec::new(),
        };
        agent.wait_for("sysallow agent: armed", Duration::from_secs(30));
        agent
    }

    /// Wait for a stderr line containing `needle`.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} from the agent; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// SIGINT, and the rest of what it says.
    fn stop(mut self) -> Vec<String> {
        harness::signal(self.child.id() as i32, libc::SIGINT);
        assert!(
            harness::wait_child(&mut self.child, Duration::from_secs(30)),
            "the agent did not end on SIGINT"
        );
        self.seen.extend(self.lines.try_iter());
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn agent_records_a_selected_deployment_and_nothing_else() {
    require!(cri);
    let node = Node::start();
    // kubelet makes its QoS cgroups when it starts, before any pod (the node removes them).
    let v2 = harness::cgroup2_mount().unwrap();
    std::fs::create_dir_all(v2.join(node.cgroup_root()).join("kubepods/besteffort")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let kubelet_dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(
        &node,
        out.path(),
        kubelet_dir.path(),
        &["--stable-after", "1s"],
    );
    let kubelet = Kubelet::new(&node);

    let deployment = Deployment {
        name: "web".into(),
        replicas: 2,
        template: PodSpec::new(
            "shop",
            vec![ContainerSpec::new("server", &[PROBE, "syscalls"])],
        )
        .recorded(),
    };
    let pods = kubelet.deploy(&deployment);
    let unselected = kubelet.run_pod(
        "other",
        &PodSpec::new(
            "shop",
            vec![ContainerSpec::new("other", &[PROBE, "syscalls"])],
        ),
    );
    for pod in &pods {
        assert_eq!(kubelet.wait_exit(pod, "server"), 0);
    }
    assert_eq!(kubelet.wait_exit(&unselected, "other"), 0);
    let line = agent.wait_for("wrote shop/web/server", Duration::from_secs(30));
    for pod in &pods {
        kubelet.delete_pod(pod);
    }
    kubelet.delete_pod(&unselected);
    let said = agent.stop();

    let instances = out.path().join("recordings/shop/web/server");
    let mut files: Vec<String> = std::fs::read_dir(&instances)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = pods
        .iter()
        .map(|p| {
            format!(
                "node-a-{}-{}.rec.json",
                p.name,
                &p.container("server").id[..12]
            )
        })
        .collect();
    expected.sort();
    assert_eq!(files, expected, "the agent said:\n{}", said.join("\n"));
    for file in &files {
        let rec =
            Recording::from_json(&std::fs::read_to_string(instances.join(file)).unwrap()).unwrap();
        let pod = rec.kubernetes.as_ref().expect("kubernetes");
        assert_eq!(
            (pod.namespace.as_str(), pod.container.as_str()),
            ("shop", "server")
        );
        assert_eq!(pod.workload.name, "web");
        let names: Vec<&str> = rec.syscall_names().map(|(_, n)| n).collect();
        assert!(names.contains(&"uname"), "{names:?}");
        for setup in crate::common::recorder::SETUP_ONLY {
            assert!(!names.contains(setup), "{setup} in {names:?}");
        }
    }
    assert!(
        out.path()
            .join("recordings/shop/web/server.node-a.rec.json")
            .is_file()
    );
    assert!(
        out.path()
            .join("manifests/shop/web-server.seccompprofile.yaml")
            .is_file()
    );
    assert!(
        out.path()
            .join("manifests/shop/web-server.securitycontext.yaml")
            .is_file()
    );
    // Beside it, the run-time layer decided from the merged recording's capability checks:
    // the probe needs no capability; its root filesystem's writes are not recorded here.
    let layer: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(
            out.path()
                .join("manifests/shop/web-server.runtime-layer.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let ctx = &layer["containers"][0]["securityContext"];
    assert_eq!(
        ctx["capabilities"],
        serde_json::json!({"drop": ["ALL"]}),
        "{layer:#}"
    );
    assert_eq!(ctx["allowPrivilegeEscalation"], false, "{layer:#}");
    assert!(ctx.get("readOnlyRootFilesystem").is_none(), "{layer:#}");
    assert!(
        said.iter()
            .any(|l| l.contains("run-time layer of shop/web/server: cap-add []")),
        "{}",
        said.join("\n")
    );
    let localhost = line.rsplit(" -> ").next().unwrap().to_owned();
    assert!(
        localhost.starts_with(&kubelet_dir.path().display().to_string()),
        "{line}"
    );
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&localhost).unwrap()).unwrap();
    assert!(profile.get("archMap").is_none() && profile.get("defaultAction").is_some());
    // Nothing for the unselected pod, nor any pause container.
    let all: Vec<_> = walk(out.path());
    assert!(all.iter().all(|p| !p.contains("other")), "{all:?}");
    drop(node);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn agent_writes_a_running_container_once_stable_and_a_restart_loses_nothing() {
    require!(cri);
    let node = Node::start();
    let v2 = harness::cgroup2_mount().unwrap();
    std::fs::create_dir_all(v2.join(node.cgroup_root()).join("kubepods/besteffort")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let kubelet_dir = tempfile::tempdir().unwrap();
    let args = ["--stable-after", "1s"];
    let mut agent = Agent::start(&node, out.path(), kubelet_dir.path(), &args);
    let kubelet = Kubelet::new(&node);
    let spec = PodSpec::new(
        "batch",
        vec![ContainerSpec::new("sleeper", &[PROBE, "sleep", "60"])],
    )
    .recorded();
    let pod = kubelet.run_pod("long", &spec);
    // Written while it runs, once nothing new appeared for a second.
    agent.wait_for("wrote batch/long/sleeper", Duration::from_secs(30));
    let instance = out.path().join(format!(
        "recordings/batch/long/sleeper/node-a-long-{}.rec.json",
        &pod.container("sleeper").id[..12]
    ));
    let read = |path: &Path| {
        let rec = Recording::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        rec.syscall_names()
            .map(|(_, n)| n.to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let first = read(&instance);
    assert!(
        first.contains("nanosleep") || first.contains("clock_nanosleep"),
        "{first:?}"
    );
    // Killed without a chance to flush, started again: the pod's end is written on top of
    // what the first agent wrote, never instead of it.
    harness::signal(agent.child.id() as i32, libc::SIGKILL);
    drop(agent);
    let agent = Agent::start(&node, out.path(), kubelet_dir.path(), &args);
    kubelet.delete_pod(&pod);
    let said = agent.stop();
    assert!(
        said.iter().any(|l| l.contains("wrote batch/long/sleeper")),
        "the restarted agent did not write the container's end:\n{}",
        said.join("\n")
    );
    let after = read(&instance);
    assert!(
        first.is_subset(&after),
        "lost {:?}; the agent said:\n{}",
        first.difference(&after).collect::<Vec<_>>(),
        said.join("\n")
    );
    drop(node);
}
