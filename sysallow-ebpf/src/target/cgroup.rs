//! The armed cgroup test, alone: `src/bin/reference.rs` builds it into the bench's reference
//! object as well, so it depends on nothing but the load-time configuration.
use aya_ebpf::helpers::generated::bpf_get_current_ancestor_cgroup_id;

use crate::config::{TARGET_CGROUP, TARGET_LEVEL};

/// Whether the current task is in the armed cgroup or below it: the test every syscall on the
/// machine pays.
#[inline(always)]
pub fn in_armed_cgroup() -> bool {
    let level = TARGET_LEVEL.load() as i32;
    // SAFETY: helper call with no pointer arguments.
    let cgroup = unsafe { bpf_get_current_ancestor_cgroup_id(level) };
    cgroup == TARGET_CGROUP.load()
}
