//! Target resolution: from what the user names (`--cgroup PATH`, `--pid PID`,
//! `--container ID|NAME`) to the cgroup v2 directory the recorder arms (its id and level) and a
//! description for the recording.
//!
//! A container is resolved, most robust first:
//! 1. through an engine API socket (Docker's, or Podman's compatible one): inspect gives the
//!    full id, the name and the init pid, and the init's `/proc/PID/cgroup` is the cgroup,
//!    whatever the cgroup driver or `--cgroup-parent`;
//! 2. through conmon ([`conmon`]), Podman's and CRI-O's container monitor, whose command line
//!    names the container it runs: by name or id prefix, with no socket;
//! 3. by the runtimes' path conventions ([`conventions`]): a walk of the v2 tree for a
//!    container directory whose id is, or starts with, what the user gave. This covers
//!    containerd (no HTTP API) and engines whose socket is elsewhere.
//!
//! For `record --cgroup-parent NAME` see [`parent::CgroupParent`].

pub mod conmon;
pub mod containerd;
pub mod conventions;
pub mod engine;
pub mod parent;

use crate::cgroup::{self, CgroupError, Visit};
use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::cgroup::{Cgroup2Mount, CgroupDir};
pub use conventions::Engine;
pub use engine::{EngineError, EngineSocket};
pub use parent::CgroupParent;

/// How deep the convention search descends below the mount (kubepods systemd paths are 4-5).
const MAX_SEARCH_DEPTH: usize = 10;

/// [`TargetError::Io`] for `action` on `path`, for `map_err`.
pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> TargetError {
    let path = path.to_owned();
    move |source| TargetError::Io {
        action,
        path,
        source,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The v2 hierarchy, or a directory or process in it (not found, not a cgroup).
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("process {pid} is in no cgroup v2 (no `0::` line in /proc/{pid}/cgroup)")]
    PidWithoutCgroup2 { pid: u32 },
    #[error("container {query:?} not found; tried: {}", .tried.join("; "))]
    ContainerNotFound { query: String, tried: Vec<String> },
    #[error("container id prefix {prefix:?} is ambiguous: it matches {}", .candidates.join(", "))]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error(
        "container {id} ({name}) is not running and has no cgroup yet; start it first, or use \
         `record --cgroup-parent` to catch it from its start"
    )]
    ContainerNotRunning { id: String, name: String },
    #[error("asking the {socket} about {query:?}")]
    Engine {
        socket: String,
        query: String,
        #[source]
        source: EngineError,
    },
    #[error("invalid cgroup parent name {name:?}: {reason}")]
    InvalidParentName { name: String, reason: &'static str },
    #[error(
        "another sysallow{holder} is already recording under --cgroup-parent {name}: each \
         container would be recorded twice and the first to stop would remove the parent; stop \
         it first, or use another parent name"
    )]
    ParentBusy { name: String, holder: String },
}

/// What the user asked to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// Absolute (under the v2 mount) or relative to the mount.
    Cgroup(PathBuf),
    Pid(u32),
    /// A full id, a unique id prefix, or a name (names need an engine API).
    Container(String),
}

/// A resolved target: the cgroup to arm and what it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedTarget {
    pub cgroup: CgroupDir,
    pub description: Description,
}

/// What a target is, for the recording and for messages.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Description {
    Cgroup,
    Pid { pid: u32 },
    Container(ContainerInfo),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ContainerInfo {
    /// The full id (64 hex digits).
    pub id: String,
    /// The engine's name, without Docker's leading `/`; `None` where no API was reachable.
    pub name: Option<String>,
    pub engine: Engine,
    pub image: Option<String>,
    /// The container's init on the host, when the API gave it.
    pub init_pid: Option<u32>,
    /// The OCI runtime (`runc`, `crun`, ...), when the API gave it.
    pub oci_runtime: Option<String>,
    /// Started with no-new-privileges (as far as the API says).
    pub no_new_privileges: bool,
}

impl ResolvedTarget {
    /// The target as the Recording describes it (`sysallow_profile::recording::Target`).
    pub fn recording_target(&self) -> sysallow_profile::recording::Target {
        use sysallow_profile::container::Runtime;
        use sysallow_profile::recording::Target as Rec;
        let cgroup = self.cgroup.relative.display().to_string();
        match &self.description {
            Description::Cgroup => Rec::Cgroup {
                path: cgroup,
                pid: None,
            },
            Description::Pid { pid } => Rec::Cgroup {
                path: cgroup,
                pid: Some(*pid),
            },
            Description::Container(c) => Rec::Container {
                id: c.id.clone(),
                name: c.name.clone(),
                engine: Some(c.engine.clone()),
                runtime: c.oci_runtime.as_deref().map(Runtime::from_reported),
                no_new_privileges: c.no_new_privileges,
                cgroup,
            },
        }
    }
}

