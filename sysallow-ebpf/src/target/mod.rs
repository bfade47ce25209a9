//! Is this task a target? Its cgroup's ancestor at the armed level is compared with the armed
//! cgroup (load-time configuration); under a split target, the child cgroup one level down is
//! a target of its own, and under a leaf-split target the task's own cgroup at any depth,
//! created at its first syscall and then found through each CPU's last answer. A child user
//! space ignores is looked up and left at once.

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
use crate::task::current_tgid;

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
    if target.flags & TARGET_LEAF != 0 {
        return leaf_target(&target);
    }
    // A parent armed before its containers existed: the child cgroup one level down is the
    // container (0: the task sits in the armed cgroup itself).
    let level = TARGET_LEVEL.load() as i32;
    // SAFETY: helper call with no pointer arguments.
    let child = unsafe { bpf_get_current_ancestor_cgroup_id(level + 1) };
    if child == 0 {
        return Some(target);
    }
    // SAFETY: the value is copied out at once.
    let found = match unsafe { TARGETS.get(&child) }.copied() {
        Some(existing) => existing,
        None => match new_child_target(child, &target) {
            Some(found) => found,
            None => return Some(target),
        },
    };
    counted(found)
}

/// A target to count in, unless user space ignores it (an unselected pod's container, a
/// pause container): one lookup, and nothing counted.
#[inline(always)]
fn counted(info: TargetInfo) -> Option<TargetInfo> {
    (info.flags & TARGET_IGNORED == 0).then_some(info)
}

/// Leaf mode (a node's `kubepods`, `root`): a node's containers sit at varying depths below
/// it (`kubepods/besteffort/pod<UID>/<id>`, `kubepods/pod<UID>/<id>`), and in cgroup v2 a
/// task's own cgroup is the leaf. Its answer is kept per CPU for the process that asked
/// (`TARGET_CACHE`, keyed by the tgid the hot path reads anyway): a hit costs two array loads
/// and no helper call or hash lookup, so a recorded container's syscall costs what one of a
/// single `record` does. A task outside the armed cgroup never gets here (the compare above).
#[inline(always)]
fn leaf_target(root: &TargetInfo) -> Option<TargetInfo> {
    let tgid = current_tgid();
    // The generation is read before the answer is looked up, so that a change made meanwhile
    // leaves the stored answer stale.
    let cache = cache_generation().zip(TARGET_CACHE.get_ptr_mut(0));
    if let Some((generation, cache)) = cache {
        // SAFETY: this CPU's cache entry; programs using it do not nest on one CPU.
        let entry = unsafe { &*cache };
        if entry.tgid == tgid && entry.generation == generation {
            return counted(entry.info);
        }
    }
    // A child the kernel could not make a target counts in the armed cgroup's slots, and is
    // asked again next time.
    let Some(info) = resolve_leaf(root) else {
        return Some(*root);
    };
    if let Some((generation, cache)) = cache {
        // SAFETY: as above.
        unsafe {
            *cache = TargetCache {
                generation,
                tgid,
                _pad: 0,
                info,
            }
        };
    }
    counted(info)
}

/// The current task's target in leaf mode, by its own cgroup: the armed cgroup's own, or a
/// child target (ignored or not), made one at its first syscall; `None` if it could not be.
#[inline(never)]
fn resolve_leaf(root: &TargetInfo) -> Option<TargetInfo> {
    // SAFETY: helper call with no arguments.
    let own = unsafe { bpf_get_current_cgroup_id() };
    if own == TARGET_CGROUP.load() {
        return Some(*root);
    }
    // SAFETY: the value is copied out at once.
    match unsafe { TARGETS.get(&own) }.copied() {
        Some(existing) => Some(existing),
        None => new_child_target(own, root),
    }
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
