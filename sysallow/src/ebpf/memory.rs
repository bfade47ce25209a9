//! Kernel memory of a recording's maps, computed from the map definitions in the eBPF object,
//! for a host of any CPU count: what `record` locks in the kernel, before it runs there.
//!
//! The sizes follow the kernel's own accounting (`*_map_mem_usage` in kernel/bpf/arraymap.c and
//! hashtab.c, shown as `memlock` in a map's fdinfo). The model has two parts: the formulas,
//! which are the kernel's and hold across builds, and a handful of struct sizes
//! ([`KernelSizes`]), which depend on the kernel's build (two 6.18 builds measured here differ
//! by 64 bytes per hash map). [`KernelSizes::LINUX_6_18`] is what one build charged, for
//! planning a host sysallow does not run on; [`KernelSizes::measure`] reads the running
//! kernel's from probe maps, and `sysallow/tests/kernel_memory.rs` checks the model with those
//! against a live recording, map by map.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

use sysallow_common::{MAX_SLOTS, SLOT_SIZED_MAPS, counter_shards, maps, slot_map_entries};

use super::{OBJECT, TracerError};

/// The build-dependent struct sizes of the model, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSizes {
    /// `sizeof(struct bpf_array)`.
    pub bpf_array: u64,
    /// `sizeof(struct bpf_htab)`.
    pub bpf_htab: u64,
    /// `sizeof(struct htab_elem)` before its key and value.
    pub htab_elem: u64,
    /// `sizeof(struct bucket)`.
    pub bucket: u64,
    /// Per CPU in a preallocated hash: the `extra_elems` pointer and `map_locked` (8 x int).
    pub htab_per_cpu: u64,
}

impl KernelSizes {
    /// Linux 6.18 on x86_64, read from the fdinfo of a recording's maps on one build (2 CPUs).
    pub const LINUX_6_18: KernelSizes = KernelSizes {
        bpf_array: 312,
        bpf_htab: 832,
        htab_elem: 48,
        bucket: 16,
        htab_per_cpu: 8 + 8 * 4,
    };

    /// The running kernel's sizes, read from the `memlock` the kernel charges for a few probe
    /// maps created for the purpose (needs CAP_BPF). A hash map's fixed part and its per-CPU
    /// part cannot be told apart on one host (the CPU count is fixed): the per-CPU size is
    /// taken from [`KernelSizes::LINUX_6_18`] and the rest of the fixed charge is the
    /// `bpf_htab` here, so the model is exact at this host's CPU count.
    pub fn measure(possible_cpus: u32) -> Result<KernelSizes, TracerError> {
        let array = probe_memlock(BPF_MAP_TYPE_ARRAY, 4, 8, 1)?;
        // Keys and values of 8 bytes: an element is `htab_elem + 16`. One, two and three
        // entries have one, two and four buckets.
        let mut hash = [0; 3];
        for (entries, memlock) in (1..).zip(&mut hash) {
            *memlock = probe_memlock(BPF_MAP_TYPE_HASH, 8, 8, entries)?;
        }
        sizes_from_probes(possible_cpus, array, hash)
    }
}

/// The sizes from the probe maps' charges: `array` for an array of one 8-byte value, `hash`
/// for hashes of 8-byte keys and values with 1, 2 and 3 entries.
fn sizes_from_probes(
    possible_cpus: u32,
    array: u64,
    hash: [u64; 3],
) -> Result<KernelSizes, TracerError> {
    let cpus = u64::from(possible_cpus);
    let [h1, h2, h3] = hash;
    let unexpected = || TracerError::KernelSizes {
        memlock: vec![array, h1, h2, h3],
    };
    let sub = |a: u64, b: u64| a.checked_sub(b).ok_or_else(unexpected);
    // h2 - h1 = bucket + elem (one more entry, one more bucket);
    // h3 - h2 = 2 bucket + elem (one more entry, two more buckets).
    let (step1, step2) = (sub(h2, h1)?, sub(h3, h2)?);
    let bucket = sub(step2, step1)?;
    let elem = sub(step1, bucket)?;
    let htab_per_cpu = KernelSizes::LINUX_6_18.htab_per_cpu;
    Ok(KernelSizes {
        bpf_array: sub(array, 8)?,
        bpf_htab: sub(h1, bucket + elem * (1 + cpus) + htab_per_cpu * cpus)?,
        htab_elem: sub(elem, 16)?,
        bucket,
        htab_per_cpu,
    })
}

