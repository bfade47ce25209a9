//! The kernel memory model (`sysallow::ebpf::memory`) against the running kernel: the maps of a
//! live recording, as the kernel charges them (`memlock` in their fdinfo), must be what the
//! model computes from the object's map definitions for this host's CPU count, with the struct
//! sizes measured on this kernel (its build decides them: two 6.18 builds differ by 64 bytes
//! per hash map). With that, the model's figure for a 256-CPU host is this kernel's, not a
//! guess, and must stay within the 16 MiB budget. Root.

use std::process::{Command, Stdio};

use std::time::{Duration, Instant};
use sysallow::ebpf::memory::{self, KernelSizes};

/// One BPF map a process holds: (type, key, value, entries, flags) and its memlock.
pub(crate) type HeldMap = ((u32, u32, u32, u32, u32), u64);

/// The BPF maps process `pid` holds, from its fdinfo, sorted.
pub(crate) fn maps_held_by(pid: u32) -> Vec<HeldMap> {
    let mut held = Vec::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return held;
    };
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().trim_start_matches("0x").to_owned())
        };
        let (Some(t), Some(k), Some(v), Some(e), Some(f), Some(m)) = (
            field("map_type:"),
            field("key_size:"),
            field("value_size:"),
            field("max_entries:"),
            field("map_flags:"),
            field("memlock:"),
        ) else {
            continue;
        };
        let n = |s: &str| s.parse::<u32>().unwrap();
        held.push((
            (
                n(&t),
                n(&k),
                n(&v),
                n(&e),
                u32::from_str_radix(&f, 16).unwrap(),
            ),
            m.parse().unwrap(),
        ));
    }
    held.sort();
    held
}

#[test]
fn the_memory_model_is_what_the_kernel_charges_for_a_live_recording() {
    require!(root);
    let cpus = sysallow::ebpf::possible_cpus().unwrap();
    let sizes = KernelSizes::measure(cpus).unwrap();
    let model = memory::kernel_memory(cpus, &sizes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_sysallow"))
        .args(["record", "-o", "p.json", "--", "sleep", "3"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until every map is created (the recorder holds them while the command runs).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = Vec::new();
    while Instant::now() < deadline {
        held = maps_held_by(recorder.id());
        if held.len() >= model.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = recorder.wait().unwrap();
    assert!(status.success(), "sysallow record: {status}");

    let mut expected: Vec<HeldMap> = model
        .iter()
        .map(|(d, bytes)| {
            (
                (d.map_type, d.key_size, d.value_size, d.max_entries, d.flags),
                *bytes,
            )
        })
        .collect();
    expected.sort();
    assert_eq!(
        held, expected,
        "the recorder's maps (left: kernel memlock) differ from the model (right) at {cpus} CPUs"
    );
    let total: u64 = held.iter().map(|(_, m)| m).sum();
    eprintln!(
        "{} maps, {:.2} MiB at {cpus} CPUs, exactly as modelled with this kernel's sizes \
         {sizes:?}",
        held.len(),
        total as f64 / 1048576.0
    );

    // The budget (issue 13) holds for a 256-CPU host with this kernel's build.
    let at_256: u64 = memory::kernel_memory(256, &sizes)
        .unwrap()
        .iter()
        .map(|(_, b)| b)
        .sum();
    assert!(
        at_256 <= 16 << 20,
        "{at_256} bytes at 256 CPUs with this kernel's sizes: over the 16 MiB budget"
    );
    // The planning constants (read on another 6.18 build) stay close to this kernel: within
    // 1 KiB per map at this CPU count, so the README's figures for large hosts hold here too.
    let planned = memory::kernel_memory(cpus, &KernelSizes::LINUX_6_18).unwrap();
    for ((def, here), (_, planned)) in model.iter().zip(&planned) {
        assert!(
            here.abs_diff(*planned) <= 1024,
            "map {}: this kernel charges {here} bytes, the 6.18 constants say {planned}",
            def.name
        );
    }
}

/// A cgroup directory of the test's own, removed on drop (also on panic); nothing runs in it.
struct EmptyCgroup(std::path::PathBuf);

impl Drop for EmptyCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn the_memory_model_is_what_the_kernel_charges_for_a_tracer_loaded_as_the_agent_loads_it() {
    // Alone: the maps this process gains while loading are the tracer's, and no other test's.
    require!(alone: root);
    // The node agent's default (the README quotes what 110 pods cost from the same model),
    // armed as it arms `kubepods`: leaf split, runtime boundary, capability checks recorded
    // (the capability maps are sized by the slots too).
    const SLOTS: u32 = sysallow::agent::tracer::AGENT_SLOTS;
    let cpus = sysallow::ebpf::possible_cpus().unwrap();
    let sizes = KernelSizes::measure(cpus).unwrap();
    let model = memory::kernel_memory_for(cpus, SLOTS, &sizes).unwrap();
    let mount = sysallow::cgroup::Cgroup2Mount::find().unwrap();
    let dir = EmptyCgroup(
        mount
            .path
            .join(format!("sysallow-memory-test-{}", std::process::id())),
    );
    std::fs::create_dir(&dir.0).unwrap();
    let cgroup = mount.open(&dir.0).unwrap();
    let me = std::process::id();
    let before = maps_held_by(me);
    let (tracer, _) = sysallow::ebpf::Tracer::load(
        &sysallow::privilege::tracefs().unwrap(),
        &sysallow::ebpf::Root {
            cgroup_id: cgroup.id,
            level: cgroup.level,
            flags: sysallow_common::TARGET_BOUNDARY | sysallow_common::TARGET_LEAF,
            running: Vec::new(),
            slots: SLOTS,
            capabilities: true,
            exit_facts: true,
        },
    )
    .unwrap();
    let mut gained = maps_held_by(me);
    assert!(
        tracer.records_capabilities(),
        "the capability programs did not load: the agent's maps were not all exercised"
    );
    drop(tracer);
    for held in &before {
        if let Some(i) = gained.iter().position(|g| g == held) {
            gained.remove(i);
        }
    }
    let mut expected: Vec<HeldMap> = model
        .iter()
        .map(|(d, bytes)| {
            (
                (d.map_type, d.key_size, d.value_size, d.max_entries, d.flags),
                *bytes,
            )
        })
        .collect();
    expected.sort();
    assert_eq!(
        gained, expected,
        "the tracer's maps (left: kernel memlock) differ from the model (right) with {SLOTS} \
         slots at {cpus} CPUs"
    );
    let total: u64 = gained.iter().map(|(_, m)| m).sum();
    eprintln!(
        "{SLOTS} slots: {} maps, {:.2} MiB at {cpus} CPUs, exactly as modelled",
        gained.len(),
        total as f64 / 1048576.0
    );
}