impl fmt::Display for ResolvedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Description::Cgroup => write!(f, "cgroup {}", self.cgroup.relative.display())?,
            Description::Pid { pid } => {
                write!(f, "pid {pid} in cgroup {}", self.cgroup.relative.display())?
            }
            Description::Container(c) => {
                write!(f, "{} container {}", c.engine, short_id(&c.id))?;
                if let Some(name) = &c.name {
                    write!(f, " ({name})")?;
                }
                write!(f, " in cgroup {}", self.cgroup.relative.display())?;
            }
        }
        write!(f, " [id {}, level {}]", self.cgroup.id, self.cgroup.level)
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Resolves targets against one v2 hierarchy and a list of engine sockets.
#[derive(Clone, Debug)]
pub struct Resolver {
    mount: Cgroup2Mount,
    sockets: Vec<EngineSocket>,
}

impl Resolver {
    /// The v2 mount from mountinfo; engine sockets from `DOCKER_HOST` (or
    /// `/var/run/docker.sock`) and Podman's `/run/podman/podman.sock`.
    pub fn new() -> Result<Self, TargetError> {
        Ok(Resolver {
            mount: Cgroup2Mount::find()?,
            sockets: EngineSocket::from_env(),
        })
    }

    /// A resolver over a given hierarchy and sockets (tests, a private dockerd).
    pub fn with(mount: Cgroup2Mount, sockets: Vec<EngineSocket>) -> Self {
        Resolver { mount, sockets }
    }

    /// Replace the engine sockets tried for `--container`.
    pub fn sockets(mut self, sockets: Vec<EngineSocket>) -> Self {
        self.sockets = sockets;
        self
    }

    pub fn mount(&self) -> &Cgroup2Mount {
        &self.mount
    }

    pub fn resolve(&self, spec: &TargetSpec) -> Result<ResolvedTarget, TargetError> {
        match spec {
            TargetSpec::Cgroup(path) => self.cgroup(path),
            TargetSpec::Pid(pid) => self.pid(*pid),
            TargetSpec::Container(query) => self.container(query),
        }
    }

    /// `--cgroup PATH`: absolute under the mount, or relative to it.
    pub fn cgroup(&self, path: &Path) -> Result<ResolvedTarget, TargetError> {
        let dir = if path.is_absolute() {
            path.to_owned()
        } else {
            self.mount.path.join(path)
        };
        Ok(ResolvedTarget {
            cgroup: self.mount.open(&dir)?,
            description: Description::Cgroup,
        })
    }

    /// `--pid PID`: the process's v2 cgroup.
    pub fn pid(&self, pid: u32) -> Result<ResolvedTarget, TargetError> {
        Ok(ResolvedTarget {
            cgroup: self.pid_cgroup(pid)?,
            description: Description::Pid { pid },
        })
    }

    fn pid_cgroup(&self, pid: u32) -> Result<CgroupDir, TargetError> {
        let cgroup = cgroup::pid_cgroup(pid)?.ok_or(TargetError::PidWithoutCgroup2 { pid })?;
        Ok(self.mount.open(&self.mount.dir_of(&cgroup))?)
    }

