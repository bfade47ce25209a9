//! `sysallow agent`: a long-running recorder for one Kubernetes node, over the runtime's CRI.
//!
//! Order matters, as in `record`: `kubepods` is armed (leaf-split, with the runtime boundary)
//! before anything is learnt about pods, so a container is counted from its first syscall
//! however late the agent hears of it. Names come afterwards, from three sources, first that
//! answers: the CRI inventory (ListPodSandbox / ListContainers, polled and also asked at once
//! when an unknown container's cgroup is born), containerd's OCI bundle annotations
//! (`io.kubernetes.cri.*`, while the task runs), and the pod UID in the cgroup path (the
//! container then named by its id). Labels and annotations are cached the moment they are
//! seen, so a pod that lived under a second is still named.
//!
//! Modules: [`kubepods`] (the cgroup layout), [`select`] (which pods), [`naming`] (PodRef),
//! [`flush`] (when to write), [`outputs`] (what and where), [`tracer`] (the kernel side).

pub mod flush;
pub mod inventory;
pub mod kubepods;
pub mod naming;
pub mod outputs;
pub mod select;
pub mod tracer;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sysallow_profile::Recording;
use sysallow_profile::container::{Engine, Runtime};
use sysallow_profile::generate::GenerationPolicy;
use sysallow_profile::kubernetes::PodRef;
use sysallow_profile::recording::{Exit, Target};

use crate::cgroup::{self, Cgroup2Mount, CgroupError};
use crate::cri::{CriClient, CriError};
use crate::ebpf::{ArmedTarget, TargetCounts, TracerError};
use crate::privilege::PrivilegeError;
use crate::target::containerd;
use flush::{Flush, Seen, Written};
use inventory::{Candidate, Inventory, Resolution};
use naming::{Labels, PodInfo};
use outputs::{Layout, WriteError};
use select::Selection;
use tracer::AgentTracer;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Privilege(#[from] PrivilegeError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Tracer(#[from] TracerError),
    #[error(transparent)]
    Cri(#[from] CriError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("setting up the signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("kubelet's cgroup {0} is not there")]
    NoRoot(String),
}

/// How the agent runs.
pub struct AgentConfig {
    pub runtime_endpoint: String,
    pub layout: Layout,
    pub selection: Selection,
    /// `--cgroup-root`: kubelet's top cgroup, below the v2 mount; found when `None`.
    pub cgroup_root: Option<String>,
    /// How long a running container must show nothing new before it is written.
    pub stable_after: Duration,
    /// End after this long (tests); SIGINT/SIGTERM always end it.
    pub duration: Option<Duration>,
    /// Program slots ([`tracer::AGENT_SLOTS`] by default).
    pub slots: u32,
    /// Also count the syscalls that failed with EPERM or ENOSYS (`Root::exit_facts`): a second
    /// program at every syscall's exit for every process on the node.
    pub exit_facts: bool,
    /// The generation policy for a workload's merged recording.
    pub policy: Box<dyn Fn(&Recording) -> GenerationPolicy>,
}

/// What the agent has to tell, as it happens.
#[derive(Debug)]
pub enum AgentEvent<'a> {
    /// Connected to the runtime.
    Runtime { name: &'a str, version: &'a str },
    /// kubelet has not made its cgroup yet.
    WaitingForRoot { mount: &'a Path },
    /// The programs are attached: from now on every new container is recorded.
    Armed { root: &'a Path },
    /// A workload container's outputs were (re)written.
    Wrote {
        pod: &'a PodRef,
        syscalls: usize,
        localhost: &'a Path,
    },
    /// The run-time layer decided for a workload container, written beside its
    /// securityContext snippet (`outputs::Layout::runtime_layer_path`).
    RuntimeLayer { pod: &'a PodRef, summary: &'a str },
    /// Something went wrong for one container or workload; the agent goes on.
    Warning(String),
}

impl fmt::Display for AgentEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentEvent::Runtime { name, version } => {
                write!(f, "runtime {name} {version} (CRI v1)")
            }
            AgentEvent::WaitingForRoot { mount } => write!(
                f,
                "waiting for kubelet's cgroup (kubepods or kubepods.slice under {}); is kubelet \
                 running with this cgroup root? (--cgroup-root names another)",
                mount.display()
            ),
            AgentEvent::Armed { root } => write!(f, "armed {}", root.display()),
            AgentEvent::Wrote {
                pod,
                syscalls,
                localhost,
            } => write!(
                f,
                "wrote {}/{}/{} ({syscalls} syscalls) -> {}",
                pod.namespace,
                pod.workload.name,
                pod.container,
                localhost.display()
            ),
            AgentEvent::RuntimeLayer { pod, summary } => write!(
                f,
                "run-time layer of {}/{}/{}: {summary}",
                pod.namespace, pod.workload.name, pod.container
            ),
            AgentEvent::Warning(message) => write!(f, "warning: {message}"),
        }
    }
}

