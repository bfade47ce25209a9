//! Is this task a target? Its cgroup's ancestor at the armed level is compared with the armed
//! cgroup (load-time configuration); under a split target, the child cgroup one level down is
//! a target of its own, and under a leaf-split target the task's own cgroup at any depth,
//! created at its first syscall. A child user space ignores is looked up and left at once.

// The compare alone, which the bench's reference object builds too (src/bin/reference.rs).
mod cgroup;
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::generated::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id},
};
pub use cgroup::in_armed_cgroup;
use sysallow_common::{
    Loss, ROOT_BASE_SLOT, ROOT_SETUP_SLOT, TARGET_BOUNDARY, TARGET_CHILD, TARGET_IGNORED,
    TARGET_LEAF, TARGET_SPLIT, TargetInfo,
};

use crate::config::{TARGET_CGROUP, TARGET_FLAGS, TARGET_LEVEL};
use crate::maps::{TARGET_CACHE, TARGETS, TargetCache, cache_generation, lose};
use crate::slots::{claim_slot, free_slot};

/// The target the current task belongs to, if any: its cgroup's ancestor at the armed level.
/// A task in a sub-cgroup of a target (systemd scopes, containers under a parent) is found by
/// the same lookup. `None` also for a task of a child user space ignores.
#[inline(always)]
pub fn current_target() -> Option<TargetInfo> {
    if !in_armed_cgroup() {
        return None;
    }
    let target = TargetInfo {
        index: ROOT_BASE_SLOT,
        base_slot: ROOT_BASE_SLOT,
        setup_slot: ROOT_SETUP_SLOT,
        flags: TARGET_FLAGS.load(),
    };
    if target.flags & (TARGET_SPLIT | TARGET_LEAF) == 0 {
        return Some(target);
    }
    // 0 means the task sits in the armed cgroup itself.
    let child = if target.flags & TARGET_LEAF != 0 {
        // A node's containers sit at varying depths below it (`kubepods/besteffort/pod<UID>/
        // <id>`, `kubepods/pod<UID>/<id>`); in cgroup v2 a task's own cgroup is the leaf.
        // SAFETY: helper call with no arguments.
        let own = unsafe { bpf_get_current_cgroup_id() };
        if own == TARGET_CGROUP.load() { 0 } else { own }
    } else {
        // A parent armed before its containers existed: the child cgroup one level down is
        // the container.
        let level = TARGET_LEVEL.load() as i32;
        // SAFETY: helper call with no pointer arguments.
        unsafe { bpf_get_current_ancestor_cgroup_id(level + 1) }
    };
    if child == 0 {
        return Some(target);
    }
    if let Some(existing) = child_target(child) {
        // An ignored child (an unselected pod's container): nothing counted.
        if existing.flags & TARGET_IGNORED != 0 {
            return None;
        }
        return Some(existing);
    }
    match new_child_target(child, &target) {
        // User space ignored it just before.
        Some(found) if found.flags & TARGET_IGNORED != 0 => None,
        Some(found) => Some(found),
        None => Some(target),
    }
}

/// `TARGETS[child]`, through the per-CPU cache (a hit costs two array loads instead of a hash
/// lookup; a miss is not cached, so the kernel's insert of a new child needs no invalidation).
#[inline(always)]
fn child_target(child: u64) -> Option<TargetInfo> {
    let cache = cache_generation().zip(TARGET_CACHE.get_ptr_mut(0));
    if let Some((generation, cache)) = cache {
        // SAFETY: this CPU's cache entry; programs using it do not nest on one CPU.
        let cache = unsafe { &mut *cache };
        if cache.cgroup == child && cache.generation == generation {
            return Some(cache.info);
        }
        // SAFETY: the value is copied out at once.
        let info = unsafe { TARGETS.get(&child) }.copied()?;
        *cache = TargetCache {
            generation,
            cgroup: child,
            info,
        };
        return Some(info);
    }
    // SAFETY: the value is copied out at once.
    unsafe { TARGETS.get(&child) }.copied()
}

/// Make child cgroup `child` of split target `parent` a target of its own, at its first
/// syscall, so that nothing of a container's start is lost to a user-space race. The entry
/// found instead when another CPU, or user space (an ignored child), inserted it first.
#[inline(never)]
fn new_child_target(child: u64, parent: &TargetInfo) -> Option<TargetInfo> {
    let Some(base) = claim_slot() else {
        lose(Loss::TargetsFull);
        return None;
    };
    let Some(setup) = claim_slot() else {
        free_slot(base);
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
        // Another CPU created it first, user space ignored it, or the map is full. Our two
        // slots were never used: give them back, or a long-running tracer leaks two slots
        // each time two CPUs race for a new container.
        free_slot(base);
        free_slot(setup);
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
