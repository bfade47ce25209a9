//! The Recording: what a workload was seen to do, as a versioned JSON document.
//!
//! The collector (`tracer`) writes it; everything else (generate, merge, diff, explain) reads
//! it. A newer major `version` is refused with a clear error rather than misread.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::abi::Abi;
use crate::args::ArgValues;
use crate::container::{Engine, Runtime};

/// The `format` field of every Recording.
pub const FORMAT: &str = "sysallow-recording";
/// The version this build writes and the highest it reads. Version 2 added `first_seen_ms`,
/// `args` and `failed` per syscall, the `first_seen_full` and `arg_map_full` losses,
/// `imports` and `denied_by_filter`; version 3 added `privileges` (the run-time layer) and
/// `kubernetes` (the pod a container belonged to). Versions 1 and 2 still read.
pub const VERSION: u32 = 3;

/// Name under which syscalls of tasks whose program is unknown are attributed (for a spawned
/// command: the `execve` that starts it, made by sysallow's child before the first exec).
pub const UNATTRIBUTED: &str = "(unattributed)";

/// Name under which a container's syscalls are attributed when the container runtime made
/// them after the boundary (runc's or crun's tail, between installing the filter and the
/// entrypoint's exec): the profile must allow them or the container cannot start.
pub const CONTAINER_RUNTIME: &str = "(container runtime)";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the writer.
    pub version: u32,
    pub tool: Tool,
    pub host: Host,
    pub target: Target,
    /// Start of the recording, RFC 3339 in UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// How the recorded command ended, where sysallow ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
    /// Per ABI, what was seen.
    pub abis: BTreeMap<Abi, AbiRecord>,
    /// What could not be recorded. All zero in a normal run; anything else is reported.
    pub losses: Losses,
    /// For a container: what the runtime did in the container's cgroup before the boundary
    /// (before it installed the seccomp filter, or before the entrypoint's exec when it runs
    /// unconfined). Kept to show what was left out of the profile, and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_setup: BTreeMap<Abi, BTreeMap<String, u64>>,
    /// Present when this Recording is a merge (`sysallow merge`): how many inputs saw each
    /// syscall, so a user can see what only one run needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// The static cross-check (`imports.rs`): per program, what its own imports say it may
    /// call that the recording never saw. Absent where it was not run (`--imports off`, a
    /// container, or a version 1 recording).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub imports: BTreeMap<String, ProgramImports>,
    /// Syscalls a filter already in place denied before they were entered (seen only at
    /// sys_exit, with the errno it gave), per ABI: not in `abis`, since the workload never
    /// made them; a profile answers them the same way (recorded for containers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub denied_by_filter: BTreeMap<Abi, BTreeMap<String, Failures>>,
    /// What the run-time layer (capabilities, no-new-privileges, a read-only root, the user)
    /// depends on, seen after the set-up boundary. Absent where it was not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileges: Option<crate::privileges::Privileges>,
    /// For a container of a Kubernetes pod: the pod and its workload (from the CRI labels
    /// kubelet sets). Absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<crate::pod::PodRef>,
}

/// How many merged inputs saw each syscall (written by `merge`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// How many recordings were merged (a merged input counts as the recordings it merged).
    pub inputs: u32,
    /// Per ABI, per syscall name: how many of those inputs saw it.
    pub syscalls: BTreeMap<Abi, BTreeMap<String, u32>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// `uname -r`.
    pub kernel: String,
    /// The host's native ABI.
    pub arch: Abi,
    /// The C library of the host, e.g. `glibc 2.36`, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libc: Option<String>,
}

