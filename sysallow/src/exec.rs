//! Finding and starting a program as a shell would, the one way `record -- CMD` and
//! `run -- CMD` both use: one PATH search (with one default PATH), one executable check, and
//! the argv/envp arrays `execve` needs, built before a fork or before a filter is loaded
//! (afterwards nothing may be allocated).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The PATH searched when the environment has none (what a login shell starts with).
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Why a program cannot be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No such file (a path), or no such name on PATH: a shell says 127.
    NotFound { reason: &'static str },
    /// Found, but not an executable file: a shell says 126.
    NotExecutable { path: PathBuf, reason: String },
}

/// Find `program`: a name with a `/` is a path; otherwise the first executable file of that
/// name on `$PATH` (an empty entry is the current directory).
pub fn find_program(program: &OsStr) -> Result<PathBuf, Lookup> {
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        if !path.exists() {
            return Err(Lookup::NotFound {
                reason: "No such file or directory",
            });
        }
        return match executable_file(&path) {
            Ok(()) => Ok(path),
            Err(reason) => Err(Lookup::NotExecutable { path, reason }),
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| OsString::from(DEFAULT_PATH));
    let mut denied = None;
    for dir in search.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        if !candidate.exists() {
            continue;
        }
        match executable_file(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(reason) => {
                denied.get_or_insert((candidate, reason));
            }
        }
    }
    match denied {
        Some((path, reason)) => Err(Lookup::NotExecutable { path, reason }),
        None => Err(Lookup::NotFound {
            reason: "command not found",
        }),
    }
}

/// Whether `path` is a file this process may execute.
fn executable_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        return Err("Is a directory".into());
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0
        || meta.permissions().mode() & 0o111 == 0
    {
        return Err("Permission denied".into());
    }
    Ok(())
}

/// Everything `execve` needs, as C strings.
#[derive(Debug)]
pub struct ExecImage {
    pub path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

/// An argument, the path or an environment entry with a NUL byte in it: what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HasNul(pub String);

impl ExecImage {
    /// `path` run with `argv` (argv[0] included) and the environment `env`.
    pub fn new(
        path: &Path,
        argv: &[OsString],
        env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<ExecImage, HasNul> {
        let c = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| HasNul(String::from_utf8_lossy(bytes).into_owned()))
        };
        let mut envp = Vec::new();
        for (k, v) in env {
            let mut entry = k.into_encoded_bytes();
            entry.push(b'=');
            entry.extend(v.into_encoded_bytes());
            envp.push(c(&entry)?);
        }
        Ok(ExecImage {
            path: c(path.as_os_str().as_bytes())?,
            argv: argv
                .iter()
                .map(|a| c(a.as_bytes()))
                .collect::<Result<_, _>>()?,
            envp,
        })
    }

    /// The NULL-terminated pointer arrays; `self` must outlive them.
    pub fn pointers(&self) -> ExecPointers {
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        ExecPointers {
            argv: ptrs(&self.argv),
            envp: ptrs(&self.envp),
        }
    }
}

/// Pointer arrays for `execve`, into an [`ExecImage`].
pub struct ExecPointers {
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_like_a_shell() {
        assert!(find_program(OsStr::new("sh")).is_ok());
        assert_eq!(
            find_program(OsStr::new("sysallow-no-such-command")),
            Err(Lookup::NotFound {
                reason: "command not found"
            })
        );
        assert_eq!(
            find_program(OsStr::new("/no/such/file")),
            Err(Lookup::NotFound {
                reason: "No such file or directory"
            })
        );
        assert!(matches!(
            find_program(OsStr::new("/etc/passwd")),
            Err(Lookup::NotExecutable { .. })
        ));
        assert!(matches!(
            find_program(OsStr::new("/tmp/")),
            Err(Lookup::NotExecutable { .. })
        ));
    }

    #[test]
    fn exec_images_hold_nul_terminated_arrays() {
        let image = ExecImage::new(
            Path::new("/bin/true"),
            &[OsString::from("true")],
            [(OsString::from("A"), OsString::from("b"))],
        )
        .unwrap();
        let p = image.pointers();
        assert_eq!((p.argv.len(), p.envp.len()), (2, 2));
        assert!(p.argv[1].is_null() && p.envp[1].is_null());
        assert!(ExecImage::new(Path::new("/bin/true"), &[OsString::from("a\0b")], []).is_err());
    }
}