    /// `--container ID|NAME`: engine APIs first, then the cgroup path conventions.
    pub fn container(&self, query: &str) -> Result<ResolvedTarget, TargetError> {
        let mut tried = Vec::new();
        for socket in &self.sockets {
            match socket.inspect(query) {
                Ok(found) => return self.target_of_inspected(socket, found),
                Err(EngineError::Status { message, .. })
                    if message.contains("multiple IDs found") =>
                {
                    return Err(self.ambiguous_via_api(socket, query));
                }
                Err(e) if e.is_not_found() => tried.push(format!("{socket}: no such container")),
                Err(e @ (EngineError::NoSocket(_) | EngineError::Connect { .. })) => {
                    tried.push(format!("{}: {e}", socket.engine));
                }
                Err(source) => {
                    return Err(TargetError::Engine {
                        socket: socket.to_string(),
                        query: query.to_owned(),
                        source,
                    });
                }
            }
        }
        match conmon::matching(Path::new("/proc"), query).as_slice() {
            [] => {
                tried.push("conmon (Podman, CRI-O): no running container by that name or id".into())
            }
            [one] => {
                let mut dirs = self.search(&one.id);
                if !dirs.is_empty() {
                    let (_, _, dir) = dirs.remove(0);
                    return Ok(ResolvedTarget {
                        cgroup: self.mount.open(&dir)?,
                        description: Description::Container(one.clone().into()),
                    });
                }
                tried.push(format!("conmon: {} has no cgroup yet", short_id(&one.id)));
            }
            many => {
                return Err(TargetError::AmbiguousPrefix {
                    prefix: query.to_owned(),
                    candidates: many
                        .iter()
                        .map(|c| format!("{} ({})", short_id(&c.id), c.name))
                        .collect(),
                });
            }
        }
        let prefix = query.to_ascii_lowercase();
        if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = self.search(&prefix);
            found.dedup_by(|a, b| a.1 == b.1);
            match found.len() {
                0 => {}
                1 => {
                    let (engine, id, dir) = found.remove(0);
                    return Ok(ResolvedTarget {
                        cgroup: self.mount.open(&dir)?,
                        description: Description::Container(ContainerInfo {
                            id,
                            name: None,
                            engine,
                            image: None,
                            init_pid: None,
                            oci_runtime: None,
                            no_new_privileges: false,
                        }),
                    });
                }
                _ => {
                    return Err(TargetError::AmbiguousPrefix {
                        prefix,
                        candidates: found
                            .into_iter()
                            .map(|(r, id, _)| format!("{r} {}", short_id(&id)))
                            .collect(),
                    });
                }
            }
            tried.push(format!(
                "cgroup v2 tree at {}: no directory {}",
                self.mount.path.display(),
                conventions::DESCRIBED.replace("<id>", &format!("{prefix}*"))
            ));
        } else {
            tried.push(format!(
                "cgroup v2 tree: not searched ({query:?} is not an id; names need an engine API)"
            ));
        }
        Err(TargetError::ContainerNotFound {
            query: query.to_owned(),
            tried,
        })
    }

    fn target_of_inspected(
        &self,
        socket: &EngineSocket,
        found: engine::ContainerJson,
    ) -> Result<ResolvedTarget, TargetError> {
        let info = |init_pid| ContainerInfo {
            id: found.id.clone(),
            name: Some(found.name.clone()).filter(|n| !n.is_empty()),
            engine: socket.engine.clone(),
            image: found.image.clone(),
            init_pid,
            oci_runtime: found.oci_runtime.clone(),
            no_new_privileges: found.no_new_privileges,
        };
        if found.running && found.pid > 0 {
            // The init may exit between inspect and here; then fall back to the paths.
            if let Ok(cgroup) = self.pid_cgroup(found.pid) {
                return Ok(ResolvedTarget {
                    cgroup,
                    description: Description::Container(info(Some(found.pid))),
                });
            }
        }
        let mut dirs = self.search(&found.id);
        if dirs.is_empty() {
            return Err(TargetError::ContainerNotRunning {
                id: found.id.clone(),
                name: found.name.clone(),
            });
        }
        let (_, _, dir) = dirs.remove(0);
        Ok(ResolvedTarget {
            cgroup: self.mount.open(&dir)?,
            description: Description::Container(info(None)),
        })
    }

    fn ambiguous_via_api(&self, socket: &EngineSocket, prefix: &str) -> TargetError {
        let candidates = socket
            .list()
            .map(|all| {
                all.into_iter()
                    .filter(|(id, _)| id.starts_with(prefix))
                    .map(|(id, name)| format!("{} ({name})", short_id(&id)))
                    .collect()
            })
            .unwrap_or_default();
        TargetError::AmbiguousPrefix {
            prefix: prefix.to_owned(),
            candidates,
        }
    }

    /// Every container directory under the mount whose id starts with `prefix`, shallowest
    /// first, sorted by id.
    pub fn search(&self, prefix: &str) -> Vec<(Engine, String, PathBuf)> {
        let mut found = Vec::new();
        cgroup::walk(&self.mount.path, MAX_SEARCH_DEPTH + 1, |path, names| {
            let Some((name, ancestors)) = names.split_last() else {
                return Visit::Descend;
            };
            match conventions::parse_container_dir(ancestors, name) {
                Some((engine, id)) => {
                    if id.starts_with(prefix) {
                        found.push((engine, id, path.to_owned()));
                    }
                    // A container's own sub-cgroups are not containers.
                    Visit::Prune
                }
                None => Visit::Descend,
            }
        });
        found.sort_by(|a, b| {
            (a.1.as_str(), a.2.components().count()).cmp(&(b.1.as_str(), b.2.components().count()))
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_search_finds_one_or_reports_ambiguity() {
        let tmp = tempfile::tempdir().unwrap();
        let a = format!("ab{}", "1".repeat(62));
        let b = format!("ab{}", "2".repeat(62));
        std::fs::create_dir_all(tmp.path().join("docker").join(&a)).unwrap();
        std::fs::create_dir_all(
            tmp.path()
                .join("system.slice")
                .join(format!("docker-{b}.scope")),
        )
        .unwrap();
        let mount = Cgroup2Mount {
            path: tmp.path().to_owned(),
            root: PathBuf::from("/"),
        };
        let resolver = Resolver::with(mount, Vec::new());
        let found = resolver.search("ab1");
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].0.clone(), found[0].1.as_str()),
            (Engine::Docker, a.as_str())
        );
        match resolver.container("ab") {
            Err(TargetError::AmbiguousPrefix { candidates, .. }) => assert_eq!(candidates.len(), 2),
            other => panic!("{other:?}"),
        }
        // Found by convention, but a temp dir is not a cgroup2 file system.
        assert!(matches!(
            resolver.container("AB2"),
            Err(TargetError::Cgroup(CgroupError::NotACgroup { .. }))
        ));
    }
}