/// What was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// A command sysallow started in a cgroup of its own.
    Command {
        argv: Vec<String>,
        /// The user it ran as.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// A container, resolved to its cgroup.
    Container {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The engine that ran it (`docker`, `podman`, `containerd`, `cri-o`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        engine: Option<Engine>,
        /// The OCI runtime that started it (`runc`, `crun`), where the engine said: it decides
        /// the runtime tail a profile for it needs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        runtime: Option<Runtime>,
        /// It was started with no-new-privileges (a smaller runtime tail).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        no_new_privileges: bool,
        cgroup: String,
    },
    /// A cgroup given by path (or the cgroup of a given pid).
    Cgroup {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell's convention: the code, or 128 + the signal number.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// What one ABI saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbiRecord {
    /// Named syscalls, by name.
    pub syscalls: BTreeMap<String, SyscallRecord>,
    /// Numbers this ABI's table has no name for (a kernel newer than the table); kept so that
    /// nothing is lost, and reported by the generator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unnamed: BTreeMap<u32, SyscallRecord>,
}

/// One syscall in one ABI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyscallRecord {
    /// The syscall number in this ABI.
    pub nr: u32,
    /// How many times it was entered.
    pub count: u64,
    /// Per program (executable path, or [`UNATTRIBUTED`]): how many of those calls it made.
    pub programs: BTreeMap<String, u64>,
    /// Per program: when it first made this syscall, in milliseconds from the start of the
    /// recording (after a merge: the earliest over the inputs, each from its own start).
    /// Absent in version 1 recordings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub first_seen_ms: BTreeMap<String, u64>,
    /// The distinct values of its captured argument (`args.rs`), for the syscalls whose
    /// argument the recorder captures. Absent in version 1 recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<ArgValues>,
    /// How many of those calls failed with EPERM or ENOSYS (recorded for containers, where
    /// sys_exit is watched: `record`, and `agent --exit-facts`).
    #[serde(default, skip_serializing_if = "Failures::is_empty")]
    pub failed: Failures,
}

/// Calls that failed with EPERM or ENOSYS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failures {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub eperm: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub enosys: u64,
}

impl Failures {
    pub fn is_empty(&self) -> bool {
        self.eperm == 0 && self.enosys == 0
    }

    pub fn add(&mut self, other: &Failures) {
        self.eperm += other.eperm;
        self.enosys += other.enosys;
    }

    /// The errno most of them got.
    pub fn errno(&self) -> u32 {
        if self.enosys > self.eperm { 38 } else { 1 }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SyscallRecord {
    /// When any program first made it, where known.
    pub fn first_seen(&self) -> Option<u64> {
        self.first_seen_ms.values().min().copied()
    }
}

/// Counters of what could not be recorded, by cause (see `sysallow_common::Loss`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Losses {
    /// Syscall numbers outside the counted range (the syscall itself was not recorded).
    pub nr_out_of_range: u64,
    /// Execs of a new program after all program slots were taken (the syscalls were recorded,
    /// as unattributed).
    pub program_slots_full: u64,
    /// Forks when the task map was full (recorded, as unattributed).
    pub task_map_full: u64,
    /// Executable paths longer than the kernel side keeps (recorded, under the truncated path).
    pub path_truncated: u64,
    /// Counter slots that could not be addressed (not recorded).
    pub counter_missing: u64,
    /// Syscalls whose ABI could not be told (recorded as native).
    pub abi_unknown: u64,
    /// New containers under a `--cgroup-parent` that could not get a recording of their own
    /// (recorded under the parent).
    #[serde(default)]
    pub targets_full: u64,
    /// Syscalls whose first-seen time could not be kept (counted all the same).
    #[serde(default)]
    pub first_seen_full: u64,
    /// Argument values that could not be kept: no argument set is known to be complete, so
    /// none makes a rule.
    #[serde(default)]
    pub arg_map_full: u64,
    /// Capability checks, privileged execs or effective ids that could not be kept: the
    /// run-time layer's record (`privileges`) is incomplete.
    #[serde(default)]
    pub privileges_full: u64,
}

impl Losses {
    /// Losses where a syscall was not recorded at all.
    pub fn syscalls_lost(&self) -> u64 {
        self.nr_out_of_range + self.counter_missing
    }

    /// Every nonzero counter, by name, for a report.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        [
            ("nr_out_of_range", self.nr_out_of_range),
            ("program_slots_full", self.program_slots_full),
            ("task_map_full", self.task_map_full),
            ("path_truncated", self.path_truncated),
            ("counter_missing", self.counter_missing),
            ("abi_unknown", self.abi_unknown),
            ("targets_full", self.targets_full),
            ("first_seen_full", self.first_seen_full),
            ("arg_map_full", self.arg_map_full),
            ("privileges_full", self.privileges_full),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// What one program's imports say, as kept in a Recording.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramImports {
    /// `static`, `glibc`, `musl`, `dynamic` (another or no libc), or `unreadable: why`.
    pub linkage: String,
    /// The ABI of the executable, where it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abi: Option<Abi>,
    /// Syscalls its imports imply that the recording never saw in that ABI, each with the
    /// imported functions that imply it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unseen: BTreeMap<String, Vec<String>>,
}

/// A Recording that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("not a sysallow recording: line {line}, column {column}")]
    Json {
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("not a sysallow recording: \"format\" is {found:?}, expected {FORMAT:?}")]
    Format { found: String },
    #[error(
        "recording version {found} is newer than this sysallow reads ({VERSION}); upgrade sysallow"
    )]
    Version { found: u32 },
}

