//! `record --cgroup-parent NAME`: a v2 directory armed before any container starts, under which
//! containers started with `docker run --cgroup-parent=/NAME` get their cgroups.
//!
//! Checked on a hybrid host (Docker 20.10, runc 1.1.5, cgroupfs driver): with a pre-created
//! `<v2 mount>/NAME`, `docker run --cgroup-parent=/NAME` puts the container at
//! `<v2 mount>/NAME/<id>` (`0::/NAME/<id>` in its init's /proc/PID/cgroup), and runc mirrors
//! `NAME/<id>` in every v1 hierarchy. With the systemd driver the parent must be a slice
//! (`NAME.slice`) and the container sits at `NAME.slice/docker-<id>.scope`; both shapes are
//! recognised by [`conventions::parse_container_dir`].

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::conventions::{self, Engine};
use super::engine::EngineSocket;
use super::{ContainerInfo, Description, ResolvedTarget, TargetError, io_err};
use crate::cgroup::{self, Cgroup2Mount, CgroupDir};

/// A parent cgroup that containers are started under.
#[derive(Debug)]
pub struct CgroupParent {
    mount: Cgroup2Mount,
    name: PathBuf,
    dir: CgroupDir,
    /// The directories this created (outermost first); only these are removed.
    created: Vec<PathBuf>,
    /// Held while this recorder arms the parent: one recorder per parent (see
    /// [`ParentLock`]).
    _lock: ParentLock,
}

/// An exclusive lock on a parent name, `/run/sysallow/parent-NAME.lock` (root's directory,
/// mode 0700), holding the recorder's pid. flock(2) releases it when the recorder ends, also
/// when it is killed, so a dead recorder never blocks the next one.
#[derive(Debug)]
struct ParentLock {
    /// None where this process already holds the lock through another `CgroupParent`.
    file: Option<(fs::File, PathBuf)>,
}

impl Drop for ParentLock {
    /// Remove the lock file while still holding the lock, so none is left behind; a recorder
    /// that opened it meanwhile sees it unlinked after locking and takes a fresh one (`take`).
    fn drop(&mut self) {
        if let Some((_file, path)) = self.file.take() {
            let _ = fs::remove_file(path);
        }
    }
}

impl ParentLock {
    const DIR: &'static str = "/run/sysallow";

    fn take(name: &str) -> Result<ParentLock, TargetError> {
        use std::io::{Seek as _, Write as _};
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = Path::new(Self::DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err("creating", dir))?;
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("parent-{safe}.lock"));
        // The lock file is removed by its holder when done: a file locked after that removal
        // is no longer the one at `path`, so lock again (a few rounds at most in any race).
        loop {
            let (file, locked) = Self::open_and_lock(name, &path)?;
            let Some(mut file) = locked.then_some(file) else {
                return Ok(ParentLock { file: None });
            };
            use std::os::unix::fs::MetadataExt as _;
            let current = fs::symlink_metadata(&path).ok().map(|m| (m.dev(), m.ino()));
            let mine = file.metadata().ok().map(|m| (m.dev(), m.ino()));
            if current.is_none() || current != mine {
                continue;
            }
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "{}", std::process::id());
            return Ok(ParentLock {
                file: Some((file, path)),
            });
        }
    }

    /// Open `path` and try to lock it: (file, true) when locked now, (file, false) when this
    /// process held it already; an error when another recorder holds it.
    fn open_and_lock(name: &str, path: &Path) -> Result<(fs::File, bool), TargetError> {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NOFOLLOW: never through a link someone planted.
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(io_err("opening", path))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } != 0
        {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            // This process holds it already (a parent reused within one recorder).
            if holder == std::process::id().to_string() {
                return Ok((file, false));
            }
            return Err(TargetError::ParentBusy {
                name: name.to_owned(),
                holder: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                },
            });
        }
        Ok((file, true))
    }
}

/// A cgroup found directly under the parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub cgroup: CgroupDir,
    /// The engine and full id when the directory name follows an engine's convention.
    pub container: Option<(Engine, String)>,
}

