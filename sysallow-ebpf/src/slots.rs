//! The program slots' allocator, shared by execs (a new program) and new child targets (their
//! base and set-up slots).
use aya_ebpf::bindings::BPF_NOEXIST;
use sysallow_common::Loss;

use crate::config::SLOT_LIMIT;
use crate::maps::{NEXT_SLOT, SLOTS_TAKEN, lose};

/// include/uapi/asm-generic/errno-base.h: a full hash map refuses a new key with E2BIG
/// (kernel/bpf/hashtab.c, alloc_htab_elem).
const E2BIG: i32 = 7;

/// Slots `claim_slot` tries before it gives up: execs racing for a new slot at the same moment,
/// and slots still taken after the hint once user space has freed some below it (a node agent
/// releases finished containers' slots and moves the hint back to the lowest one freed).
const CLAIM_TRIES: u32 = 64;

/// Take a free slot. The BPF target has no atomic add, so a slot is taken by inserting it into
/// `SLOTS_TAKEN` with `BPF_NOEXIST`, which the kernel performs atomically; `NEXT_SLOT` is only
/// a hint of where to start. Execs racing on other CPUs make the insert fail and we try the
/// next slot; past the last slot the search wraps to the first, so a slot freed below the hint
/// is found again.
pub fn claim_slot() -> Option<u32> {
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
/// that was to use it). The search wraps around, so a slot below the hint is found again.
pub fn free_slot(slot: u32) {
    let _ = SLOTS_TAKEN.remove(&slot);
}