/// The `memlock` the kernel charges for a new map of this shape (created, read, closed).
fn probe_memlock(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> Result<u64, TracerError> {
    // `union bpf_attr` for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries,
    // map_flags, then fields left zero (include/uapi/linux/bpf.h).
    let mut attr = [0u32; 32];
    attr[..4].copy_from_slice(&[map_type, key_size, value_size, max_entries]);
    const BPF_MAP_CREATE: libc::c_long = 0;
    // SAFETY: `attr` is a valid, zero-padded `bpf_attr` of the size passed; the kernel only
    // reads it and returns a new file descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    let probe = |source| TracerError::ProbeMap { map_type, source };
    let fd = i32::try_from(fd).map_err(|_| probe(std::io::Error::other("bad descriptor")))?;
    if fd < 0 {
        return Err(probe(std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).map_err(probe)?;
    info.lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| probe(std::io::Error::other("no memlock in the map's fdinfo")))
}

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

/// The maps whose entries the loader sets for a tracer with `slots` program slots on a host with
/// `shards` counter shards: `COUNTS` (a slot's counters per shard) and the maps keyed by slots
/// (`sysallow_common::slot_map_entries`). The one place both the loader and this model size
/// them.
pub fn slot_sized_entries(slots: u32, shards: u32) -> Vec<(&'static str, u32)> {
    let mut sized = vec![(maps::COUNTS, slots * shards)];
    sized.extend(
        SLOT_SIZED_MAPS
            .iter()
            .map(|name| (*name, slot_map_entries(name, slots))),
    );
    sized
}

/// The maps of the embedded object, with `COUNTS` sized as the loader sizes it for a host with
/// `possible_cpus` CPUs, for `record` (the default slot count).
pub fn map_definitions(possible_cpus: u32) -> Result<Vec<MapDefinition>, TracerError> {
    map_definitions_for(possible_cpus, MAX_SLOTS)
}

/// The maps of the embedded object as the loader sizes them for a tracer with `slots` program
/// slots on a host with `possible_cpus` CPUs.
pub fn map_definitions_for(
    possible_cpus: u32,
    slots: u32,
) -> Result<Vec<MapDefinition>, TracerError> {
    if OBJECT.is_empty() {
        return Err(TracerError::NoObject);
    }
    let object = aya_obj::Object::parse(OBJECT).map_err(TracerError::Object)?;
    let sized = slot_sized_entries(slots, counter_shards(possible_cpus));
    let mut defs: Vec<MapDefinition> = object
        .maps
        .iter()
        .map(|(name, map)| MapDefinition {
            name: name.clone(),
            map_type: map.map_type(),
            key_size: map.key_size(),
            value_size: map.value_size(),
            max_entries: sized
                .iter()
                .find(|(sized, _)| sized == name)
                .map_or_else(|| map.max_entries(), |(_, entries)| *entries),
            flags: map.map_flags(),
        })
        .collect();
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(defs)
}

impl MapDefinition {
    /// The bytes the kernel charges for this map on a host with `cpus` possible CPUs; `None`
    /// for a map type this model does not know.
    pub fn kernel_bytes(&self, cpus: u32, sizes: &KernelSizes) -> Option<u64> {
        let r8 = |n: u32| u64::from(n).div_ceil(8) * 8;
        let entries = u64::from(self.max_entries);
        let cpus = u64::from(cpus);
        match self.map_type {
            BPF_MAP_TYPE_ARRAY => Some(sizes.bpf_array + entries * r8(self.value_size)),
            BPF_MAP_TYPE_PERCPU_ARRAY => {
                Some(sizes.bpf_array + entries * 8 + entries * r8(self.value_size) * cpus)
            }
            BPF_MAP_TYPE_HASH if self.flags & BPF_F_NO_PREALLOC == 0 => {
                let elem = sizes.htab_elem + r8(self.key_size) + r8(self.value_size);
                let buckets = entries.max(1).next_power_of_two();
                // One spare element per CPU (`htab_has_extra_elems`).
                Some(
                    sizes.bpf_htab
                        + buckets * sizes.bucket
                        + elem * (entries + cpus)
                        + sizes.htab_per_cpu * cpus,
                )
            }
            _ => None,
        }
    }
}

/// The bytes the kernel charges for all of a recording's maps on a host with `cpus` possible
/// CPUs and a kernel of these `sizes`, per map (`record`: the default slot count).
pub fn kernel_memory(
    cpus: u32,
    sizes: &KernelSizes,
) -> Result<Vec<(MapDefinition, u64)>, TracerError> {
    kernel_memory_for(cpus, MAX_SLOTS, sizes)
}

/// The bytes the kernel charges for all of a tracer's maps with `slots` program slots
/// (`Root::slots`) on a host with `cpus` possible CPUs and a kernel of these `sizes`, per map.
pub fn kernel_memory_for(
    cpus: u32,
    slots: u32,
    sizes: &KernelSizes,
) -> Result<Vec<(MapDefinition, u64)>, TracerError> {
    map_definitions_for(cpus, slots)?
        .into_iter()
        .map(|def| match def.kernel_bytes(cpus, sizes) {
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
            match kernel_memory(cpus, &KernelSizes::LINUX_6_18) {
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

    /// memlock values read from fdinfo of a recording on one 2-CPU Linux 6.18 build.
    const MEASURED_ON_ONE_6_18_BUILD: [(u32, u32, u32, u32, u64); 7] = [
        (BPF_MAP_TYPE_HASH, 4, 4, 32768, 2_622_480),
        (BPF_MAP_TYPE_HASH, 16, 1, 8192, 721_952),
        (BPF_MAP_TYPE_HASH, 260, 4, 64, 23_056),
        (BPF_MAP_TYPE_ARRAY, 4, 8192, 128, 1_048_888),
        (BPF_MAP_TYPE_ARRAY, 4, 91, 1, 408),
        (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 260, 1, 848),
        (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 9, 528),
    ];

    fn def(map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapDefinition {
        MapDefinition {
            name: String::new(),
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
        }
    }

    #[test]
    fn the_linux_6_18_sizes_give_what_that_build_charged() {
        for (t, k, v, e, memlock) in MEASURED_ON_ONE_6_18_BUILD {
            let d = def(t, k, v, e);
            assert_eq!(
                d.kernel_bytes(2, &KernelSizes::LINUX_6_18),
                Some(memlock),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_build_that_charges_64_more_per_hash_map_is_modelled_by_its_measured_sizes() {
        // Another 6.18 build (issue 20): each hash map 64 bytes more, array maps the same.
        let other: Vec<_> = MEASURED_ON_ONE_6_18_BUILD
            .iter()
            .map(|&(t, k, v, e, m)| (t, k, v, e, if t == BPF_MAP_TYPE_HASH { m + 64 } else { m }))
            .collect();
        // The fixed 6.18 sizes no longer fit that kernel...
        let misses = other
            .iter()
            .filter(|&&(t, k, v, e, m)| {
                def(t, k, v, e).kernel_bytes(2, &KernelSizes::LINUX_6_18) != Some(m)
            })
            .count();
        assert_eq!(misses, 3, "every hash map is off by 64 bytes");
        // ...the sizes `measure` derives from that kernel's probe maps do. Its probe maps
        // (array 4/8/1, hash 8/8 with 1, 2 and 3 entries) as that kernel charges them:
        let charged = |t, k, v, e| {
            def(t, k, v, e)
                .kernel_bytes(2, &KernelSizes::LINUX_6_18)
                .unwrap()
                + if t == BPF_MAP_TYPE_HASH { 64 } else { 0 }
        };
        let sizes = sizes_from_probes(
            2,
            charged(BPF_MAP_TYPE_ARRAY, 4, 8, 1),
            [1, 2, 3].map(|e| charged(BPF_MAP_TYPE_HASH, 8, 8, e)),
        )
        .unwrap();
        assert_eq!(sizes.bpf_htab, KernelSizes::LINUX_6_18.bpf_htab + 64);
        for (t, k, v, e, m) in other {
            assert_eq!(def(t, k, v, e).kernel_bytes(2, &sizes), Some(m));
        }
    }

    #[test]
    fn the_loader_sizes_record_s_maps_as_the_object_defines_them() {
        // At the default slot count the loader changes only `COUNTS` (by the shards): every
        // other slot-sized map keeps the object's own size, so `record` is unchanged.
        let defs = match map_definitions(1) {
            Ok(defs) => defs,
            Err(TracerError::NoObject)
                if std::env::var("SYSALLOW_REQUIRE_PRIVILEGED_TESTS").as_deref() != Ok("1") =>
            {
                eprintln!("SKIPPED: this build has no eBPF object (run `cargo xtask setup`)");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let object = aya_obj::Object::parse(OBJECT).unwrap();
        for def in &defs {
            let defined = object.maps[&def.name].max_entries();
            assert_eq!(def.max_entries, defined, "{}", def.name);
        }
        for (name, _) in slot_sized_entries(MAX_SLOTS, 1) {
            assert!(defs.iter().any(|d| d.name == name), "no map {name}");
        }
    }

    #[test]
    fn more_slots_cost_what_their_maps_cost_and_no_more() {
        let total = |slots: u32| -> Option<u64> {
            match kernel_memory_for(2, slots, &KernelSizes::LINUX_6_18) {
                Ok(maps) => Some(maps.iter().map(|(_, b)| b).sum()),
                Err(TracerError::NoObject)
                    if std::env::var("SYSALLOW_REQUIRE_PRIVILEGED_TESTS").as_deref() != Ok("1") =>
                {
                    None
                }
                Err(e) => panic!("{e}"),
            }
        };
        let Some(default) = total(MAX_SLOTS) else {
            eprintln!("SKIPPED: this build has no eBPF object (run `cargo xtask setup`)");
            return;
        };
        assert_eq!(
            Some(default),
            kernel_memory(2, &KernelSizes::LINUX_6_18)
                .ok()
                .map(|m| m.iter().map(|(_, b)| b).sum())
        );
        let (small, big) = (
            total(MAX_SLOTS * 2).unwrap_or(0),
            total(MAX_SLOTS * 4).unwrap_or(0),
        );
        assert!(default < small && small < big);
        // Past the fixed maps, the cost grows with the slots: at least a slot's counters
        // (8 KiB per shard; 1 shard at 2 CPUs) per slot added.
        assert!(big - small >= u64::from(MAX_SLOTS * 2) * 8192);
        for slots in [64, 256, 512, 1024] {
            eprintln!(
                "{slots} slots at 2 CPUs: {:.2} MiB",
                total(slots).unwrap_or(0) as f64 / 1048576.0
            );
        }
    }

    #[test]
    fn probe_figures_that_no_kernel_gives_are_an_error_not_a_model() {
        assert!(sizes_from_probes(2, 4, [1000, 900, 800]).is_err());
    }
}