impl CgroupParent {
    /// Create `<mount>/NAME` (and missing parents), or reuse it if it exists. `NAME` may start
    /// with `/` (as Docker's flag is written) and may be nested (`a/b`); `..` is refused.
    pub fn create_or_reuse(mount: &Cgroup2Mount, name: &str) -> Result<Self, TargetError> {
        let invalid = |reason| TargetError::InvalidParentName {
            name: name.to_owned(),
            reason,
        };
        let trimmed = name.trim_matches('/');
        if trimmed.is_empty() {
            return Err(invalid("it is empty; give a name such as sysallow"));
        }
        let relative = PathBuf::from(trimmed);
        if trimmed.split('/').any(|c| c.is_empty())
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(invalid("use plain path components (no `.`, `..` or `//`)"));
        }
        let lock = ParentLock::take(trimmed)?;
        let mut created = Vec::new();
        let mut dir = mount.path.clone();
        for component in relative.components() {
            dir.push(component);
            match fs::create_dir(&dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    let err = io_err("creating cgroup", &dir)(source);
                    remove_dirs(&created);
                    return Err(err);
                }
            }
        }
        let opened = mount.open(&dir);
        let dir = match opened {
            Ok(dir) => dir,
            Err(e) => {
                remove_dirs(&created);
                return Err(e.into());
            }
        };
        Ok(CgroupParent {
            mount: mount.clone(),
            name: relative,
            dir,
            created,
            _lock: lock,
        })
    }

    /// The parent's cgroup (arm its id at its level).
    pub fn dir(&self) -> &CgroupDir {
        &self.dir
    }

    /// The name as Docker's flag wants it: `/NAME`.
    pub fn docker_cgroup_parent(&self) -> String {
        format!("/{}", self.name.display())
    }

    /// Whether this created the directory (and will remove it).
    pub fn created(&self) -> bool {
        !self.created.is_empty()
    }

    /// The cgroups directly under the parent now (containers appear and vanish: poll).
    pub fn children(&self) -> Result<Vec<Child>, TargetError> {
        let entries = fs::read_dir(&self.dir.path).map_err(io_err("listing", &self.dir.path))?;
        let ancestors: Vec<String> = self
            .dir
            .relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let ancestors: Vec<&str> = ancestors.iter().map(String::as_str).collect();
        let mut children = Vec::new();
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            // Gone between readdir and open: skip it, it will not be recorded anyway.
            let Ok(cgroup) = self.mount.open(&entry.path()) else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            children.push(Child {
                cgroup,
                container: conventions::parse_container_dir(&ancestors, &name),
            });
        }
        children.sort_by(|a, b| a.cgroup.path.cmp(&b.cgroup.path));
        Ok(children)
    }

    /// Describe a child: a container (named through the first engine API that knows its id),
    /// or a plain cgroup. Never fails: the name is a nicety, the cgroup is what is recorded.
    pub fn identify(&self, child: &Child, sockets: &[EngineSocket]) -> ResolvedTarget {
        let known = child.container.as_ref().and_then(|(_, id)| {
            sockets
                .iter()
                .find_map(|s| s.inspect(id).ok().map(|found| (s.engine.clone(), found)))
        });
        // No API answered: Podman's or CRI-O's conmon may name it.
        if known.is_none()
            && let Some((_, id)) = &child.container
            && let Some(found) = super::conmon::by_id(Path::new("/proc"), id)
        {
            return ResolvedTarget {
                cgroup: child.cgroup.clone(),
                description: Description::Container(found.into()),
            };
        }
        // No engine API knows it: containerd's own metadata may (ctr, nerdctl, Kubernetes).
        if known.is_none()
            && let Some(task) =
                super::containerd::find(&super::containerd::state_dirs(), &child.cgroup.relative)
        {
            return ResolvedTarget {
                cgroup: child.cgroup.clone(),
                description: Description::Container(ContainerInfo {
                    id: task.id.clone(),
                    name: Some(task.name()),
                    engine: Engine::Containerd,
                    image: None,
                    init_pid: None,
                    oci_runtime: Some(task.oci_runtime),
                    no_new_privileges: task.no_new_privileges,
                }),
            };
        }
        let Some((engine, id)) = &child.container else {
            return ResolvedTarget {
                cgroup: child.cgroup.clone(),
                description: Description::Cgroup,
            };
        };
        let info = match known {
            Some((engine, found)) => ContainerInfo {
                id: found.id,
                name: Some(found.name).filter(|n| !n.is_empty()),
                engine,
                image: found.image,
                init_pid: Some(found.pid).filter(|&p| p > 0),
                oci_runtime: found.oci_runtime,
                no_new_privileges: found.no_new_privileges,
            },
            None => ContainerInfo {
                id: id.clone(),
                name: None,
                engine: engine.clone(),
                image: None,
                init_pid: None,
                oci_runtime: None,
                no_new_privileges: false,
            },
        };
        ResolvedTarget {
            cgroup: child.cgroup.clone(),
            description: Description::Container(info),
        }
    }

    /// Remove the directories this created, and the copies of them a runtime made in the v1
    /// hierarchies of a hybrid host, when empty. A directory that was there before is left.
    pub fn remove(self) -> Result<(), TargetError> {
        if self.created.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        for dir in self.created.iter().rev() {
            if let Err(source) = remove_with_empty_children(dir)
                && source.kind() != std::io::ErrorKind::NotFound
                && result.is_ok()
            {
                result = Err(io_err("removing cgroup", dir)(source));
            }
        }
        // The same relative paths under each v1 mount, innermost first; busy ones stay.
        for v1 in cgroup::cgroup1_mounts() {
            for dir in self.created.iter().rev() {
                if let Ok(relative) = dir.strip_prefix(&self.mount.path) {
                    let _ = remove_with_empty_children(&v1.join(relative));
                }
            }
        }
        result
    }
}

/// rmdir `dir` after its empty sub-cgroups, deepest first. Engines leave empty cgroups in the
/// parent they were given: Podman (cgroupfs manager, hybrid host) makes `<parent>/conmon` in
/// each v1 hierarchy for its monitor and never removes it (measured, Podman 4.3.1). A cgroup
/// with a process in it cannot be removed, so nothing in use goes.
fn remove_with_empty_children(dir: &Path) -> std::io::Result<()> {
    for sub in cgroup::tree(dir).iter().skip(1).rev() {
        let _ = fs::remove_dir(sub);
    }
    fs::remove_dir(dir)
}

fn remove_dirs(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}
