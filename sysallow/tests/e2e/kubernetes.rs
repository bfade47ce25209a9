//! `sysallow agent` end to end on a node driven as kubelet drives it (root + containerd's CRI):
//! the test kubelet (`common::cri`) makes kubelet's CRI calls against a private containerd, the
//! agent records the selected pods through the same CRI and writes each workload's profile,
//! and new pods run under that profile the way kubelet enforces it (seccomp Localhost).
//!
//! What is real here: containerd 1.6's CRI plugin, runc, the pod and container cgroups kubelet
//! makes (cgroupfs driver), kubelet's labels and annotations. What is not: kubelet itself and
//! a kube-apiserver (none can be installed here); the test kubelet stands in for them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::cri::Node;
use crate::common::cri::agent::{Agent, files_below, rec_files};
use crate::common::cri::daemonset::{pod_spec, template_spec};
use crate::common::cri::kubelet::{ContainerSpec, Deployment, Kubelet, PodSpec, Seccomp};
use crate::common::recorder::{SETUP_ONLY, profile_names, read_recording};
use crate::common::{self, Busy};
use sysallow_profile::Abi;
use sysallow_profile::kubernetes::WorkloadKind;

/// A client whose wait depends on its peer's timing (`sysallow-probe late`: a forked peer
/// answers on a socket; the client polls only when the answer is not there yet), then a little
/// shell work. Its output does not depend on the path it took.
const LATE: &str = "sysallow-probe late; ls / >/dev/null; echo done";
const LATE_OUTPUT: &str = "pong\ndone\n";

/// Directories for one agent: its output dir and kubelet's seccomp dir.
struct Dirs {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    kdir: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let kdir = tmp.path().join("kubelet-seccomp");
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&kdir).unwrap();
    Dirs {
        out,
        kdir,
        _tmp: tmp,
    }
}

/// `recordings/<ns>/<workload>/<container>` under `out`.
fn instance_dir(out: &Path, ns: &str, workload: &str, container: &str) -> PathBuf {
    out.join("recordings")
        .join(ns)
        .join(workload)
        .join(container)
}

/// The merged recording of a workload container for `node`.
fn merged(out: &Path, ns: &str, workload: &str, container: &str, node: &str) -> PathBuf {
    out.join("recordings")
        .join(ns)
        .join(workload)
        .join(format!("{container}.{node}.rec.json"))
}