impl Recording {
    /// An empty recording for `target`, stamped with this tool and `host`.
    pub fn new(target: Target, host: Host, started_at: String) -> Self {
        Recording {
            format: FORMAT.to_owned(),
            version: VERSION,
            tool: Tool {
                name: "sysallow".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            host,
            target,
            started_at,
            duration_ms: 0,
            exit: None,
            abis: BTreeMap::new(),
            losses: Losses::default(),
            runtime_setup: BTreeMap::new(),
            coverage: None,
            imports: BTreeMap::new(),
            denied_by_filter: BTreeMap::new(),
            privileges: None,
            kubernetes: None,
        }
    }

    /// Parse a Recording from JSON text, saying where it is malformed.
    pub fn from_json(text: &str) -> Result<Self, RecordingError> {
        // Check the envelope first so that a wrong file says so, not "missing field".
        let value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(RecordingError::Format {
                found: format.to_owned(),
            });
        }
        let version = value
            .get("version")
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if version > VERSION {
            return Err(RecordingError::Version { found: version });
        }
        serde_json::from_str(text).map_err(json_error)
    }

    /// Pretty JSON, with a trailing newline.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Count `count` calls of syscall `nr` in `abi` made by `program`.
    pub fn add(&mut self, abi: Abi, nr: u32, program: &str, count: u64) {
        if count == 0 {
            return;
        }
        let record = self.abis.entry(abi).or_default();
        let entry = match abi.syscall_name(nr) {
            Some(name) => record.syscalls.entry(name.to_owned()).or_default(),
            None => record.unnamed.entry(nr).or_default(),
        };
        entry.nr = nr;
        entry.count += count;
        *entry.programs.entry(program.to_owned()).or_default() += count;
    }

    /// `program` first made syscall `nr` in `abi` at `ms` from the start (the earliest time
    /// given wins).
    pub fn note_first_seen(&mut self, abi: Abi, nr: u32, program: &str, ms: u64) {
        let record = self.abis.entry(abi).or_default();
        let entry = match abi.syscall_name(nr) {
            Some(name) => record.syscalls.get_mut(name),
            None => record.unnamed.get_mut(&nr),
        };
        // Only for a syscall that was counted: a time alone says nothing.
        if let Some(entry) = entry {
            let seen = entry.first_seen_ms.entry(program.to_owned()).or_insert(ms);
            *seen = (*seen).min(ms);
        }
    }

    /// The values captured of syscall `nr`'s argument in `abi` (merged with any already kept).
    pub fn note_args(&mut self, abi: Abi, nr: u32, values: &ArgValues) {
        let record = self.abis.entry(abi).or_default();
        let entry = match abi.syscall_name(nr) {
            Some(name) => record.syscalls.get_mut(name),
            None => record.unnamed.get_mut(&nr),
        };
        if let Some(entry) = entry {
            entry
                .args
                .get_or_insert_with(ArgValues::default)
                .merge(values);
        }
    }

    /// Syscall `nr` in `abi` failed: `entered` of its calls after entry, `denied` before entry
    /// (a filter in place). Unnamed numbers are left out: a profile can only name syscalls.
    pub fn note_failures(&mut self, abi: Abi, nr: u32, entered: &Failures, denied: &Failures) {
        let Some(name) = abi.syscall_name(nr) else {
            return;
        };
        if !entered.is_empty()
            && let Some(sc) = self.abis.entry(abi).or_default().syscalls.get_mut(name)
        {
            sc.failed.add(entered);
        }
        if !denied.is_empty() {
            self.denied_by_filter
                .entry(abi)
                .or_default()
                .entry(name.to_owned())
                .or_default()
                .add(denied);
        }
    }

