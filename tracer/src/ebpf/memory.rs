//! Kernel memory of a recording's maps, computed from the map definitions in the eBPF object,
//! for a host of any CPU count: what `record` locks in the kernel, before it runs there.
//!
//! The sizes follow the kernel's own accounting (`*_map_mem_usage` in kernel/bpf/arraymap.c and
//! hashtab.c, shown as `memlock` in a map's fdinfo). The struct sizes below are Linux 6.18's on
//! x86_64; `tracer/tests/kernel_memory.rs` checks the whole model against the running kernel's
//! `memlock` of a live recording, so a kernel that charges differently fails that test.

use tracer_common::{MAX_SLOTS, counter_shards, maps};

use super::{OBJECT, TracerError};

/// `sizeof(struct bpf_array)`.
const BPF_ARRAY: u64 = 312;
/// `sizeof(struct bpf_htab)`.
const BPF_HTAB: u64 = 832;
/// `sizeof(struct htab_elem)` before its key and value.
const HTAB_ELEM: u64 = 48;
/// `sizeof(struct bucket)`.
const BUCKET: u64 = 16;
/// Per CPU in a preallocated hash: the `extra_elems` pointer and `map_locked` (8 x int).
const HTAB_PER_CPU: u64 = 8 + 8 * 4;

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_F_NO_PREALLOC: u32 = 1;

/// One map as the object defines it (and as the loader sizes it for the host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDefinition {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

/// The maps of the embedded object, with `COUNTS` sized as the loader sizes it for a host with
/// `possible_cpus` CPUs.
pub fn map_definitions(possible_cpus: u32) -> Result<Vec<MapDefinition>, TracerError> {
    if OBJECT.is_empty() {
        return Err(TracerError::NoObject);
    }
    let object = aya_obj::Object::parse(OBJECT).map_err(TracerError::Object)?;
    let mut defs: Vec<MapDefinition> = object
        .maps
        .iter()
        .map(|(name, map)| MapDefinition {
            name: name.clone(),
            map_type: map.map_type(),
            key_size: map.key_size(),
            value_size: map.value_size(),
            max_entries: if name == maps::COUNTS {
                MAX_SLOTS * counter_shards(possible_cpus)
            } else {
                map.max_entries()
            },
            flags: map.map_flags(),
        })
        .collect();
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(defs)
}

impl MapDefinition {
    /// The bytes the kernel charges for this map on a host with `cpus` possible CPUs; `None`
    /// for a map type this model does not know.
    pub fn kernel_bytes(&self, cpus: u32) -> Option<u64> {
        let r8 = |n: u32| u64::from(n).div_ceil(8) * 8;
        let entries = u64::from(self.max_entries);
        let cpus = u64::from(cpus);
        match self.map_type {
            BPF_MAP_TYPE_ARRAY => Some(BPF_ARRAY + entries * r8(self.value_size)),
            BPF_MAP_TYPE_PERCPU_ARRAY => {
                Some(BPF_ARRAY + entries * 8 + entries * r8(self.value_size) * cpus)
            }
            BPF_MAP_TYPE_HASH if self.flags & BPF_F_NO_PREALLOC == 0 => {
                let elem = HTAB_ELEM + r8(self.key_size) + r8(self.value_size);
                let buckets = entries.max(1).next_power_of_two();
                // One spare element per CPU (`htab_has_extra_elems`).
                Some(BPF_HTAB + buckets * BUCKET + elem * (entries + cpus) + HTAB_PER_CPU * cpus)
            }
            _ => None,
        }
    }
}

/// The bytes the kernel charges for all of a recording's maps on a host with `cpus` possible
/// CPUs, per map.
pub fn kernel_memory(cpus: u32) -> Result<Vec<(MapDefinition, u64)>, TracerError> {
    map_definitions(cpus)?
        .into_iter()
        .map(|def| match def.kernel_bytes(cpus) {
            Some(bytes) => Ok((def, bytes)),
            None => Err(TracerError::UnknownMapType {
                name: def.name,
                map_type: def.map_type,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a recording may lock in the kernel on a large host (issue 13: 16 MiB at 256 CPUs).
    const BUDGET_256_CPUS: u64 = 16 << 20;

    #[test]
    fn a_recording_locks_at_most_16_mib_on_a_256_cpu_host() {
        let total = |cpus: u32| -> Option<u64> {
            match kernel_memory(cpus) {
                Ok(maps) => Some(maps.iter().map(|(_, b)| b).sum()),
                Err(TracerError::NoObject)
                    if std::env::var("SYSALLOW_REQUIRE_PRIVILEGED_TESTS").as_deref() != Ok("1") =>
                {
                    None
                }
                Err(e) => panic!("{e}"),
            }
        };
        let Some(at_256) = total(256) else {
            eprintln!("SKIPPED: this build has no eBPF object (run `cargo xtask setup`)");
            return;
        };
        for cpus in [1, 2, 64, 256, 1024] {
            eprintln!(
                "{cpus} CPUs: {:.2} MiB",
                total(cpus).unwrap_or(0) as f64 / 1048576.0
            );
        }
        assert!(at_256 <= BUDGET_256_CPUS, "{at_256} bytes at 256 CPUs");
        // Bounded: beyond the counter shards only a few hundred bytes per CPU remain.
        let (a, b) = (total(256).unwrap_or(0), total(1024).unwrap_or(0));
        assert!(b - a < 2 << 20, "256 -> 1024 CPUs adds {} bytes", b - a);
    }

    #[test]
    fn the_model_matches_the_kernel_accounting_measured_on_linux_6_18() {
        // memlock values read from fdinfo of a recording on a 2-CPU Linux 6.18 host.
        let def = |map_type, key_size, value_size, max_entries| MapDefinition {
            name: String::new(),
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
        };
        for (d, memlock) in [
            (def(BPF_MAP_TYPE_HASH, 4, 4, 32768), 2_622_480),
            (def(BPF_MAP_TYPE_HASH, 16, 1, 8192), 721_952),
            (def(BPF_MAP_TYPE_HASH, 260, 4, 64), 23_056),
            (def(BPF_MAP_TYPE_ARRAY, 4, 8192, 128), 1_048_888),
            (def(BPF_MAP_TYPE_ARRAY, 4, 91, 1), 408),
            (def(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 260, 1), 848),
            (def(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 9), 528),
        ] {
            assert_eq!(d.kernel_bytes(2), Some(memlock), "{d:?}");
        }
    }
}
