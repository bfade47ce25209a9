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
    /// cannot be written fails before any work is done. `owner` (uid, gid) gets the file.
    pub fn prepare(path: &Path, owner: Option<(u32, u32)>) -> Result<Output, OutputError> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout);
        }
        let create = |source| OutputError::Create {
            path: path.to_owned(),
            source,
        };
        if path.is_dir() {
            return Err(create(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
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
            owner,
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
