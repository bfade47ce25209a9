//! The program slots' allocator, shared by execs (a new program) and new child targets (their
//! base and set-up slots).
use aya_ebpf::bindings::BPF_NOEXIST;
use sysallow_common::{Loss, MAX_SLOTS};

use crate::maps::{NEXT_SLOT, SLOTS_TAKEN, lose};

/// Execs racing for a new slot at the same moment that `claim_slot` tolerates.
const CLAIM_TRIES: u32 = 16;

/// Take a free slot. The BPF target has no atomic add, so a slot is taken by inserting it into
/// `SLOTS_TAKEN` with `BPF_NOEXIST`, which the kernel performs atomically; `NEXT_SLOT` is only
/// a hint of where to start. Execs racing on other CPUs make the insert fail and we try the
/// next slot.
pub fn claim_slot() -> Option<u32> {
    let hint = NEXT_SLOT.get_ptr_mut(0)?;
    // SAFETY: `hint` points at a live u32 in an array map; a stale read only costs a retry.
    let start = unsafe { *hint };
    for try_ in 0..CLAIM_TRIES {
        let slot = start + try_;
        if slot >= MAX_SLOTS {
            lose(Loss::SlotsFull);
            return None;
        }
        if SLOTS_TAKEN
            .insert(&slot, &1, u64::from(BPF_NOEXIST))
            .is_ok()
        {
            // SAFETY: as above; a racing writer can only move the hint, never a claim.
            unsafe { *hint = slot + 1 };
            return Some(slot);
        }
    }
    lose(Loss::SlotsFull);
    None
}
