//! The program slots' allocator, shared by execs (a new program) and new child targets (their
//! base and set-up slots).
use aya_ebpf::bindings::BPF_NOEXIST;
use sysallow_common::Loss;

use crate::config::SLOT_LIMIT;
use crate::maps::{FREE_SLOTS, NEXT_SLOT, SLOTS_TAKEN, lose};

/// include/uapi/asm-generic/errno-base.h: a full hash map refuses a new key with E2BIG
/// (kernel/bpf/hashtab.c, alloc_htab_elem).
const E2BIG: i32 = 7;

/// Slots `claim_slot` tries from the hint before it gives up: execs racing for a new slot at
/// the same moment, and slots still taken after the hint (the search wraps past the last slot).
const CLAIM_TRIES: u32 = 64;

/// Freed slots `claim_slot` pops before it searches: one is enough unless user space claimed
/// a freed slot itself (`Tracer::adopt_child`), leaving a stale entry.
const POP_TRIES: u32 = 4;

/// Take a free slot. The BPF target has no atomic add, so a slot is taken by inserting it into
/// `SLOTS_TAKEN` with `BPF_NOEXIST`, which the kernel performs atomically. Where to try: first
/// a slot freed earlier (`FREE_SLOTS`, wherever it lies), then from the `NEXT_SLOT` hint
/// (slots never used yet, in order). Execs racing on other CPUs make an insert fail and we try
/// the next slot; past the last slot the search wraps to the first, so a slot freed below the
/// hint is found even if its `FREE_SLOTS` entry was lost.
pub fn claim_slot() -> Option<u32> {
    for _ in 0..POP_TRIES {
        // Empty (or busy: another CPU holds the queue's lock): search instead.
        let Ok(Some(slot)) = FREE_SLOTS.pop() else {
            break;
        };
        if SLOTS_TAKEN
            .insert(&slot, &1, u64::from(BPF_NOEXIST))
            .is_ok()
        {
            return Some(slot);
        }
    }
    let hint = NEXT_SLOT.get_ptr_mut(0)?;
    let limit = SLOT_LIMIT.load();
    // SAFETY: `hint` points at a live u32 in an array map; a stale read only costs a retry.
    let start = unsafe { *hint };
    for try_ in 0..CLAIM_TRIES {
        if try_ >= limit {
            break;
        }
        let mut slot = start.wrapping_add(try_);
        if slot >= limit {
            slot = slot.wrapping_sub(limit);
            if slot >= limit {
                // Only a hint past twice the limit (user space never sets one).
                slot = try_;
            }
        }
        match SLOTS_TAKEN.insert(&slot, &1, u64::from(BPF_NOEXIST)) {
            Ok(()) => {
                // SAFETY: as above; a racing writer can only move the hint, never a claim.
                unsafe { *hint = slot + 1 };
                return Some(slot);
            }
            // `SLOTS_TAKEN` has one entry per slot: full means every slot is taken, and a
            // child cgroup that keeps asking (every syscall until it is a target) pays one
            // insert, not `CLAIM_TRIES`.
            Err(err) if err == -E2BIG => break,
            Err(_) => {}
        }
    }
    lose(Loss::SlotsFull);
    None
}

/// Give back a slot this program claimed and never used (it lost a race to insert the entry
/// that was to use it): free, then offered to the next claim.
pub fn free_slot(slot: u32) {
    if SLOTS_TAKEN.remove(&slot).is_ok() {
        // Full only with stale entries: the search still finds the slot.
        let _ = FREE_SLOTS.push(&slot, 0);
    }
}
