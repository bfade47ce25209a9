//! Naming Podman's (and CRI-O's) containers when no API socket answers: both engines start
//! each container under conmon, their container monitor, and conmon's command line carries
//! what `podman inspect` would say of it: `-c ID`, `-n NAME`, `-r RUNTIME` (the OCI runtime's
//! path) and `-b BUNDLE`, whose `config.json` has `process.noNewPrivileges` and the
//! `io.container.manager` annotation (`libpod` for Podman, `cri-o` for CRI-O). Measured on
//! Podman 4.3.1 with conmon 2.1.6.
//!
//! conmon lives as long as its container, and is started before the runtime creates the
//! container's cgroup: a container is named from its first syscall, as through an API. This
//! needs neither Podman's boltdb state nor a `podman` binary configured with the same storage
//! as the one that started the container.

use std::path::Path;

use super::conventions::Engine;

/// A container as its conmon describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Monitored {
    pub id: String,
    pub name: String,
    pub engine: Engine,
    /// The runtime binary's file name (`runc`, `crun`).
    pub oci_runtime: Option<String>,
    pub no_new_privileges: bool,
}

/// conmon's options that matter here, short and long (GLib option syntax: `-c ID`,
/// `--cid ID`, `--cid=ID`).
#[derive(Default)]
struct Options {
    cid: Option<String>,
    name: Option<String>,
    runtime: Option<String>,
    bundle: Option<String>,
}

/// conmon's options whose value is an argument of another program (Podman passes its own
/// `--runtime runc` as `--exit-command-arg --runtime --exit-command-arg runc`): skipped.
const FOREIGN_ARGUMENTS: [&str; 3] = ["--exit-command-arg", "--runtime-arg", "--runtime-opt"];

fn parse(args: &[String]) -> Options {
    let mut options = Options::default();
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((key, value)) if key.starts_with("--") => (key, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let slot = match key {
            "-c" | "--cid" => &mut options.cid,
            "-n" | "--name" => &mut options.name,
            "-r" | "--runtime" => &mut options.runtime,
            "-b" | "--bundle" => &mut options.bundle,
            _ if FOREIGN_ARGUMENTS.contains(&key) => {
                if inline.is_none() {
                    args.next();
                }
                continue;
            }
            _ => continue,
        };
        let value = inline.or_else(|| args.next().cloned());
        // The first wins: conmon's own, not one repeated later.
        if slot.is_none() {
            *slot = value;
        }
    }
    options
}

/// The containers of every conmon running now, read from `proc` (`/proc`).
pub fn monitored(proc: &Path) -> Vec<Monitored> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        // comm first: one small read per process, the command line only for conmon.
        if !is_pid
            || std::fs::read_to_string(dir.join("comm")).map_or(true, |c| c.trim() != "conmon")
        {
            continue;
        }
        let Ok(raw) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(container) = describe(parse(&args)) {
            found.push(container);
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|a, b| a.id == b.id);
    found
}

fn describe(options: Options) -> Option<Monitored> {
    let id = options.cid?;
    let config: serde_json::Value = options
        .bundle
        .and_then(|b| std::fs::read(Path::new(&b).join("config.json")).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let engine = match config
        .pointer("/annotations/io.container.manager")
        .and_then(|v| v.as_str())
    {
        Some("cri-o") => Engine::CriO,
        // Podman's conmon when the bundle is unreadable too: CRI-O always annotates.
        _ => Engine::Podman,
    };
    Some(Monitored {
        name: options.name.unwrap_or_else(|| id.clone()),
        id,
        engine,
        oci_runtime: options.runtime.map(|r| {
            Path::new(&r)
                .file_name()
                .map_or_else(|| r.clone(), |n| n.to_string_lossy().into_owned())
        }),
        no_new_privileges: config
            .pointer("/process/noNewPrivileges")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
    })
}

impl From<Monitored> for super::ContainerInfo {
    fn from(c: Monitored) -> Self {
        super::ContainerInfo {
            id: c.id,
            name: Some(c.name),
            engine: c.engine,
            image: None,
            init_pid: None,
            oci_runtime: c.oci_runtime,
            no_new_privileges: c.no_new_privileges,
        }
    }
}

/// The running container with this full id.
pub fn by_id(proc: &Path, id: &str) -> Option<Monitored> {
    monitored(proc).into_iter().find(|c| c.id == id)
}

/// The running containers a user's query names: by name exactly, else by id prefix.
pub fn matching(proc: &Path, query: &str) -> Vec<Monitored> {
    let all = monitored(proc);
    let by_name: Vec<Monitored> = all.iter().filter(|c| c.name == query).cloned().collect();
    if !by_name.is_empty() {
        return by_name;
    }
    all.into_iter()
        .filter(|c| c.id.starts_with(query))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc/PID` with `comm` and a NUL-separated `cmdline`.
    fn process(proc: &Path, pid: u32, comm: &str, args: &[&str]) {
        let dir = proc.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        let mut cmdline = args.join("\0");
        cmdline.push('\0');
        std::fs::write(dir.join("cmdline"), cmdline).unwrap();
    }

    #[test]
    fn names_containers_from_conmon_command_lines_and_bundles() {
        let tmp = tempfile::tempdir().unwrap();
        let proc = tmp.path().join("proc");
        let bundle = tmp.path().join("userdata");
        std::fs::create_dir_all(&bundle).unwrap();
        // What Podman 4.3.1 wrote for `podman run --security-opt no-new-privileges`.
        std::fs::write(
            bundle.join("config.json"),
            r#"{"process":{"noNewPrivileges":true},
                "annotations":{"io.container.manager":"libpod"}}"#,
        )
        .unwrap();
        let id = "c0638d273e01dd44928c9229b7429389690e78036d84ac6a6546f4caa899e418";
        let bundle = bundle.to_string_lossy().into_owned();
        // As measured (abridged): `ps` of a running Podman container's conmon.
        process(
            &proc,
            4242,
            "conmon",
            &[
                "/usr/bin/conmon",
                "--api-version",
                "1",
                "-c",
                id,
                "-u",
                id,
                "-r",
                "/usr/bin/runc",
                "-b",
                &bundle,
                "-n",
                "sleeper",
                "--exit-dir",
                "/run/libpod/exits",
                "--exit-command-arg",
                "--runtime",
                "--exit-command-arg",
                "crun",
                "--exit-command-arg=--name",
                "--exit-command-arg",
                "other",
            ],
        );
        // Long forms and no bundle; then a process that is not conmon.
        process(
            &proc,
            77,
            "conmon",
            &[
                "conmon",
                "--cid=abcd",
                "--name",
                "web",
                "--runtime=/usr/bin/crun",
            ],
        );
        process(&proc, 78, "sh", &["conmon", "-c", "ffff", "-n", "fake"]);
        std::fs::create_dir_all(proc.join("self")).unwrap();

        let sleeper = by_id(&proc, id).unwrap();
        assert_eq!(
            sleeper,
            Monitored {
                id: id.to_owned(),
                name: "sleeper".to_owned(),
                engine: Engine::Podman,
                oci_runtime: Some("runc".to_owned()),
                no_new_privileges: true,
            }
        );
        let web = matching(&proc, "web");
        assert_eq!(web.len(), 1);
        assert_eq!(
            (web[0].id.as_str(), web[0].oci_runtime.as_deref()),
            ("abcd", Some("crun"))
        );
        assert!(!web[0].no_new_privileges);
        assert_eq!(matching(&proc, "c063").len(), 1);
        assert!(matching(&proc, "fake").is_empty());
        assert!(by_id(&proc, "ffff").is_none());
    }
}
