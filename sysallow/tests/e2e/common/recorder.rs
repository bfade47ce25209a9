//! A `sysallow record` of containers running in the background, and reading what it wrote:
//! shared by the runc and crun container tests.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sysallow_profile::Recording;

use super::docker::Dockerd;

/// The runtime's set-up calls (FIELD-NOTES: runc's init made these in the container's cgroup
/// before installing the filter); none may reach a profile unless the workload made them.
pub const SETUP_ONLY: &[&str] = &[
    "mount",
    "umount2",
    "pivot_root",
    "sethostname",
    "unshare",
    "keyctl",
    "mknodat",
    "symlinkat",
];

/// A `sysallow record` running in the background; killed if the test fails.
pub struct Recorder {
    child: Option<Child>,
}

impl Recorder {
    /// Start `sysallow record ARGS` and wait until it says it is armed.
    pub fn start(dockerd: &Dockerd, args: &[&str]) -> Recorder {
        Recorder::start_with(dockerd, args, &[])
    }

    /// `start`, with more environment (e.g. `SYSALLOW_ATTACH`).
    pub fn start_with(dockerd: &Dockerd, args: &[&str], env: &[(&str, &str)]) -> Recorder {
        let host = dockerd.host();
        let mut env = env.to_vec();
        env.push(("DOCKER_HOST", &host));
        Recorder::start_env(args, &env)
    }

    /// `sysallow record ARGS` with `env` and no engine of ours (e.g. containerd's containers).
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Recorder {
        let mut child = super::sysallow()
            .arg("record")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sysallow record");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut stderr = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("armed") || line.contains("recording ");
                    stderr.push(line);
                    if ready {
                        break;
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sysallow record ended early:\n{}", stderr.join("\n"));
                }
            }
        }
        // Keep draining stderr (shown with the test's output) so the recorder never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[sysallow] {line}");
            }
        });
        Recorder { child: Some(child) }
    }

    /// Wait (bounded) for the recorder to end by itself; its exit status.
    pub fn wait(mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                return status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sysallow record did not end within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C the recorder and wait for it to write its outputs.
    pub fn interrupt(self) -> std::process::ExitStatus {
        let pid = self.child.as_ref().expect("running").id();
        // SAFETY: signalling the child we started, by its pid.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        self.wait(Duration::from_secs(60))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn read_recording(path: &Path) -> Recording {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Recording::from_json(&text).unwrap()
}

/// The README's last step for containers: `sysallow merge` the runs' recordings into
/// `merged`, then `sysallow generate` it into `profile` (panics with stderr if either fails).
pub fn merge_and_generate(recordings: &[PathBuf], merged: &Path, profile: &Path) {
    let m = super::sysallow()
        .arg("merge")
        .args(recordings)
        .arg("-o")
        .arg(merged)
        .output()
        .expect("running sysallow merge");
    super::assert_success(&m);
    let g = super::sysallow()
        .arg("generate")
        .arg(merged)
        .arg("-o")
        .arg(profile)
        .output()
        .expect("running sysallow generate");
    super::assert_success(&g);
}

pub fn profile_names(path: &Path) -> Vec<String> {
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names: Vec<String> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|r| r["names"].as_array().unwrap().iter())
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}
