//! `record --cgroup-parent NAME`: a session that arms a parent cgroup (created, or reused),
//! records every container started under it, names each through the engines while it still
//! exists, and removes what it created.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sysallow_profile::recording::Target;

use super::{RecordError, WatchSpec, WatchTarget, Watched, record_watch};
use crate::cgroup::{Cgroup, Cgroup2Mount, CgroupError};
use crate::live::LiveOptions;
use crate::target::{CgroupParent, Description, EngineSocket, TargetError, containerd};

#[derive(Debug, thiserror::Error)]
pub enum ParentError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("recording")]
    Record(#[source] RecordError),
}

/// How the session ends (besides SIGINT/SIGTERM).
pub struct ParentSpec<'a> {
    /// The parent's name, as given to `--cgroup-parent`.
    pub name: &'a str,
    pub duration: Option<Duration>,
    pub live: LiveOptions,
    /// Record capability checks and privileged execs too.
    pub capabilities: bool,
}

/// What a session has to tell its user, as it happens.
#[derive(Debug)]
pub enum ParentEvent<'a> {
    /// The programs are attached: a container started from now on is recorded from its first
    /// syscall. `flag` is the engines' `--cgroup-parent` value.
    Armed { path: &'a Path, flag: &'a str },
    /// Nothing named a container (no engine knew it): its files are named by its id.
    Unnamed { id: &'a str, tried: Vec<String> },
    /// The parent could not be removed.
    NotRemoved(TargetError),
}

impl fmt::Display for ParentEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParentEvent::Armed { path, flag } => write!(
                f,
                "armed {}; start containers with --cgroup-parent={flag} (Ctrl-C to stop)",
                path.display()
            ),
            ParentEvent::Unnamed { id, tried } => write!(
                f,
                "warning: nothing named container {id} (tried: {}); its files are named by its \
                 id",
                tried.join(", ")
            ),
            ParentEvent::NotRemoved(err) => {
                write!(f, "warning: {}", sysallow_profile::error_chain(err))
            }
        }
    }
}

/// The containers a session recorded.
pub struct ParentRecordings {
    /// One per container (child cgroup) seen.
    pub watched: Vec<Watched>,
    /// The engines' `--cgroup-parent` value for this parent.
    pub flag: String,
}

/// Arm the parent, record until the session ends, and remove what was created (also when the
/// recording failed). `tell` hears each [`ParentEvent`].
pub fn record_parent(
    spec: ParentSpec<'_>,
    tell: &dyn Fn(ParentEvent<'_>),
) -> Result<ParentRecordings, ParentError> {
    let mount = Cgroup2Mount::find()?;
    let parent = CgroupParent::create_or_reuse(&mount, spec.name)?;
    let sockets = EngineSocket::from_env();
    let flag = parent.docker_cgroup_parent();
    let armed_path = parent.dir().path.clone();
    // Said only once the programs are attached: a container started after it is recorded from
    // its first syscall.
    let announce = Box::new(|| {
        tell(ParentEvent::Armed {
            path: &armed_path,
            flag: &flag,
        })
    });
    let watch = WatchSpec {
        target: WatchTarget {
            description: Target::Cgroup {
                path: parent.dir().relative.display().to_string(),
                pid: None,
            },
            cgroup: Cgroup::from_dir(parent.dir()),
            boundary: true,
            split: true,
        },
        duration: spec.duration,
        live: spec.live,
        capabilities: spec.capabilities,
    };
    // Name each container through the engine's API while it still exists.
    let describe = |path: &Path| -> Target {
        let child = parent
            .children()
            .ok()
            .and_then(|children| children.into_iter().find(|c| c.cgroup.path == path));
        match child {
            Some(child) => {
                let resolved = parent.identify(&child, &sockets);
                // Nothing is lost without a name: the cgroup is what is recorded.
                if let Description::Container(info) = &resolved.description
                    && info.name.is_none()
                {
                    tell(ParentEvent::Unnamed {
                        id: &info.id,
                        tried: tried_for_names(&sockets, &containerd::state_dirs()),
                    });
                }
                resolved.recording_target()
            }
            None => Target::Cgroup {
                path: path.display().to_string(),
                pid: None,
            },
        }
    };
    let watched = record_watch(watch, announce, describe);
    // Only what sysallow created, and only when the containers are gone.
    if let Err(err) = parent.remove() {
        tell(ParentEvent::NotRemoved(err));
    }
    Ok(ParentRecordings {
        watched: watched.map_err(ParentError::Record)?,
        flag,
    })
}

/// Where a container's name was looked for, in order, for the warning when none was found.
fn tried_for_names(sockets: &[EngineSocket], containerd_dirs: &[PathBuf]) -> Vec<String> {
    let mut tried: Vec<String> = sockets.iter().map(ToString::to_string).collect();
    tried.push("conmon's command line (Podman, CRI-O)".to_owned());
    tried.extend(
        containerd_dirs
            .iter()
            .map(|d| format!("containerd's state in {}", d.display())),
    );
    tried
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_before() {
        let armed = ParentEvent::Armed {
            path: Path::new("/sys/fs/cgroup/unified/p"),
            flag: "/p",
        };
        assert_eq!(
            armed.to_string(),
            "armed /sys/fs/cgroup/unified/p; start containers with --cgroup-parent=/p (Ctrl-C \
             to stop)"
        );
        let tried = tried_for_names(
            &[EngineSocket::docker("/run/d.sock")],
            &[PathBuf::from("/run/containerd")],
        );
        assert_eq!(tried.len(), 3, "{tried:?}");
        assert!(tried[0].contains("/run/d.sock"), "{tried:?}");
        assert_eq!(tried[1], "conmon's command line (Podman, CRI-O)");
        assert_eq!(tried[2], "containerd's state in /run/containerd");
        let unnamed = ParentEvent::Unnamed { id: "abc", tried };
        let text = unnamed.to_string();
        assert!(
            text.starts_with("warning: nothing named container abc (tried: ")
                && text.ends_with(
                    ", conmon's command line (Podman, CRI-O), containerd's state in \
                     /run/containerd); its files are named by its id"
                ),
            "{text}"
        );
    }
}
