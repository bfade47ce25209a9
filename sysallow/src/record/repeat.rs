//! `record --repeat N`: the command run N times, each run's new syscalls reported, the runs
//! merged into one recording that says, per syscall, in how many runs it was seen.

use std::fmt;

use sysallow_profile::{Abi, Recording};

use super::{CommandRecording, CommandSpec, RecordError, record_command};
use crate::spawn::Ended;

/// What one run of a repeated recording did, as reported after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// 1-based.
    pub run: u32,
    pub of: u32,
    /// This run's exit status (0 when stopped by `--until-stable`).
    pub status: u8,
    /// Processes it left running, stopped by sysallow.
    pub stragglers: usize,
    /// Syscalls no earlier run saw (see [`new_syscalls`]).
    pub new: Vec<String>,
}

impl fmt::Display for RunReport {
    /// `run k/N: exit status S; M syscall(s) not seen in earlier runs: a b c` (the list left
    /// out on the first run, where everything is new).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {}/{}: exit status {}; {} syscall(s) not seen in earlier runs",
            self.run,
            self.of,
            self.status,
            self.new.len()
        )?;
        if !self.new.is_empty() && self.run != 1 {
            write!(f, ": {}", self.new.join(" "))?;
        }
        Ok(())
    }
}

/// The runs so far of a repeated recording.
#[derive(Debug)]
pub struct Runs {
    of: u32,
    recordings: Vec<Recording>,
    status: u8,
}

/// A repeated recording, merged.
#[derive(Debug)]
pub struct Repeated {
    /// The one run's recording, or the runs merged.
    pub recording: Recording,
    /// The first failing run's exit status, else 0.
    pub status: u8,
    /// What the merge had to say (e.g. runs on different hosts).
    pub warnings: Vec<String>,
}

impl Runs {
    pub fn new(of: u32) -> Self {
        Runs {
            of,
            recordings: Vec::new(),
            status: 0,
        }
    }

    /// Add the next run.
    pub fn add(&mut self, result: CommandRecording) -> RunReport {
        let status = match result.ended {
            // Stopped on purpose: nothing new appeared for --until-stable.
            _ if result.stopped_stable => 0,
            Ended::Code(code) => code as u8,
            Ended::Signal(signal) => (128 + signal) as u8,
        };
        let report = RunReport {
            run: u32::try_from(self.recordings.len() + 1).unwrap_or(u32::MAX),
            of: self.of,
            status,
            stragglers: result.stragglers,
            new: new_syscalls(&self.recordings, &result.recording, Abi::native()),
        };
        if self.status == 0 {
            self.status = status;
        }
        self.recordings.push(result.recording);
        report
    }

    /// The runs as one recording.
    pub fn finish(mut self) -> Repeated {
        let (recording, warnings) = if self.recordings.len() == 1 {
            (self.recordings.remove(0), Vec::new())
        } else {
            let refs: Vec<&Recording> = self.recordings.iter().collect();
            sysallow_profile::merge::merge_recordings(&refs)
        };
        Repeated {
            recording,
            status: self.status,
            warnings,
        }
    }
}

/// Record `spec` `runs` times (at least once), calling `after_run` after each run.
pub fn record_repeated(
    spec: &CommandSpec<'_>,
    runs: u32,
    mut after_run: impl FnMut(&RunReport),
) -> Result<Repeated, RecordError> {
    let mut all = Runs::new(runs.max(1));
    for _ in 0..runs.max(1) {
        let report = all.add(record_command(spec)?);
        after_run(&report);
    }
    Ok(all.finish())
}

/// The (ABI, syscall) names of `recording` that none of `earlier` saw, as `name` (or
/// `name/abi` outside the host's `native` ABI).
pub fn new_syscalls(earlier: &[Recording], recording: &Recording, native: Abi) -> Vec<String> {
    recording
        .abis
        .iter()
        .flat_map(|(abi, rec)| rec.syscalls.keys().map(move |name| (*abi, name)))
        .filter(|(abi, name)| {
            !earlier.iter().any(|r| {
                r.abis
                    .get(abi)
                    .is_some_and(|a| a.syscalls.contains_key(*name))
            })
        })
        .map(|(abi, name)| {
            if abi == native {
                name.clone()
            } else {
                format!("{name}/{abi}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysallow_profile::recording::{Host, SyscallRecord, Target};

    fn run(calls: &[(Abi, &str)], ended: Ended) -> CommandRecording {
        let mut recording = Recording::new(
            Target::Command {
                argv: vec!["app".to_owned()],
                user: None,
            },
            Host {
                kernel: "6.18".to_owned(),
                arch: Abi::X86_64,
                libc: None,
            },
            "2025-01-01T00:00:00Z".to_owned(),
        );
        for (abi, name) in calls {
            recording.abis.entry(*abi).or_default().syscalls.insert(
                (*name).to_owned(),
                SyscallRecord {
                    count: 1,
                    ..SyscallRecord::default()
                },
            );
        }
        CommandRecording {
            recording,
            ended,
            stopped_stable: false,
            stragglers: 0,
        }
    }

    #[test]
    fn each_run_reports_what_no_earlier_run_saw() {
        let mut runs = Runs::new(3);
        let first = runs.add(run(
            &[(Abi::X86_64, "read"), (Abi::X86_64, "write")],
            Ended::Code(0),
        ));
        assert_eq!(first.new, ["read", "write"]);
        // Everything is new on the first run: counted, not listed.
        assert_eq!(
            first.to_string(),
            "run 1/3: exit status 0; 2 syscall(s) not seen in earlier runs"
        );
        let second = runs.add(run(
            &[
                (Abi::X86_64, "read"),
                (Abi::X86_64, "poll"),
                (Abi::X86, "read"),
            ],
            Ended::Signal(15),
        ));
        // Another ABI's read is another syscall, named with its ABI.
        assert_eq!(second.new, ["poll", "read/x86"]);
        assert_eq!(
            second.to_string(),
            "run 2/3: exit status 143; 2 syscall(s) not seen in earlier runs: poll read/x86"
        );
        let third = runs.add(run(&[(Abi::X86_64, "write")], Ended::Code(3)));
        assert!(third.new.is_empty());
        assert_eq!(
            third.to_string(),
            "run 3/3: exit status 3; 0 syscall(s) not seen in earlier runs"
        );

        let merged = runs.finish();
        // The first failing run's status.
        assert_eq!(merged.status, 143);
        let names = |abi| -> Vec<&str> {
            merged.recording.abis[&abi]
                .syscalls
                .keys()
                .map(String::as_str)
                .collect()
        };
        assert_eq!(names(Abi::X86_64), ["poll", "read", "write"]);
        assert_eq!(names(Abi::X86), ["read"]);
    }

    #[test]
    fn a_single_run_is_kept_as_is_and_a_stable_stop_is_success() {
        let mut runs = Runs::new(1);
        let mut one = run(&[(Abi::X86_64, "read")], Ended::Signal(15));
        one.stopped_stable = true;
        one.stragglers = 2;
        let expected = one.recording.clone();
        let report = runs.add(one);
        assert_eq!((report.status, report.stragglers), (0, 2));
        let single = runs.finish();
        assert_eq!(single.recording, expected);
        assert_eq!(single.status, 0);
        assert!(single.warnings.is_empty());
    }
}