/// The syscall names (x86_64) of a recording.
fn recorded_names(path: &Path) -> BTreeSet<String> {
    read_recording(path)
        .syscall_names()
        .filter(|(abi, _)| *abi == Abi::X86_64)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// `sysallow generate REC -o PROFILE`; the profile's allowed names.
fn generate(rec: &Path, profile: &Path) -> BTreeSet<String> {
    let out = common::sysallow()
        .arg("generate")
        .arg(rec)
        .arg("-o")
        .arg(profile)
        .output()
        .unwrap();
    common::assert_success(&out);
    profile_names(profile).into_iter().collect()
}

#[test]
fn deployment_replicas_give_one_profile_that_kubelet_enforces() {
    require!(cri, agent);
    let node = Node::start();
    let kubelet = Kubelet::new(&node);
    let d = dirs();
    let mut agent = Agent::start(&kubelet, &d.out, &d.kdir, "node-1", &[]);

    // Two replicas of a Deployment, annotated for recording, run to their end.
    let deployment = Deployment {
        name: "pingpong".into(),
        replicas: 2,
        template: PodSpec::new("shop", vec![ContainerSpec::shell("client", LATE)])
            .label("app", "pingpong")
            .recorded(),
    };
    let pods = kubelet.deploy(&deployment);
    for pod in &pods {
        assert_eq!(kubelet.wait_exit(pod, "client"), 0);
        assert_eq!(pod.logs("client"), LATE_OUTPUT);
    }
    agent.wait_for_instances("shop", "pingpong", "client", 2);
    for pod in &pods {
        kubelet.delete_pod(pod);
    }
    let writes = agent.writes("shop/pingpong/client");
    assert!(agent.interrupt().success());

    // One instance recording per replica, named node-pod-id12, each naming its pod and the
    // workload (a Deployment, from pod-template-hash).
    let instances = rec_files(&instance_dir(&d.out, "shop", "pingpong", "client"));
    let mut expected: Vec<String> = pods
        .iter()
        .map(|p| {
            format!(
                "node-1-{}-{}.rec.json",
                p.name,
                &p.container("client").id[..12]
            )
        })
        .collect();
    expected.sort();
    let names: Vec<String> = instances
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, expected);
    for path in &instances {
        let rec = read_recording(path);
        let pod = rec.kubernetes.as_ref().expect("the pod is named");
        assert_eq!(
            (pod.namespace.as_str(), pod.container.as_str()),
            ("shop", "client")
        );
        assert_eq!(pod.workload.name, "pingpong");
        assert_eq!(pod.workload.kind, WorkloadKind::Deployment);
        assert!(pods.iter().any(|p| p.name == pod.pod && p.uid == pod.uid));
        assert_eq!(rec.losses.nonzero(), vec![], "{}: losses", path.display());
        // The runtime's set-up was seen, and kept apart.
        let setup = rec
            .runtime_setup
            .get(&Abi::X86_64)
            .cloned()
            .unwrap_or_default();
        for call in ["mount", "pivot_root"] {
            assert!(
                setup.contains_key(call),
                "{call} not in the set-up: {setup:?}"
            );
        }
        assert!(
            rec.programs().contains(&"/usr/bin/sysallow-probe"),
            "{:?}",
            rec.programs()
        );
    }

    // One merged recording and one profile for the workload, named after it.
    let merged_rec = merged(&d.out, "shop", "pingpong", "client", "node-1");
    assert!(merged_rec.is_file(), "no {}", merged_rec.display());
    let mut merged_names = BTreeSet::new();
    for path in &instances {
        merged_names.extend(recorded_names(path));
    }
    assert_eq!(recorded_names(&merged_rec), merged_names);
    let (_, localhost) = writes.last().cloned().expect("a wrote line");
    assert!(
        localhost.starts_with(d.kdir.join("profiles/sysallow/shop"))
            && localhost.to_string_lossy().contains("pingpong")
            && localhost.ends_with("client.json"),
        "{}",
        localhost.display()
    );
    let profiles = files_below(&d.kdir);
    assert_eq!(
        profiles,
        vec![
            localhost
                .strip_prefix(&d.kdir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        ],
        "one profile for the workload"
    );
    for suffix in ["seccompprofile.yaml", "securitycontext.yaml"] {
        let manifest = d
            .out
            .join("manifests/shop")
            .join(format!("pingpong-client.{suffix}"));
        assert!(manifest.is_file(), "no {}", manifest.display());
    }
    let context = fs::read_to_string(
        d.out
            .join("manifests/shop/pingpong-client.securitycontext.yaml"),
    )
    .unwrap();
    let relative = localhost
        .strip_prefix(&d.kdir)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(context.contains(&relative), "{context}");

    // No runtime set-up syscall in it; never wider than Docker's default.
    let allowed = profile_names(&localhost);
    for call in SETUP_ONLY {
        assert!(!allowed.iter().any(|n| n == call), "allows {call}");
    }
    common::assert_not_wider_than_docker_default(&localhost);

    // Enforced as kubelet enforces it: new pods with seccomp Localhost = that file run 10/10,
    // the machine busy, with the output of an unconfined pod.
    let unconfined = kubelet.run_to_end(
        "unconfined",
        &PodSpec::new("shop", vec![ContainerSpec::shell("client", LATE)]),
    );
    assert_eq!(unconfined, (0, LATE_OUTPUT.to_owned()));
    let confined = PodSpec::new(
        "shop",
        vec![ContainerSpec::shell("client", LATE).seccomp(Seccomp::Localhost(localhost.clone()))],
    );
    {
        let _busy = Busy::start();
        for i in 1..=10 {
            let run = kubelet.run_to_end(&format!("confined-{i}"), &confined);
            assert_eq!(run, unconfined, "run {i}/10 under {}", localhost.display());
        }
    }
    // An unrecorded behaviour is denied: mkdir was never seen.
    let mkdir = PodSpec::new(
        "shop",
        vec![
            ContainerSpec::shell("client", "sysallow-probe late; mkdir /tmp/new && echo made")
                .seccomp(Seccomp::Localhost(localhost.clone())),
        ],
    );
    let (code, logs) = kubelet.run_to_end("mkdir", &mkdir);
    assert_ne!(code, 0, "mkdir ran under the profile: {logs}");
    // The log interleaves stdout and stderr as the shim read its two pipes, not in the order
    // they were written (seen once in CI: the mkdir error before "pong"): lines, any order.
    assert!(
        logs.lines().any(|l| l == "pong")
            && logs.contains("Operation not permitted")
            && !logs.contains("made"),
        "{logs}"
    );
    let (code, logs) = kubelet.run_to_end(
        "mkdir-unconfined",
        &PodSpec::new(
            "shop",
            vec![ContainerSpec::shell(
                "client",
                "sysallow-probe late; mkdir /tmp/new && echo made",
            )],
        ),
    );
    assert_eq!((code, logs.as_str()), (0, "pong\nmade\n"));
    assert_eq!(node.stop(), Vec::<String>::new());
}

#[test]
fn unselected_pods_are_not_recorded_short_ones_are_and_a_restart_loses_nothing() {
    require!(cri, agent);
    let node = Node::start();
    let kubelet = Kubelet::new(&node);
    let d = dirs();
    // Selected: pods annotated sysallow.dev/record "true", and every pod of namespace "shop".
    let mut agent = Agent::start(
        &kubelet,
        &d.out,
        &d.kdir,
        "node-1",
        &["--namespace", "shop"],
    );

    // Not selected: no annotation, another namespace; and a pod that opts out in "shop".
    let ignored = PodSpec::new(
        "elsewhere",
        vec![ContainerSpec::new("quiet", &["sysallow-probe", "hello"])],
    );
    assert_eq!(kubelet.run_to_end("quiet", &ignored).0, 0);
    let opted_out = PodSpec::new(
        "shop",
        vec![ContainerSpec::new("shy", &["sysallow-probe", "hello"])],
    )
    .annotation("sysallow.dev/record", "false");
    assert_eq!(kubelet.run_to_end("shy", &opted_out).0, 0);

    // Selected by annotation in another namespace; and a pod of "shop" that lives well under
    // a second (measured from CRI's own timestamps).
    let annotated = PodSpec::new(
        "elsewhere",
        vec![ContainerSpec::new("loud", &["sysallow-probe", "hello"])],
    )
    .recorded();
    assert_eq!(kubelet.run_to_end("loud", &annotated).0, 0);
    let blink = Deployment {
        name: "blinker".into(),
        replicas: 1,
        template: PodSpec::new(
            "shop",
            vec![ContainerSpec::new("blink", &["sysallow-probe", "cgroup"])],
        ),
    };
    let first = kubelet.deploy(&blink).remove(0);
    assert_eq!(kubelet.wait_exit(&first, "blink"), 0);
    let status = kubelet.status(&first.container("blink").id);
    // containerd may record the start after a process this short has already ended (seen in
    // CI: finished 0.75 ms before "started"): that is a lifetime of about nothing, not 2^64 ns.
    let lived = Duration::from_nanos((status.finished_at - status.started_at).max(0) as u64);
    assert!(lived < Duration::from_secs(1), "the pod lived {lived:?}");
    agent.wait_for_instances("shop", "blinker", "blink", 1);
    agent.wait_for_instances("elsewhere", "loud", "loud", 1);
    kubelet.delete_pod(&first);

    // The agent dies (SIGKILL: nothing flushed) and is started again; what it wrote is kept,
    // and the next replica's recording merges with it.
    let before: Vec<(PathBuf, Vec<u8>)> =
        rec_files(&instance_dir(&d.out, "shop", "blinker", "blink"))
            .into_iter()
            .map(|p| {
                let bytes = fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
    assert_eq!(before.len(), 1);
    let first_names = recorded_names(&before[0].0);
    agent.kill();
    let mut agent = Agent::start(
        &kubelet,
        &d.out,
        &d.kdir,
        "node-1",
        &["--namespace", "shop"],
    );
    let second_blink = Deployment {
        template: PodSpec::new(
            "shop",
            vec![ContainerSpec::new("blink", &["sysallow-probe", "hello"])],
        ),
        ..blink
    };
    let second = kubelet.deploy(&second_blink).remove(0);
    assert_eq!(kubelet.wait_exit(&second, "blink"), 0);
    agent.wait_for_instances("shop", "blinker", "blink", 2);
    kubelet.delete_pod(&second);
    assert!(agent.interrupt().success());
    for (path, bytes) in &before {
        assert_eq!(
            &fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
    let instances = rec_files(&instance_dir(&d.out, "shop", "blinker", "blink"));
    assert_eq!(instances.len(), 2, "{instances:?}");
    let second_names: BTreeSet<String> = instances
        .iter()
        .filter(|p| !before.iter().any(|(b, _)| b == *p))
        .flat_map(|p| recorded_names(p))
        .collect();
    let merged_names = recorded_names(&merged(&d.out, "shop", "blinker", "blink", "node-1"));
    assert!(
        merged_names.is_superset(&first_names) && merged_names.is_superset(&second_names),
        "merged {merged_names:?}\nfirst {first_names:?}\nsecond {second_names:?}"
    );

    // Nothing at all for the unselected pods.
    let written = files_below(&d.out);
    for unselected in ["quiet", "shy"] {
        assert!(
            !written.iter().any(|f| f.contains(unselected)),
            "{unselected} was recorded: {written:?}"
        );
    }
    assert!(
        !written
            .iter()
            .any(|f| f.contains("elsewhere/") && !f.contains("loud")),
        "{written:?}"
    );
    assert_eq!(node.stop(), Vec::<String>::new());
}

#[test]
fn two_agents_recordings_merge_into_the_profile_one_agent_gives() {
    require!(cri, agent);
    let node = Node::start();
    let kubelet = Kubelet::new(&node);
    let (all, a, b) = (dirs(), dirs(), dirs());
    let deployment = Deployment {
        name: "pingpong".into(),
        replicas: 2,
        template: PodSpec::new("shop", vec![ContainerSpec::shell("client", LATE)]).recorded(),
    };
    // One agent sees every replica; agent "a" the first two, agent "b" the next two (as two
    // nodes would each see their own replicas).
    let mut one = Agent::start(&kubelet, &all.out, &all.kdir, "node-all", &[]);
    for (dirs, node_name, seen_by_one) in [(&a, "node-a", 2), (&b, "node-b", 4)] {
        let mut agent = Agent::start(&kubelet, &dirs.out, &dirs.kdir, node_name, &[]);
        let pods = kubelet.deploy(&deployment);
        for pod in &pods {
            assert_eq!(kubelet.wait_exit(pod, "client"), 0);
        }
        agent.wait_for_instances("shop", "pingpong", "client", 2);
        one.wait_for_instances("shop", "pingpong", "client", seen_by_one);
        for pod in &pods {
            kubelet.delete_pod(pod);
        }
        assert!(agent.interrupt().success());
    }
    assert!(one.interrupt().success());

    let work = tempfile::tempdir().unwrap();
    let merged_ab = work.path().join("merged-ab.rec.json");
    let out = common::sysallow()
        .arg("merge")
        .arg(merged(&a.out, "shop", "pingpong", "client", "node-a"))
        .arg(merged(&b.out, "shop", "pingpong", "client", "node-b"))
        .arg("-o")
        .arg(&merged_ab)
        .output()
        .unwrap();
    common::assert_success(&out);
    let one_rec = merged(&all.out, "shop", "pingpong", "client", "node-all");
    assert_eq!(recorded_names(&merged_ab), recorded_names(&one_rec));
    let from_two = generate(&merged_ab, &work.path().join("two.json"));
    let from_one = generate(&one_rec, &work.path().join("one.json"));
    assert_eq!(from_two, from_one);
    assert_eq!(node.stop(), Vec::<String>::new());
}

/// deploy/'s DaemonSet (written by the k8s-out work), read at test time.
fn daemonset_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/daemonset.yaml")
}

/// sysallow's own image tarball (`cargo xtask image`: it prints the tarball's path last), built
/// once per test run from the source under test; None when the command fails (or is not there).
fn agent_image() -> Option<PathBuf> {
    static TARBALL: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    TARBALL
        .get_or_init(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = std::process::Command::new(cargo)
                .args(["xtask", "image"])
                .current_dir(&workspace)
                .output()
                .ok()?;
            if !out.status.success() {
                eprintln!(
                    "cargo xtask image failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
            path.is_file().then_some(path)
        })
        .clone()
}

impl crate::macros::Need {
    /// deploy/daemonset.yaml and the agent's image (`cargo xtask image`): `require!(agent_image)`.
    pub fn agent_image() -> crate::macros::Need {
        crate::macros::Need::that(
            "deploy/daemonset.yaml and `cargo xtask image` (sysallow's container image)",
            daemonset_manifest().is_file() && agent_image().is_some(),
        )
    }
}

#[test]
fn the_agent_runs_as_a_pod_with_the_daemonsets_privileges_and_records() {
    require!(cri, agent, agent_image);
    let node = Node::start();
    let tarball = agent_image().unwrap();
    node.import(&tarball);
    let kubelet = Kubelet::new(&node);
    let d = dirs();

    // The DaemonSet's pod, as kubelet would run it on this node. The node keeps what the
    // manifest's host paths name elsewhere: its socket, task bundles and kubelet dirs are the
    // test's.
    let spec = template_spec(&fs::read_to_string(daemonset_manifest()).unwrap());
    let image = spec["containers"][0]["image"].as_str().unwrap().to_owned();
    node.wait_for_image(&image);
    let tasks = node.state().join("io.containerd.runtime.v2.task");
    fs::create_dir_all(&tasks).unwrap();
    let host_path = |path: &str| match path {
        "/run/containerd/containerd.sock" => node.socket().to_path_buf(),
        "/run/containerd/io.containerd.runtime.v2.task" => tasks.clone(),
        "/var/lib/kubelet/seccomp" => d.kdir.clone(),
        "/var/lib/sysallow" => d.out.clone(),
        "/sys/fs/cgroup" | "/sys/kernel/tracing" | "/sys/kernel/debug" | "/proc" => {
            PathBuf::from(path)
        }
        other => panic!("the DaemonSet mounts {other}: where is it on the test node?"),
    };
    let field_refs = [("spec.nodeName", "node-pod")].into_iter().collect();
    let mut agent_spec = pod_spec(
        &spec,
        "sysallow",
        &host_path,
        &node.root().join("agent-volumes"),
        &field_refs,
    );
    // This node's kubelet runs with a cgroup root of its own (so that tests side by side never
    // share pods); an operator of such a node tells the agent the same way.
    agent_spec.containers[0]
        .args
        .extend(["--cgroup-root".to_owned(), kubelet.kubepods()]);
    let agent_spec = agent_spec
        .label("controller-revision-hash", "5d8f7c9b6")
        .label("pod-template-generation", "1");
    let agent = kubelet.run_pod("sysallow-agent-x7k2p", &agent_spec);
    let armed = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let logs = agent.logs("agent");
        assert!(
            kubelet
                .wait_exit_within(&agent, "agent", Duration::ZERO)
                .is_none(),
            "the agent pod ended:\n{logs}"
        );
        logs.contains("sysallow agent: armed")
    });
    assert!(armed, "the agent pod never armed:\n{}", agent.logs("agent"));

    // A selected pod, recorded by the agent in its pod.
    let web = Deployment {
        name: "web".into(),
        replicas: 1,
        template: PodSpec::new(
            "shop",
            vec![ContainerSpec::new("web", &["sysallow-probe", "syscalls"])],
        )
        .recorded(),
    };
    let pod = kubelet.deploy(&web).remove(0);
    assert_eq!(kubelet.wait_exit(&pod, "web"), 0);
    let instances = instance_dir(&d.out, "shop", "web", "web");
    let written = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !rec_files(&instances).is_empty() && agent.logs("agent").contains("wrote shop/web/web (")
    });
    assert!(written, "nothing written:\n{}", agent.logs("agent"));
    kubelet.delete_pod(&pod);
    // Deleting the agent's pod sends SIGTERM: it writes what it has and ends.
    kubelet.delete_pod(&agent);
    let logs = agent.logs("agent");

    let recording = read_recording(&rec_files(&instances)[0]);
    let pod_ref = recording.kubernetes.as_ref().expect("named");
    assert_eq!(
        (pod_ref.pod.as_str(), pod_ref.uid.as_str()),
        (pod.name.as_str(), pod.uid.as_str())
    );
    let names = recorded_names(&rec_files(&instances)[0]);
    for call in ["uname", "getppid"] {
        assert!(names.contains(call), "{call} not recorded: {names:?}");
    }
    // The localhost profile, at the path the agent names in its pod, is on the node.
    let line = logs
        .lines()
        .filter_map(crate::common::cri::agent::parse_wrote)
        .find(|(what, _, _)| what == "shop/web/web")
        .expect("a wrote line");
    let inside = line.2;
    let on_node = d
        .kdir
        .join(inside.strip_prefix("/var/lib/kubelet/seccomp").unwrap());
    assert!(on_node.is_file(), "no {}", on_node.display());
    // The agent's own pod is not selected.
    assert!(
        !files_below(&d.out).iter().any(|f| f.contains("sysallow/")),
        "{:?}",
        files_below(&d.out)
    );
    assert_eq!(node.stop(), Vec::<String>::new());
}
