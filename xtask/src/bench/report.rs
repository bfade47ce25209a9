//! The report: markdown and JSON, the targets, and kernel map memory.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

pub(super) fn map_type_name(map_type: u32) -> String {
    match map_type {
        1 => "hash".to_owned(),
        2 => "array".to_owned(),
        5 => "percpu_hash".to_owned(),
        6 => "percpu_array".to_owned(),
        other => other.to_string(),
    }
}

pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub(super) struct Report<'a> {
    pub(super) results: &'a BTreeMap<(Workload, Config), Vec<Sample>>,
    pub(super) configs: &'a [Config],
    pub(super) unavailable: &'a [(String, String)],
    /// Tracing programs of others seen at the start or the end of the repetitions.
    pub(super) foreign: &'a [String],
    pub(super) startup: &'a Startup,
    pub(super) env: &'a Env,
    pub(super) possible_cpus: u64,
}

/// The targets.
pub(super) const FLOOR_TARGET: f64 = 1.05;
pub(super) const REAL_TARGET: f64 = 1.03;
pub(super) const STARTUP_TARGET_MS: f64 = 100.0;
pub(super) const RSS_TARGET_MIB: f64 = 20.0;
/// The host sizes the report gives kernel map memory for (from the model).
pub(super) const MODEL_CPUS: [u64; 2] = [64, 256];
/// The node agent: an unrelated process against the empty program, a recorded container
/// against `record` (issue 18).
pub(super) const AGENT_TARGET: f64 = 1.05;
/// Argument capture on a socket-heavy loop: at most this, against capture off.
pub(super) const CAPTURE_TARGET: f64 = 1.05;

