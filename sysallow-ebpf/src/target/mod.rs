//! Is this task a target? Its cgroup's ancestor at the armed level is compared with the armed
//! cgroup (load-time configuration); under a split target, the child cgroup one level down is
//! a target of its own, created at its first syscall.

// The compare alone, which the bench's reference object builds too (src/bin/reference.rs).
mod cgroup;
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::generated::bpf_get_current_ancestor_cgroup_id};
pub use cgroup::in_armed_cgroup;
use sysallow_common::{
    Loss, ROOT_BASE_SLOT, ROOT_SETUP_SLOT, TARGET_BOUNDARY, TARGET_CHILD, TARGET_SPLIT, TargetInfo,
};

use crate::config::{TARGET_FLAGS, TARGET_LEVEL};
use crate::maps::{TARGETS, lose};
use crate::slots::claim_slot;

/// The target the current task belongs to, if any: its cgroup's ancestor at the armed level.
/// A task in a sub-cgroup of a target (systemd scopes, containers under a parent) is found by
/// the same lookup.
#[inline(always)]
pub fn current_target() -> Option<TargetInfo> {
    if !in_armed_cgroup() {
        return None;
    }
    let level = TARGET_LEVEL.load() as i32;
    let target = TargetInfo {
        index: ROOT_BASE_SLOT,
        base_slot: ROOT_BASE_SLOT,
        setup_slot: ROOT_SETUP_SLOT,
        flags: TARGET_FLAGS.load(),
    };
    if target.flags & TARGET_SPLIT == 0 {
        return Some(target);
    }
    // A parent armed before its containers existed: the child cgroup one level down is the
    // container. 0 means the task sits in the parent itself.
    // SAFETY: helper call with no pointer arguments.
    let child = unsafe { bpf_get_current_ancestor_cgroup_id(level + 1) };
    if child == 0 {
        return Some(target);
    }
    // SAFETY: the value is copied out at once.
    if let Some(existing) = unsafe { TARGETS.get(&child) } {
        return Some(*existing);
    }
    Some(new_child_target(child, &target).unwrap_or(target))
}

/// Make child cgroup `child` of split target `parent` a target of its own, at its first
/// syscall, so that nothing of a container's start is lost to a user-space race.
#[inline(never)]
fn new_child_target(child: u64, parent: &TargetInfo) -> Option<TargetInfo> {
    let (Some(base), Some(setup)) = (claim_slot(), claim_slot()) else {
        lose(Loss::TargetsFull);
        return None;
    };
    let info = TargetInfo {
        index: base,
        base_slot: base,
        setup_slot: setup,
        flags: (parent.flags & TARGET_BOUNDARY) | TARGET_CHILD,
    };
    if TARGETS
        .insert(&child, &info, u64::from(BPF_NOEXIST))
        .is_err()
    {
        // Another CPU created it first (our two slots stay unused), or the map is full.
        // SAFETY: the value is copied out at once.
        return match unsafe { TARGETS.get(&child) } {
            Some(existing) => Some(*existing),
            None => {
                lose(Loss::TargetsFull);
                None
            }
        };
    }
    Some(info)
}
