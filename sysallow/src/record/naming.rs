//! File names for the outputs of `record --cgroup-parent`: one profile and one recording per
//! container, named after it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sysallow_profile::recording::Target;

/// Names the files of each container recorded under one parent, in one directory: never the
/// same name twice.
#[derive(Debug)]
pub struct ContainerFiles {
    dir: PathBuf,
    used: BTreeSet<String>,
}

/// The two files of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePair {
    /// `<dir>/<stem>.json`
    pub profile: PathBuf,
    /// `<dir>/<stem>.rec.json`
    pub recording: PathBuf,
}

impl ContainerFiles {
    pub fn new(dir: &Path) -> Self {
        ContainerFiles {
            dir: dir.to_owned(),
            used: BTreeSet::new(),
        }
    }

    /// The files for the recording of `target`, found in the child cgroup `cgroup`.
    pub fn next(&mut self, target: &Target, cgroup: &Path) -> FilePair {
        let stem = self.stem(target, cgroup);
        FilePair {
            profile: self.dir.join(format!("{stem}.json")),
            recording: self.dir.join(format!("{stem}.rec.json")),
        }
    }

    /// A file name for one container's outputs: its name, else its short id (else the
    /// cgroup's directory name), with anything but `[A-Za-z0-9._-]` made `_`, and `-2`, `-3`,
    /// ... added to a name already given.
    pub fn stem(&mut self, target: &Target, cgroup: &Path) -> String {
        let base = match target {
            Target::Container {
                name: Some(name), ..
            } => name.trim_start_matches('/').to_owned(),
            Target::Container { id, .. } => id.chars().take(12).collect(),
            _ => cgroup
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "cgroup".to_owned()),
        };
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut stem = base.clone();
        let mut n = 2;
        while !self.used.insert(stem.clone()) {
            stem = format!("{base}-{n}");
            n += 1;
        }
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, name: Option<&str>) -> Target {
        Target::Container {
            id: id.to_owned(),
            name: name.map(str::to_owned),
            engine: Some("docker".into()),
            runtime: None,
            no_new_privileges: false,
            cgroup: format!("/p/{id}"),
        }
    }

    #[test]
    fn names_a_container_by_name_else_short_id_else_cgroup() {
        let mut files = ContainerFiles::new(Path::new("out"));
        let id = "0123456789abcdef0123";
        assert_eq!(
            files.next(&container(id, Some("/web")), Path::new("/p/x")),
            FilePair {
                profile: PathBuf::from("out/web.json"),
                recording: PathBuf::from("out/web.rec.json"),
            }
        );
        assert_eq!(
            files.stem(&container(id, None), Path::new("/p/x")),
            "0123456789ab"
        );
        let cgroup = Target::Cgroup {
            path: "(cgroup id 7)".to_owned(),
            pid: None,
        };
        assert_eq!(files.stem(&cgroup, Path::new("/p/cgroup-7")), "cgroup-7");
        assert_eq!(files.stem(&cgroup, Path::new("/")), "cgroup");
    }

    #[test]
    fn names_are_sanitized() {
        let mut files = ContainerFiles::new(Path::new("."));
        let stem = files.stem(&container("ab", Some("../a b/ç:x")), Path::new("/p"));
        assert_eq!(stem, ".._a_b___x");
        assert!(!stem.contains('/'));
    }

    #[test]
    fn names_are_never_reused() {
        let mut files = ContainerFiles::new(Path::new("d"));
        let web = container("aa", Some("web"));
        assert_eq!(files.stem(&web, Path::new("/p")), "web");
        assert_eq!(files.stem(&web, Path::new("/p")), "web-2");
        assert_eq!(files.stem(&web, Path::new("/p")), "web-3");
        // Two names that sanitize alike do not share files either.
        assert_eq!(
            files.stem(&container("bb", Some("a/b")), Path::new("/p")),
            "a_b"
        );
        assert_eq!(
            files.stem(&container("cc", Some("a:b")), Path::new("/p")),
            "a_b-2"
        );
        // A later name equal to a suffixed one gets its own suffix.
        assert_eq!(
            files.stem(&container("dd", Some("web-2")), Path::new("/p")),
            "web-2-2"
        );
    }
}