impl Report<'_> {
    pub(super) fn cpu_median(&self, workload: Workload, config: Config) -> Option<f64> {
        let samples = self.results.get(&(workload, config))?;
        Some(median(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>()))
    }

    pub(super) fn ratio(&self, workload: Workload, config: Config, base: Config) -> Option<f64> {
        Some(self.cpu_median(workload, config)? / self.cpu_median(workload, base)?)
    }

    pub(super) fn markdown(&self) -> String {
        let mut md = String::new();
        let reps = self.env.sizes.reps;
        md.push_str(&format!(
            "\n## sysallow overhead benchmark\n\nkernel {}, {} CPUs online, {} repetition(s), \
             configurations interleaved. Figures are medians of the workload's own CPU time \
             (user + system of its processes) per unit; min-max across repetitions; wall time \
             for reference (strace's cost is in the strace process, so read its wall column).\n\n",
            kernel_release(),
            system::num_cpus(),
            reps
        ));
        md.push_str(
            "| workload | configuration | CPU median | min-max | wall median | x untraced | x floor |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for workload in WORKLOADS {
            let (unit, scale) = workload.unit();
            for config in self.configs {
                let Some(samples) = self.results.get(&(workload, *config)) else {
                    continue;
                };
                let cpu: Vec<f64> = samples.iter().map(|s| s.cpu / scale).collect();
                let wall: Vec<f64> = samples.iter().map(|s| s.wall / scale).collect();
                let (lo, hi) = min_max(&cpu);
                let fmt_ratio = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.3}"));
                md.push_str(&format!(
                    "| {} | {} | {:.1} {unit} | {lo:.1}-{hi:.1} | {:.1} | {} | {} |\n",
                    workload.name(),
                    config.name(),
                    median(&cpu),
                    median(&wall),
                    fmt_ratio(self.ratio(workload, *config, Config::Untraced)),
                    fmt_ratio(self.ratio(workload, *config, Config::Floor)),
                ));
            }
        }
        for (tool, reason) in self.unavailable {
            md.push_str(&format!("\nNot measured: {tool}: {reason}\n"));
        }
        if !self.foreign.is_empty() {
            md.push_str(&format!(
                "\nOther tracing programs were loaded during the run (they add to every \
                 configuration): {}\n",
                self.foreign.join(", ")
            ));
        }
        md.push_str("\n### Targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
        for (name, value, limit, shown) in self.targets() {
            let verdict = match value {
                _ if limit.is_infinite() => "stated",
                Some(v) if v <= limit => "met",
                Some(_) => "MISSED",
                None => "not measured",
            };
            md.push_str(&format!("| {name} | {shown} | {verdict} |\n"));
        }
        md.push_str(&format!(
            "\n### Kernel map memory (sysallow's maps, as loaded)\n\nPer map: the kernel's own \
             accounting on this host ({} possible CPUs, `memlock` in fdinfo), and what the \
             model computes from the object's map definitions for larger hosts \
             (`sysallow::ebpf::memory`, checked against the kernel by \
             `sysallow/tests/kernel_memory.rs`).\n\n| map | type | key | value | entries | here | \
             {} CPUs | {} CPUs |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            self.possible_cpus, MODEL_CPUS[0], MODEL_CPUS[1]
        ));
        let maps = self.env.maps.as_deref().unwrap_or(&[]);
        let modelled = |name: &str, cpus: u64| {
            self.env
                .map_model
                .get(&(name.to_owned(), cpus))
                .map_or("-".to_owned(), |b| format!("{:.2} MiB", mib(*b)))
        };
        for map in maps {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.2} MiB | {} | {} |\n",
                map.name,
                map_type_name(map.map_type),
                map.key_size,
                map.value_size,
                map.max_entries,
                mib(map.memlock),
                modelled(&map.name, MODEL_CPUS[0]),
                modelled(&map.name, MODEL_CPUS[1]),
            ));
        }
        let here: u64 = maps.iter().map(|m| m.memlock).sum();
        md.push_str(&format!(
            "| total (every map, .rodata included) | | | | | {:.2} MiB | {:.2} MiB | {:.2} MiB |\n",
            mib(here),
            mib(self.model_total(MODEL_CPUS[0])),
            mib(self.model_total(MODEL_CPUS[1]))
        ));
        md
    }

    /// The model's total for a host of `cpus` CPUs.
    pub(super) fn model_total(&self, cpus: u64) -> u64 {
        self.env
            .map_model
            .iter()
            .filter(|((_, c), _)| *c == cpus)
            .map(|(_, b)| b)
            .sum()
    }

    /// (target, measured value in the limit's unit, limit, shown).
    pub(super) fn targets(&self) -> Vec<(String, Option<f64>, f64, String)> {
        let mut t = Vec::new();
        let r = |w, c, b| self.ratio(w, c, b);
        for (workload, base, limit, what) in [
            (
                Workload::Syscalls,
                Config::Floor,
                FLOOR_TARGET,
                "traced getppid loop, x floor",
            ),
            (
                Workload::Unrelated,
                Config::Floor,
                FLOOR_TARGET,
                "unrelated process, x floor",
            ),
            (
                Workload::Files,
                Config::Untraced,
                REAL_TARGET,
                "file-heavy workload, x untraced",
            ),
            (
                Workload::ForkExec,
                Config::Untraced,
                REAL_TARGET,
                "fork/exec storm, x untraced",
            ),
        ] {
            let value = r(workload, Config::Sysallow, base);
            t.push((
                format!("{what} <= {limit}"),
                value,
                limit,
                value.map_or("-".to_owned(), |v| format!("{v:.3}")),
            ));
        }
        // Argument capture, on against off in the same run: the socket loop pays for it
        // (capped), the getppid loops must not change beyond noise (stated).
        for (workload, limit, what) in [
            (
                Workload::Sockets,
                CAPTURE_TARGET,
                "socket+close loop, capture on / off",
            ),
            (
                Workload::Syscalls,
                f64::INFINITY,
                "traced getppid loop, capture on / off",
            ),
            (
                Workload::Unrelated,
                f64::INFINITY,
                "unrelated process, capture on / off",
            ),
        ] {
            let value = r(workload, Config::Sysallow, Config::SysallowNoCapture);
            t.push((
                if limit.is_finite() {
                    format!("{what} <= {limit}")
                } else {
                    format!("{what} (stated)")
                },
                value,
                limit,
                value.map_or("-".to_owned(), |v| format!("{v:.3}")),
            ));
        }
        // Capability recording, on against off in the same run: the unrelated process must
        // pay nothing (its tasks leave the capability hook after the armed-cgroup compare) and
        // the mmap loop (a CAP_SYS_ADMIN check per mmap) pays one aggregation per check.
        for (workload, what) in [
            (
                Workload::Unrelated,
                "unrelated process, capabilities on / off",
            ),
            (Workload::Mmap, "mmap+munmap loop, capabilities on / off"),
            (
                Workload::Syscalls,
                "traced getppid loop, capabilities on / off",
            ),
        ] {
            let value = r(workload, Config::Sysallow, Config::SysallowNoCaps);
            t.push((
                format!("{what} (stated)"),
                value,
                f64::INFINITY,
                value.map_or("-".to_owned(), |v| format!("{v:.3}")),
            ));
        }
        // The node agent (issue 18): one set of programs for every pod, so a process of no
        // watched pod pays what the empty program costs, and a recorded container what a
        // single `record` costs. 5% is the allowance for noise between configurations.
        for (workload, base, what) in [
            (
                Workload::Unrelated,
                Config::BpfEmpty,
                "unrelated process beside the agent watching {pods} pods, x bpf-empty",
            ),
            (
                Workload::Syscalls,
                Config::Sysallow,
                "getppid loop in a container the agent records ({pods} pods), x sysallow record",
            ),
        ] {
            let value = r(workload, Config::Agent, base);
            t.push((
                format!(
                    "{} <= {AGENT_TARGET}",
                    what.replace("{pods}", &self.env.sizes.pods.to_string())
                ),
                value,
                AGENT_TARGET,
                value.map_or("-".to_owned(), |v| format!("{v:.3}")),
            ));
        }
        let startup = median(&self.startup.recorded_ms);
        t.push((
            format!("start-up (record -- stamp, spawn to exec) < {STARTUP_TARGET_MS} ms"),
            Some(startup),
            STARTUP_TARGET_MS,
            format!(
                "{startup:.1} ms (a direct spawn+exec: {:.1} ms)",
                median(&self.startup.direct_ms)
            ),
        ));
        let rss = self
            .startup
            .rss_kib
            .iter()
            .chain(&self.env.idle_rss_kib)
            .max()
            .map(|k| *k as f64 / 1024.0);
        t.push((
            format!("recorder peak RSS < {RSS_TARGET_MIB} MiB"),
            rss,
            RSS_TARGET_MIB,
            rss.map_or("-".to_owned(), |r| format!("{r:.1} MiB")),
        ));
        t.push((
            format!("kernel map memory on a {}-CPU host (stated)", MODEL_CPUS[0]),
            Some(0.0),
            f64::INFINITY,
            format!("{:.1} MiB", mib(self.model_total(MODEL_CPUS[0]))),
        ));
        let big = self.model_total(MODEL_CPUS[1]);
        t.push((
            format!(
                "kernel map memory on a {}-CPU host <= 16 MiB",
                MODEL_CPUS[1]
            ),
            (big > 0).then(|| mib(big)),
            16.0,
            format!("{:.1} MiB", mib(big)),
        ));
        t
    }

    pub(super) fn json(&self, quick: bool, bench_secs: f64) -> serde_json::Value {
        let mut rows = Vec::new();
        for ((workload, config), samples) in self.results {
            let (unit, scale) = workload.unit();
            let cpu: Vec<f64> = samples.iter().map(|s| s.cpu / scale).collect();
            let wall: Vec<f64> = samples.iter().map(|s| s.wall / scale).collect();
            rows.push(json!({
                "workload": workload.key(),
                "config": config.name(),
                "unit": unit,
                "cpu": cpu,
                "wall": wall,
                "cpu_median": median(&cpu),
                "wall_median": median(&wall),
                "ratio_untraced": self.ratio(*workload, *config, Config::Untraced),
                "ratio_floor": self.ratio(*workload, *config, Config::Floor),
            }));
        }
        let maps: Vec<_> = self
            .env
            .maps
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|m| {
                json!({
                    "name": m.name, "type": m.map_type, "key_size": m.key_size,
                    "value_size": m.value_size, "max_entries": m.max_entries,
                    "flags": m.map_flags, "bytes_here": m.memlock,
                })
            })
            .collect();
        let here: u64 = self
            .env
            .maps
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|m| m.memlock)
            .sum();
        json!({
            "quick": quick,
            "kernel": kernel_release(),
            "cpus_online": system::num_cpus(),
            "cpus_possible": self.possible_cpus,
            "repetitions": self.env.sizes.reps,
            "sizes": {
                "syscalls": self.env.sizes.syscalls,
                "spawns": self.env.sizes.spawns,
                "files_dir": format!("/usr/{}", self.env.sizes.files_dir),
                "agent_pods": self.env.sizes.pods,
            },
            "floor_filter": system::FLOOR_FILTER,
            "bench_seconds": bench_secs,
            "results": rows,
            "unavailable": self.unavailable.iter().map(|(t, r)| json!({"tool": t, "reason": r})).collect::<Vec<_>>(),
            "foreign_tracing_programs": self.foreign,
            "startup": {
                "recorded_ms": self.startup.recorded_ms,
                "direct_ms": self.startup.direct_ms,
                "recorded_median_ms": median(&self.startup.recorded_ms),
                "direct_median_ms": median(&self.startup.direct_ms),
            },
            "rss_kib": {
                "record_true_wait4": self.startup.rss_kib,
                "recording_vmhwm": self.env.idle_rss_kib,
            },
            "map_memory": {
                "maps": maps,
                "bytes_here": here,
                "model_bytes": MODEL_CPUS.iter().map(|c| (c.to_string(), self.model_total(*c))).collect::<BTreeMap<_, _>>(),
            },
            "targets": self.targets().into_iter().map(|(name, value, limit, shown)| json!({
                "target": name,
                "value": value,
                "limit": if limit.is_finite() { Some(limit) } else { None },
                "shown": shown,
                "met": value.map(|v| v <= limit),
            })).collect::<Vec<_>>(),
        })
    }
}