/// How often the CRI inventory is refreshed, and containers checked for exit and stability.
const POLL: Duration = Duration::from_millis(500);
/// How long a container whose pod is known but whose own name is not yet may wait to be
/// named before it is recorded under its id.
const NAME_GRACE: Duration = Duration::from_secs(2);
/// A cgroup that never held a process this long after its birth is taken as ended.
const EMPTY_GRACE: Duration = Duration::from_secs(2);

/// Run the agent until SIGINT/SIGTERM or `duration`; every container recorded is written
/// before it returns.
pub fn run_agent(config: AgentConfig, tell: &dyn Fn(AgentEvent<'_>)) -> Result<(), AgentError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(AgentError::Signals)?;
    }
    let socket = crate::cri::socket_path(&config.runtime_endpoint)?;
    let mount = Cgroup2Mount::find()?;
    crate::privilege::check_agent(&crate::privilege::AgentNeeds {
        cri_socket: socket,
        writes: vec![
            config.layout.output_dir.clone(),
            config.layout.kubelet_seccomp_dir.clone(),
        ],
    })?;
    let tracefs = crate::privilege::tracefs()?;
    let mut cri = CriClient::connect(&config.runtime_endpoint)?;
    let version = cri.version()?;
    tell(AgentEvent::Runtime {
        name: &version.runtime_name,
        version: &version.runtime_version,
    });
    let engine = Engine::from(version.runtime_name.as_str());

    let started = Instant::now();
    let ends = |stop: &AtomicBool| {
        stop.load(Ordering::SeqCst) || config.duration.is_some_and(|d| started.elapsed() >= d)
    };
    let root = loop {
        if let Some(root) = kubepods::find_root(&mount.path, config.cgroup_root.as_deref()) {
            break root;
        }
        if ends(&stop) {
            return Ok(());
        }
        if started.elapsed() < POLL {
            tell(AgentEvent::WaitingForRoot { mount: &mount.path });
        }
        std::thread::sleep(POLL);
    };
    let root_dir = mount.open(&root)?;
    let mut tracer = AgentTracer::load(&tracefs, &root_dir, config.slots, config.exit_facts)?;
    // Watched before the first look, so nothing born in between is missed.
    let births = cgroup::births::Births::watch_tree(&root);
    tell(AgentEvent::Armed { root: &root });

    let mut agent = Agent {
        config: &config,
        tell,
        root,
        mount,
        engine,
        host: crate::host::describe(),
        inventory: Inventory::default(),
        tracked: BTreeMap::new(),
        last_refresh: None,
        cri_failing: None,
    };
    agent.refresh(&mut cri);
    // Containers already running (the agent started on a busy node, or again after a
    // restart): targets now, their processes followed as the workload from here on.
    for dir in cgroup::tree(&agent.root).into_iter().skip(1) {
        if let Some(id) = cgroup_id(&dir) {
            agent.born(id, dir.clone());
            if agent.tracked.contains_key(&id)
                && let Err(err) = tracer.adopt_child(id, &dir)
            {
                agent.warn(sysallow_profile::error_chain(&err));
            }
        }
    }
    let mut last_check = Instant::now();
    while !ends(&stop) {
        let mut unknown_birth = false;
        if let Some(births) = &births {
            while let Some((id, path)) = births.next(Duration::from_millis(50)) {
                unknown_birth |= agent.born(id, path);
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
            for dir in cgroup::tree(&agent.root).into_iter().skip(1) {
                if let Some(id) = cgroup_id(&dir)
                    && !agent.tracked.contains_key(&id)
                {
                    unknown_birth |= agent.born(id, dir);
                }
            }
        }
        if unknown_birth || agent.last_refresh.is_none_or(|t| t.elapsed() >= POLL) {
            agent.refresh(&mut cri);
        }
        agent.resolve(&mut tracer);
        if last_check.elapsed() >= POLL {
            last_check = Instant::now();
            agent.check(&mut tracer, &mut cri, false)?;
        }
    }
    agent.resolve(&mut tracer);
    agent.check(&mut tracer, &mut cri, true)?;
    Ok(())
}

/// A cgroup directory's id (its inode), if it still exists.
fn cgroup_id(dir: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(dir).ok().map(|m| m.ino())
}

/// A container cgroup the agent follows.
struct Tracked {
    path: PathBuf,
    id: String,
    pod_uid: String,
    born: Instant,
    born_ns: u64,
    born_at: String,
    /// It held a process at some look (a cgroup is made before its first process enters).
    was_populated: bool,
    /// The OCI runtime and no-new-privileges, from containerd's bundle while the task runs.
    bundle: Option<containerd::Task>,
    state: State,
}

enum State {
    /// Not named yet.
    Pending,
    /// A pause container, or an unselected pod's: not counted.
    Ignored,
    Recorded(Box<Recorded>),
}

struct Recorded {
    pod: PodRef,
    sandbox: Option<String>,
    written: Option<Written>,
    /// A previous agent's instance file for this container, merged into every write.
    earlier: Option<Recording>,
    /// When its counts were last read while it ran.
    looked: Option<Instant>,
}

struct Agent<'a> {
    config: &'a AgentConfig,
    tell: &'a dyn Fn(AgentEvent<'_>),
    root: PathBuf,
    mount: Cgroup2Mount,
    engine: Engine,
    host: sysallow_profile::recording::Host,
    inventory: Inventory,
    /// By cgroup id.
    tracked: BTreeMap<u64, Tracked>,
    last_refresh: Option<Instant>,
    /// The last failed CRI call's message: a runtime that stays down is said once, not at
    /// every poll.
    cri_failing: Option<String>,
}

