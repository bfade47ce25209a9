//! The capability programs' maps (names in `sysallow_common::caps::maps`). They exist in every
//! load of the object (aya creates all of an object's maps); they stay empty when capability
//! recording is off.
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray},
};
use sysallow_common::{
    MAX_SLOTS,
    caps::{CAP_CHECKS_MAX, CRED_IDS_MAX, CapKey, PRIV_EXECS_MAX, PrivExecKey},
};

/// Capability checks, aggregated: `CapKey` -> count.
#[map(name = "CAP_CHECKS")]
pub static CAP_CHECKS: HashMap<CapKey, u64> = HashMap::with_max_entries(CAP_CHECKS_MAX, 0);

/// Execs that raised privileges: `PrivExecKey` -> count.
#[map(name = "PRIV_EXECS")]
pub static PRIV_EXECS: HashMap<PrivExecKey, u64> = HashMap::with_max_entries(PRIV_EXECS_MAX, 0);

/// The effective user and group ids seen (`cred_id_key`; value unused).
#[map(name = "CRED_IDS")]
pub static CRED_IDS: HashMap<u64, u8> = HashMap::with_max_entries(CRED_IDS_MAX, 0);

/// Per target (indexed by its index, a slot number): the address of its own user namespace,
/// the one its first exec ran in; 0 until then. One entry per slot (sized at load like the
/// other slot-keyed maps); cleared by user space when a target's slots are released.
#[map(name = "TARGET_USERNS")]
pub static TARGET_USERNS: Array<u64> = Array::with_max_entries(MAX_SLOTS, 0);

/// Scratch space for a `PrivExecKey` (too large for the BPF stack).
#[map(name = "EXEC_SCRATCH")]
pub static EXEC_SCRATCH: PerCpuArray<PrivExecKey> = PerCpuArray::with_max_entries(1, 0);
