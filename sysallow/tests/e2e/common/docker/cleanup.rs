//! Stopping a test daemon and leaving nothing behind: its processes, mounts, cgroups and
//! state, also when a test panicked.

use super::*;
use crate::common::harness::{
    cgroup2_mount, cmdline, kill_cgroup_tree, processes_mentioning, unmount_all_under,
};

impl Dockerd {
    /// Stop everything now (what `Drop` does), and report what could not be cleaned.
    pub fn stop(mut self) -> Vec<String> {
        self.cleanup()
    }

    pub(super) fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        // 1. Containers, while the daemon still answers.
        if self.child.is_some() && self.socket.exists() {
            let ps = self.docker_with_timeout(&["ps", "-aq"], Duration::from_secs(20));
            let ids: Vec<&str> = ps.stdout.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let out = self.docker_with_timeout(&args, Duration::from_secs(60));
                if !out.status.success() {
                    problems.push(format!("removing containers: {out}"));
                }
            }
        }
        // 2. The daemon: SIGTERM, then SIGKILL after a timeout. It stops its containerd.
        if let Some(mut child) = self.child.take() {
            signal(self.pid, libc::SIGTERM);
            if !wait_child(&mut child, STOP_TIMEOUT) {
                problems.push(format!("dockerd {} ignored SIGTERM; killed", self.pid));
                signal(self.pid, libc::SIGKILL);
                let _ = child.wait();
            }
        }
        // 3. Whatever it started that outlived it (its containerd, shims): found by our root
        //    in their command line, then what is left in our cgroups.
        let root = self.root.to_string_lossy().into_owned();
        let strays = processes_mentioning(&root);
        for &pid in &strays {
            problems.push(format!("killing leftover process {pid} ({})", cmdline(pid)));
            signal(pid, libc::SIGKILL);
        }
        if let Some(crun) = &self.crun {
            problems.extend(crun.kill_leftovers(&strays));
        }
        let v2 = cgroup2_mount();
        if let Some(v2) = &v2 {
            kill_cgroup_tree(
                &v2.join(&self.cgroup_parent),
                self.cgroup_parent != "docker",
            );
        }
        // 4. Mounts under the root (overlay2 layers, shm, netns), innermost first.
        problems.extend(unmount_all_under(&self.root));
        // 5. Cgroups it created, in v2 and each v1 hierarchy. Docker's shared `/docker` may
        //    be in use by another daemon by now: one rmdir, no descent into others' cgroups.
        let private = self.cgroup_parent != "docker";
        for rel in &self.cgroup_dirs_to_remove {
            if private {
                problems.extend(remove_cgroup_everywhere(rel));
            } else {
                for mount in cgroup_mounts() {
                    let _ = fs::remove_dir(mount.join(rel));
                }
            }
        }
        // 6. The temp dir.
        if self.root.exists()
            && let Err(e) = fs::remove_dir_all(&self.root)
        {
            problems.push(format!("removing {}: {e}", self.root.display()));
        }
        // 7. A crun daemon's controllers, back in v2 once its namespace is gone (the last crun
        //    namespace of this process: until then another one's mount keeps them in v1).
        if let Some(crun) = self.crun.take() {
            problems.extend(crun.end());
        }
        problems
    }
}