impl Agent<'_> {
    fn warn(&self, message: String) {
        (self.tell)(AgentEvent::Warning(message));
    }

    /// A cgroup appeared below kubepods. Returns whether it is a container the inventory does
    /// not know yet (so the inventory is refreshed at once).
    fn born(&mut self, id: u64, path: PathBuf) -> bool {
        if self.tracked.contains_key(&id) {
            return false;
        }
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        let names: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let kubepods::Place::Container { pod_uid, id: cid } = kubepods::classify(&names) else {
            return false;
        };
        let known = self.inventory.containers.contains_key(&cid)
            || self.inventory.sandboxes.contains_key(&cid);
        let bundle = path
            .strip_prefix(&self.mount.path)
            .ok()
            .and_then(|rel| containerd::find(&containerd::state_dirs(), rel));
        self.tracked.insert(
            id,
            Tracked {
                path,
                id: cid,
                pod_uid,
                born: Instant::now(),
                born_ns: crate::live::monotonic_ns(),
                born_at: crate::host::now_rfc3339(),
                was_populated: false,
                bundle,
                state: State::Pending,
            },
        );
        !known
    }

    /// Refresh the inventory from the runtime. A failed call is said and retried at the next
    /// poll: what was already learnt stays.
    fn refresh(&mut self, cri: &mut CriClient) {
        self.last_refresh = Some(Instant::now());
        let sandboxes = match cri.list_pod_sandboxes() {
            Ok(s) => s,
            Err(err) => {
                self.cri_failed(&err);
                return;
            }
        };
        let mut listed = BTreeSet::new();
        for sandbox in sandboxes {
            listed.insert(sandbox.id.clone());
            let meta = sandbox.metadata.unwrap_or_default();
            let pod = PodInfo::new(
                &meta.namespace,
                &meta.name,
                &meta.uid,
                sandbox.labels.into_iter().collect(),
                sandbox.annotations.into_iter().collect(),
            );
            self.inventory.add_sandbox(sandbox.id, pod);
        }
        self.inventory.listed_now(listed);
        // A removed pod is forgotten once none of its containers is followed any more: an
        // agent running for days keeps only what the node runs.
        let followed: BTreeSet<&str> = self
            .tracked
            .values()
            .flat_map(|t| {
                let sandbox = match &t.state {
                    State::Recorded(r) => r.sandbox.as_deref(),
                    _ => None,
                };
                sandbox
                    .into_iter()
                    .chain(self.inventory.by_uid.get(&t.pod_uid).map(String::as_str))
            })
            .collect();
        let forget: Vec<String> = self
            .inventory
            .removed
            .iter()
            .filter(|s| !followed.contains(s.as_str()))
            .cloned()
            .collect();
        self.inventory.forget(&forget);
        match cri.list_containers() {
            Ok(containers) => {
                for c in containers {
                    let labels: Labels = c.labels.into_iter().collect();
                    let name = labels
                        .get(naming::CONTAINER_NAME)
                        .cloned()
                        .or_else(|| c.metadata.map(|m| m.name))
                        .unwrap_or_default();
                    self.inventory
                        .containers
                        .insert(c.id, (c.pod_sandbox_id, name));
                }
            }
            Err(err) => {
                self.cri_failed(&err);
                return;
            }
        }
        if self.cri_failing.take().is_some() {
            self.warn("the runtime answers again".to_owned());
        }
    }

    /// Say a failed CRI call, unless it is the same failure as the last one.
    fn cri_failed(&mut self, err: &CriError) {
        let message = sysallow_profile::error_chain(err);
        if self.cri_failing.as_ref() != Some(&message) {
            self.warn(format!("{message} (retried at every poll)"));
            self.cri_failing = Some(message);
        }
    }

    /// Name every pending container that can be named now.
    fn resolve(&mut self, tracer: &mut AgentTracer) {
        let ids: Vec<u64> = self
            .tracked
            .iter()
            .filter(|(_, t)| matches!(t.state, State::Pending))
            .map(|(id, _)| *id)
            .collect();
        for cgroup in ids {
            let Some(tracked) = self.tracked.get(&cgroup) else {
                continue;
            };
            let Some(resolution) = self.resolution(tracked) else {
                continue;
            };
            let state = match resolution {
                Resolution::Ignore => {
                    if let Err(err) = tracer.ignore_child(cgroup) {
                        self.warn(sysallow_profile::error_chain(&err));
                    }
                    State::Ignored
                }
                Resolution::Record { pod, sandbox, .. } => {
                    let earlier = std::fs::read_to_string(
                        self.config.layout.instance_path(&pod, &tracked.id),
                    )
                    .ok()
                    .and_then(|text| Recording::from_json(&text).ok());
                    State::Recorded(Box::new(Recorded {
                        pod,
                        sandbox,
                        written: None,
                        looked: None,
                        earlier,
                    }))
                }
            };
            if let Some(tracked) = self.tracked.get_mut(&cgroup) {
                tracked.state = state;
            }
        }
    }

    /// How `tracked` is named, if that can be told yet.
    fn resolution(&self, tracked: &Tracked) -> Option<Resolution> {
        let candidate = Candidate {
            id: &tracked.id,
            pod_uid: &tracked.pod_uid,
            bundle: tracked.bundle.as_ref().map(|b| &b.annotations),
            waited: tracked.born.elapsed() >= NAME_GRACE || !tracked.path.exists(),
        };
        let resolution = self.inventory.resolve(&candidate, &self.config.selection)?;
        if let Resolution::Record {
            pod, by_id: true, ..
        } = &resolution
        {
            self.warn(format!(
                "nothing named container {} of pod {}/{}; its files are named by its id",
                tracked.id, pod.namespace, pod.pod
            ));
        }
        Some(resolution)
    }

    /// Look at every container: write those that ended or settled, release those that ended.
    /// `all`: the agent is ending, write every recorded container that has anything new.
    fn check(
        &mut self,
        tracer: &mut AgentTracer,
        cri: &mut CriClient,
        all: bool,
    ) -> Result<(), AgentError> {
        let children = tracer.children()?;
        let now_ns = crate::live::monotonic_ns();
        let host = self.host.arch;
        let mut touched: BTreeMap<(String, String, String), PodRef> = BTreeMap::new();
        let mut finished = Vec::new();
        // (cgroup, ended, empty) of the recorded containers whose counts are read now.
        let mut looks: Vec<(u64, bool, bool)> = Vec::new();
        // (cgroup, ended, empty, due) of every recorded container.
        let mut candidates: Vec<(u64, bool, bool, bool)> = Vec::new();
        let ids: Vec<u64> = self.tracked.keys().copied().collect();
        for cgroup in ids {
            let Some(tracked) = self.tracked.get_mut(&cgroup) else {
                continue;
            };
            let populated = populated(&tracked.path);
            tracked.was_populated |= populated == Some(true);
            let empty = match populated {
                None => true,
                Some(true) => false,
                Some(false) => tracked.was_populated || tracked.born.elapsed() >= EMPTY_GRACE,
            };
            let recorded = match &mut tracked.state {
                State::Pending => {
                    if empty {
                        // Ended before anything named it, and its pod was never seen: it
                        // cannot be told selected, so it is not written.
                        finished.push(cgroup);
                        if children.contains_key(&cgroup) {
                            let id = tracked.id.clone();
                            self.warn(format!(
                                "container {id} ended before the runtime named it or its pod; \
                                 not written"
                            ));
                        }
                    }
                    continue;
                }
                State::Ignored => {
                    if empty {
                        finished.push(cgroup);
                    }
                    continue;
                }
                State::Recorded(r) => r,
            };
            let pod_removed = recorded
                .sandbox
                .as_ref()
                .is_some_and(|s| self.inventory.removed.contains(s));
            let ended = empty || pod_removed;
            let due = recorded
                .looked
                .is_none_or(|t| t.elapsed() >= look_every(self.config.stable_after));
            candidates.push((cgroup, ended, empty, due));
            if empty {
                finished.push(cgroup);
            }
        }
        // Reading counts walks the tracer's shared maps, whose cost is the same for one
        // container as for all: so when one is due (every `look_every` while it runs, always
        // at its end), every recorded container is read in that one walk, rather than each at
        // its own time (with 110 pods that was a walk at almost every poll).
        if all || candidates.iter().any(|&(_, ended, _, due)| ended || due) {
            let now = Instant::now();
            for (cgroup, ended, empty, _) in candidates {
                if let Some(State::Recorded(recorded)) =
                    self.tracked.get_mut(&cgroup).map(|t| &mut t.state)
                {
                    recorded.looked = Some(now);
                }
                looks.push((cgroup, ended, empty));
            }
        }
        // Every due container's counts in one read of the shared maps.
        let targets: Vec<ArmedTarget> = looks
            .iter()
            .filter_map(|(cgroup, _, _)| children.get(cgroup).copied())
            .collect();
        let mut counts: BTreeMap<u64, TargetCounts> = targets
            .iter()
            .map(|t| t.cgroup_id)
            .zip(tracer.counts_of(&targets, host)?)
            .collect();
        let losses = tracer.losses()?;
        for (cgroup, ended, empty) in looks {
            let Some(tracked) = self.tracked.get_mut(&cgroup) else {
                continue;
            };
            let State::Recorded(recorded) = &mut tracked.state else {
                continue;
            };
            let counts = counts.remove(&cgroup);
            let seen = counts.as_ref().map_or(Seen::default(), |c| Seen {
                syscalls: c
                    .counts
                    .keys()
                    .map(|(abi, nr, _)| (*abi, *nr))
                    .collect::<BTreeSet<_>>()
                    .len(),
                last_new_ns: c.first_seen.values().copied().max(),
            });
            let decision = match flush::decide(
                seen,
                recorded.written,
                ended || all,
                now_ns,
                self.config.stable_after,
            ) {
                // Already written with everything there is: nothing to add at the end.
                Flush::Final if recorded.written == Some(Written::from(seen)) => Flush::Wait,
                d => d,
            };
            let Some(counts) = counts.filter(|_| decision != Flush::Wait) else {
                continue;
            };
            let mut rec = Recording::new(
                Target::Container {
                    id: tracked.id.clone(),
                    name: Some(format!(
                        "{}/{}/{}",
                        recorded.pod.namespace, recorded.pod.pod, recorded.pod.container
                    )),
                    engine: Some(self.engine.clone()),
                    runtime: tracked
                        .bundle
                        .as_ref()
                        .map(|b| Runtime::from_reported(&b.oci_runtime)),
                    no_new_privileges: tracked.bundle.as_ref().is_some_and(|b| b.no_new_privileges),
                    cgroup: tracked
                        .path
                        .strip_prefix(&self.mount.path)
                        .unwrap_or(&tracked.path)
                        .display()
                        .to_string(),
                },
                self.host.clone(),
                tracked.born_at.clone(),
            );
            counts.fill(&mut rec, tracked.born_ns);
            rec.losses = losses.clone();
            rec.duration_ms = tracked.born.elapsed().as_millis() as u64;
            rec.kubernetes = Some(recorded.pod.clone());
            if empty
                && let Ok(Some(status)) = cri.container_status(&tracked.id)
                && status.finished_at > 0
            {
                rec.exit = Some(Exit::Code(status.exit_code));
            }
            if let Some(earlier) = &recorded.earlier {
                let (mut merged, _) = sysallow_profile::merge::merge_recordings(&[earlier, &rec]);
                merged.kubernetes = rec.kubernetes.clone();
                merged.target = rec.target.clone();
                rec = merged;
            }
            let path = self.config.layout.instance_path(&recorded.pod, &tracked.id);
            match outputs::write_file(&path, &rec.to_json()) {
                Ok(()) => {
                    recorded.written = Some(Written::from(seen));
                    let pod = &recorded.pod;
                    touched.insert(
                        (
                            pod.namespace.clone(),
                            pod.workload.name.clone(),
                            pod.container.clone(),
                        ),
                        pod.clone(),
                    );
                }
                Err(err) => {
                    let message = sysallow_profile::error_chain(&err);
                    (self.tell)(AgentEvent::Warning(message));
                }
            }
        }
        for pod in touched.values() {
            match outputs::regenerate(&self.config.layout, pod, host, &*self.config.policy) {
                Ok(Some(done)) => {
                    for note in done.notes.iter().chain(&done.warnings) {
                        self.warn(format!(
                            "{}/{}/{}: {note}",
                            pod.namespace, pod.workload.name, pod.container
                        ));
                    }
                    (self.tell)(AgentEvent::Wrote {
                        pod,
                        syscalls: done.allowed,
                        localhost: &done.localhost,
                    });
                    if let Some(summary) = &done.runtime_layer {
                        (self.tell)(AgentEvent::RuntimeLayer { pod, summary });
                    }
                }
                Ok(None) => {}
                Err(err) => self.warn(sysallow_profile::error_chain(&err)),
            }
        }
        // Read and written: nothing can count into an empty cgroup's slots any more.
        // (An ignored child's entry is forgotten the same way.) One the kernel still sees in use
        // stays followed, and is released at a later look.
        for cgroup in finished {
            match tracer.release_child(cgroup) {
                Ok(()) => {
                    self.tracked.remove(&cgroup);
                }
                Err(TracerError::ChildInUse { .. }) => {}
                Err(err) => {
                    self.warn(sysallow_profile::error_chain(&err));
                    self.tracked.remove(&cgroup);
                }
            }
        }
        Ok(())
    }
}

/// How often a running container's counts are read to see whether it settled: a third of
/// `--stable-after` (so a write comes at most a third late), between POLL and 10 s.
fn look_every(stable_after: Duration) -> Duration {
    (stable_after / 3).clamp(POLL, Duration::from_secs(10))
}

/// Whether a cgroup holds a process (`cgroup.events`), `None` when it is gone.
fn populated(dir: &Path) -> Option<bool> {
    let events = std::fs::read_to_string(dir.join("cgroup.events")).ok()?;
    Some(events.lines().any(|l| l.trim() == "populated 1"))
}
