//! `sysallow agent` in the background against a [`Node`], and reading what it wrote.
//!
//! The contract the tests hold it to (issue 18):
//! `sysallow agent --runtime-endpoint unix://SOCK --output-dir DIR --kubelet-seccomp-dir KDIR
//! --cgroup-root ROOT --stable-after 2s --node NAME [...]`, SIGINT ends it after flushing; it logs
//! `sysallow agent: wrote <ns>/<workload>/<container> (<n> syscalls) -> <path>` per write, and
//! writes under DIR `recordings/<ns>/<workload>/<container>/<node>-<pod>-<id12>.rec.json`
//! (instances), `recordings/<ns>/<workload>/<container>.<node>.rec.json` (merged),
//! `manifests/<ns>/<workload>-<container>.{seccompprofile,securitycontext}.yaml`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Node;
use super::kubelet::Kubelet;
use crate::common::harness;

impl crate::macros::Need {
    /// The binary under test has the `agent` subcommand: `require!(cri, agent)`. (It skips
    /// visibly, or fails in CI, on a tree where the subcommand is not built.)
    pub fn agent() -> crate::macros::Need {
        crate::macros::Need::that(
            "the `sysallow agent` subcommand",
            crate::common::sysallow()
                .args(["agent", "--help"])
                .output()
                .is_ok_and(|o| o.status.success()),
        )
    }
}

/// The variable naming another sysallow binary to run as the agent.
pub const AGENT_BINARY: &str = "SYSALLOW_AGENT_BINARY";

/// How long the agent may take to arm, or to write what a test waits for.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `sysallow agent`; killed (by its pid) if the test fails.
pub struct Agent {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    pub output_dir: PathBuf,
    pub kubelet_seccomp_dir: PathBuf,
    pub node_name: String,
}

impl Agent {
    /// Start the agent on `kubelet`'s node, writing to `output_dir` and `kubelet_seccomp_dir`
    /// as node `node_name`, with `extra` flags (`--namespace`, `--selector`, ...); returns once
    /// it says it is armed.
    pub fn start(
        kubelet: &Kubelet<'_>,
        output_dir: &Path,
        kubelet_seccomp_dir: &Path,
        node_name: &str,
        extra: &[&str],
    ) -> Agent {
        let node: &Node = kubelet.node();
        // Another build of sysallow (a release one, for CPU figures: `agent_scale.rs`), else
        // the one under test.
        let binary = std::env::var_os(AGENT_BINARY)
            .map(PathBuf::from)
            .unwrap_or_else(crate::common::sysallow_path);
        let mut child = std::process::Command::new(binary)
            .arg("agent")
            .args(["--runtime-endpoint", &node.endpoint()])
            .arg("--output-dir")
            .arg(output_dir)
            .arg("--kubelet-seccomp-dir")
            .arg(kubelet_seccomp_dir)
            .args(["--cgroup-root", &kubelet.kubepods()])
            .args(["--stable-after", "2s", "--node", node_name])
            .args(extra)
            // The runtime's task bundles, where a container gone before CRI lists it is named.
            .env("SYSALLOW_CONTAINERD_STATE", node.state())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sysallow agent");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let name = node_name.to_owned();
        // Drained all along (shown with the test's output), so the agent never blocks on a
        // full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent {name}] {line}");
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let mut agent = Agent {
            child: Some(child),
            lines,
            output_dir: output_dir.to_path_buf(),
            kubelet_seccomp_dir: kubelet_seccomp_dir.to_path_buf(),
            node_name: node_name.to_owned(),
        };
        agent.wait_for(AGENT_TIMEOUT, |lines| {
            lines.iter().any(|l| l.starts_with("sysallow agent: armed"))
        });
        agent
    }

    /// Its process id (for /proc: its memory, CPU time and maps).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its stderr so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wait (bounded) until `done` holds of its stderr; panics with it otherwise, or when the
    /// agent ended.
    fn wait_for(&mut self, timeout: Duration, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lines()) {
                return;
            }
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("waiting") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "sysallow agent ended ({status}):\n{}",
                    self.lines().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "sysallow agent: not done after {timeout:?}:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `wrote` lines for `ns/workload/container`: (syscalls, localhost path) each.
    pub fn writes(&self, what: &str) -> Vec<(usize, PathBuf)> {
        self.lines()
            .iter()
            .filter_map(|l| parse_wrote(l))
            .filter(|(w, _, _)| w == what)
            .map(|(_, n, path)| (n, path))
            .collect()
    }

    /// Wait until `ns/workload/container` has `n` instance recordings on disk, and the agent
    /// has written the workload from them: its merged recording for this node is newer than
    /// every instance, and it said `wrote` (one write may cover several instances).
    pub fn wait_for_instances(&mut self, ns: &str, workload: &str, container: &str, n: usize) {
        let workload_dir = self.output_dir.join("recordings").join(ns).join(workload);
        let dir = workload_dir.join(container);
        let merged = workload_dir.join(format!("{container}.{}.rec.json", self.node_name));
        let what = format!("{ns}/{workload}/{container}");
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let deadline = Instant::now() + AGENT_TIMEOUT;
        loop {
            let instances = rec_files(&dir);
            let newest = instances.iter().filter_map(|p| mtime(p)).max();
            let written = !self.writes(&what).is_empty()
                && mtime(&merged).is_some_and(|m| newest.is_some_and(|i| m >= i));
            if instances.len() >= n && written {
                return;
            }
            let child = self.child.as_mut().expect("running");
            assert!(
                child.try_wait().expect("waiting").is_none() && Instant::now() < deadline,
                "{what}: {} of {n} instance recordings, merged written after them: {written}:\n{}",
                instances.len(),
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT it and wait for it to flush and end; its exit status.
    pub fn interrupt(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        harness::signal(child.id() as i32, libc::SIGINT);
        if harness::wait_child(&mut child, AGENT_TIMEOUT) {
            child.wait().expect("waiting for the agent")
        } else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sysallow agent did not end within {AGENT_TIMEOUT:?} of SIGINT:\n{}",
                self.lines().join("\n")
            );
        }
    }

    /// SIGKILL it (a crash: nothing is flushed).
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `sysallow agent: wrote NS/WORKLOAD/CONTAINER (N syscalls) -> PATH`.
pub fn parse_wrote(line: &str) -> Option<(String, usize, PathBuf)> {
    let rest = line.strip_prefix("sysallow agent: wrote ")?;
    let (what, rest) = rest.split_once(" (")?;
    let (n, rest) = rest.split_once(" syscalls) -> ")?;
    Some((what.to_owned(), n.parse().ok()?, PathBuf::from(rest.trim())))
}

/// The `.rec.json` files in `dir` (not below it), sorted.
pub fn rec_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".rec.json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Every file below `dir`, relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrote_line_is_read() {
        assert_eq!(
            parse_wrote(
                "sysallow agent: wrote shop/web/client (42 syscalls) -> /k/profiles/sysallow/shop/web/client.json"
            ),
            Some((
                "shop/web/client".to_owned(),
                42,
                PathBuf::from("/k/profiles/sysallow/shop/web/client.json")
            ))
        );
        assert_eq!(
            parse_wrote("sysallow agent: armed /sys/fs/cgroup/kubepods"),
            None
        );
    }
}
