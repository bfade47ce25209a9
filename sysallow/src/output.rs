//! Output files: written atomically (never a half-written file), checked before the workload
//! runs, and owned by the user who asked for them.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The user outputs belong to: the one who ran `sudo sysallow ...`. sysallow writes as root,
/// so it checks first that this user could have written each output themselves: it never
/// writes through a symlink the user planted toward a file or directory they could not write.
#[derive(Clone, Debug)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Owner {
    /// Whether the mode bits of `meta` grant this user all of `want` (`0o2` write, `0o1`
    /// search/execute), as the kernel decides for a non-root user (ACLs aside).
    fn may(&self, meta: &std::fs::Metadata, want: u32) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        let mode = meta.mode();
        let bits = if meta.uid() == self.uid {
            mode >> 6
        } else if meta.gid() == self.gid || self.groups.contains(&meta.gid()) {
            mode >> 3
        } else {
            mode
        };
        bits & want == want
    }

    /// Create directory `path` and any missing parents, as this user could: the deepest
    /// existing ancestor must be theirs to write, and what is created is given to them.
    pub fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        let mut existing = path;
        while !existing.exists() {
            missing.push(existing.to_owned());
            existing = dir_of(existing);
        }
        if missing.is_empty() {
            return Ok(());
        }
        // The first missing directory is created in `existing`: as a file would be.
        self.resolve(missing.last().map_or(path, PathBuf::as_path))?;
        for dir in missing.iter().rev() {
            std::fs::create_dir(dir)?;
            std::os::unix::fs::chown(dir, Some(self.uid), Some(self.gid))?;
        }
        Ok(())
    }

    /// Where to write `path` for this user: the path itself, or where its symlink points when
    /// the user may write there; an error when they could not have written it themselves.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        use std::os::unix::fs::MetadataExt as _;
        let denied = |what: String| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{what}, which uid {} (who ran sudo) may not write; sysallow writes only \
                     what that user could",
                    self.uid
                ),
            )
        };
        let target = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path)
                .map_err(|_| denied(format!("{} is a symlink to nothing", path.display())))?,
            _ => path.to_owned(),
        };
        let dir = std::fs::canonicalize(dir_of(&target))?;
        // The user must be able to reach the directory, as the kernel checks a path.
        for above in dir.ancestors().skip(1) {
            if !self.may(&std::fs::metadata(above)?, 0o1) {
                return Err(denied(format!(
                    "{} is below {}",
                    path.display(),
                    above.display()
                )));
            }
        }
        let dir_meta = std::fs::metadata(&dir)?;
        if !self.may(&dir_meta, 0o3) {
            return Err(denied(if target == path {
                format!("{} is in {}", path.display(), dir.display())
            } else {
                format!(
                    "{} is a symlink to {}, in {}",
                    path.display(),
                    target.display(),
                    dir.display()
                )
            }));
        }
        if let Ok(meta) = std::fs::metadata(&target) {
            // Replacing a file: in a sticky directory (/tmp) only its owner (or the
            // directory's) may; a symlink's destination must be writable by the user.
            let sticky = dir_meta.mode() & 0o1000 != 0;
            let owns = meta.uid() == self.uid || dir_meta.uid() == self.uid;
            if (sticky && !owns) || (target != path && !self.may(&meta, 0o2)) {
                return Err(denied(format!(
                    "{} leads to {}",
                    path.display(),
                    target.display()
                )));
            }
        }
        Ok(target)
    }
}

/// The directory a file `path` is created in (`.` for a bare name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Where data goes: a file (`-o FILE`) or stdout (`-o -`).
pub enum Output {
    Stdout,
    File {
        path: PathBuf,
        temp: NamedTempFile,
        owner: Option<(u32, u32)>,
    },
}

impl Output {
    /// Prepare `path` for writing: the temporary file beside it is created now, so a path that
    /// cannot be written fails before any work is done. `owner` gets the file, and `path` must
    /// be one that user could have written (see [`Owner`]).
    pub fn prepare(path: &Path, owner: Option<&Owner>) -> Result<Output, OutputError> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout);
        }
        let create = |source| OutputError::Create {
            path: path.to_owned(),
            source,
        };
        let resolved;
        let path = match owner {
            Some(owner) => {
                resolved = owner.resolve(path).map_err(create)?;
                resolved.as_path()
            }
            None => path,
        };
        if path.is_dir() {
            return Err(create(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        let dir = dir_of(path);
        let name = path
            .file_name()
            .map(|n| format!(".{}.", n.to_string_lossy()))
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&name)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(create)?;
        Ok(Output::File {
            path: path.to_owned(),
            temp,
            owner: owner.map(|o| (o.uid, o.gid)),
        })
    }

    /// Write `contents` and put the file in place (rename over the target).
    pub fn commit(self, contents: &str) -> Result<(), OutputError> {
        match self {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(contents.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|source| OutputError::Write {
                        path: PathBuf::from("-"),
                        source,
                    })
            }
            Output::File {
                path,
                mut temp,
                owner,
            } => {
                let write = |source| OutputError::Write {
                    path: path.clone(),
                    source,
                };
                temp.write_all(contents.as_bytes()).map_err(write)?;
                temp.as_file().sync_all().map_err(write)?;
                // Readable like any file the user would have created (tempfile makes 0600).
                let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
                temp.as_file().set_permissions(mode).map_err(write)?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::fchown(temp.as_file(), Some(uid), Some(gid))
                        .map_err(write)?;
                }
                temp.persist(&path).map_err(|e| write(e.error))?;
                Ok(())
            }
        }
    }
}