    /// One line for what a filter in place denied before entry: `keyctl (EPERM, 3x), clone3
    /// (x86_64, ENOSYS, 1x)`; None if nothing.
    pub fn denied_summary(&self) -> Option<String> {
        let native = Abi::native();
        let items: Vec<String> = self
            .denied_by_filter
            .iter()
            .flat_map(|(abi, denied)| denied.iter().map(move |(name, f)| (*abi, name, f)))
            .map(|(abi, name, f)| {
                let errno = if f.errno() == 38 { "ENOSYS" } else { "EPERM" };
                let abi = if abi == native {
                    String::new()
                } else {
                    format!("{abi}, ")
                };
                format!("{name} ({abi}{errno}, {}x)", f.eperm + f.enosys)
            })
            .collect();
        (!items.is_empty()).then(|| items.join(", "))
    }

    /// The discovery curve: (ms from the start, distinct syscalls seen by then), one point
    /// per first appearance of an (ABI, syscall), in time order.
    pub fn discovery(&self) -> Vec<(u64, usize)> {
        let mut times: Vec<u64> = self
            .abis
            .values()
            .flat_map(|a| a.syscalls.values().chain(a.unnamed.values()))
            .filter_map(SyscallRecord::first_seen)
            .collect();
        times.sort_unstable();
        times
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i + 1))
            .collect()
    }

    /// Count `count` calls of syscall `nr` in `abi` made by the container runtime before the
    /// boundary (not part of the workload).
    pub fn add_runtime_setup(&mut self, abi: Abi, nr: u32, count: u64) {
        if count == 0 {
            return;
        }
        let name = abi
            .syscall_name(nr)
            .map_or_else(|| format!("#{nr}"), str::to_owned);
        *self
            .runtime_setup
            .entry(abi)
            .or_default()
            .entry(name)
            .or_default() += count;
    }

    /// Every (ABI, syscall name) seen, in order.
    pub fn syscall_names(&self) -> impl Iterator<Item = (Abi, &str)> {
        self.abis
            .iter()
            .flat_map(|(abi, rec)| rec.syscalls.keys().map(move |name| (*abi, name.as_str())))
    }

    /// Every program that made a syscall.
    pub fn programs(&self) -> Vec<&str> {
        let mut programs: Vec<&str> = self
            .abis
            .values()
            .flat_map(|rec| rec.syscalls.values().chain(rec.unnamed.values()))
            .flat_map(|s| s.programs.keys().map(String::as_str))
            .collect();
        programs.sort_unstable();
        programs.dedup();
        programs
    }
}

fn json_error(source: serde_json::Error) -> RecordingError {
    RecordingError::Json {
        line: source.line(),
        column: source.column(),
        source,
    }
}

/// An empty recording of `target` on an x86_64 glibc host, for the crate's tests.
#[cfg(test)]
pub(crate) fn for_tests(target: Target) -> Recording {
    Recording::new(
        target,
        Host {
            kernel: "6.18.0".into(),
            arch: Abi::X86_64,
            libc: Some("glibc 2.36".into()),
        },
        "2026-11-23T00:00:00Z".into(),
    )
}

/// A command target running `argv`, for the crate's tests.
#[cfg(test)]
pub(crate) fn command_for_tests(argv: &[&str]) -> Target {
    Target::Command {
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        user: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Recording {
        let mut rec = for_tests(command_for_tests(&["true"]));
        rec.add(Abi::X86_64, 59, UNATTRIBUTED, 1);
        rec.add(Abi::X86_64, 0, "/usr/bin/true", 3);
        rec.add(Abi::X86, 5, "/tmp/a32", 2);
        rec.add(Abi::X86_64, 499, "/usr/bin/true", 1);
        rec
    }

    #[test]
    fn names_per_abi_and_keeps_unnamed_numbers() {
        let rec = sample();
        let native = &rec.abis[&Abi::X86_64];
        assert_eq!(native.syscalls["execve"].programs[UNATTRIBUTED], 1);
        assert_eq!(native.syscalls["read"].count, 3);
        assert_eq!(native.unnamed[&499].count, 1);
        assert_eq!(rec.abis[&Abi::X86].syscalls["open"].nr, 5);
    }

    #[test]
    fn round_trips_through_json() {
        let rec = sample();
        assert_eq!(Recording::from_json(&rec.to_json()).ok(), Some(rec));
    }

    #[test]
    fn malformed_input_says_where_and_what() {
        let err = Recording::from_json("{\n  \"format\": ")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = Recording::from_json(r#"{"format":"other"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"other\""), "{err}");
        let err = Recording::from_json(r#"{"format":"sysallow-recording","version":99}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
