//! crun under the test daemon on this hybrid host: the v2 controllers that must be bound to
//! v1 for crun to start containers, and waiting for them to come back.

use super::*;

/// What a crun daemon changed and must undo.
pub(super) struct CrunState {
    /// The daemon's private mount namespace (`/proc/PID/ns/mnt` link, `mnt:[inode]`).
    pub(super) mnt_ns: Option<String>,
    /// Controllers moved from v2 to v1 in that namespace (mounted at `<root>/cgroup-v1/<ctrl>`,
    /// visible only in it).
    pub(super) moved: Vec<String>,
}

/// On a hybrid host (v2 mounted apart from `/sys/fs/cgroup`), the controllers v2 still has
/// (`hugetlb` here): those crun wants bound to v1. Empty on a pure v1 or v2 host.
pub(super) fn v2_controllers_on_hybrid_host() -> Vec<String> {
    match cgroup2_mount() {
        Some(v2) if v2 != Path::new("/sys/fs/cgroup") => v2_controllers(&v2),
        _ => Vec::new(),
    }
}

pub(super) fn v2_controllers(v2: &Path) -> Vec<String> {
    fs::read_to_string(v2.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Wait (bounded) until every controller of `moved` is listed in v2 again.
pub(super) fn wait_controllers_in_v2(moved: &[String], mnt_ns: Option<&str>) -> Vec<String> {
    let Some(v2) = cgroup2_mount() else {
        return vec!["no cgroup v2 mount to return the controllers to".to_owned()];
    };
    let start = Instant::now();
    loop {
        let now = v2_controllers(&v2);
        let missing: Vec<&String> = moved.iter().filter(|c| !now.contains(c)).collect();
        if missing.is_empty() {
            return Vec::new();
        }
        if start.elapsed() > CONTROLLERS_RETURN_TIMEOUT {
            let holders = mnt_ns.map(processes_in_mount_ns).unwrap_or_default();
            return vec![format!(
                "controllers {missing:?} not back in {} after {CONTROLLERS_RETURN_TIMEOUT:?} \
                 (processes left in the daemon's mount namespace: {holders:?}; another \
                 namespace may mount them as v1)",
                v2.display()
            )];
        }
        thread::sleep(Duration::from_millis(100));
    }
}
