//! Writing a recording's outputs (the Recording and the profile generated from it), and the
//! summary said after: what was recorded, what ended the command, the imports' advice, and
//! the hint on what the recording may lack.

use std::collections::BTreeSet;
use std::path::Path;

use sysallow_profile::Recording;
use sysallow_profile::formats::{self, Format};
use sysallow_profile::generate::{self, GenerateError, GenerationPolicy};
use sysallow_profile::imports::{self, ImportsMode};
use sysallow_profile::profile::Action;
use sysallow_profile::recording::{Exit, Target};

use crate::output::{Output, OutputError, Owner};

#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error(transparent)]
    Prepare(#[from] OutputError),
    #[error("generating the profile")]
    Generate(#[source] GenerateError),
    #[error("writing the recording")]
    WriteRecording(#[source] OutputError),
    #[error("writing the profile")]
    WriteProfile(#[source] OutputError),
}

/// The profile and recording outputs of one recording, prepared before recording (an
/// unwritable path fails then, not after the workload ran).
pub struct Outputs {
    pub profile: Option<Output>,
    pub recording: Option<Output>,
}

/// How the profile is generated from a recording.
pub struct Generation<'a> {
    /// The policy for this recording's kind of target, with the user's flags.
    pub policy: &'a GenerationPolicy,
    /// The static cross-check of the programs' imports.
    pub imports: ImportsMode,
}

impl Outputs {
    pub fn prepare(
        profile: Option<&Path>,
        recording: Option<&Path>,
        owner: Option<&Owner>,
    ) -> Result<Outputs, OutputsError> {
        Ok(Outputs {
            profile: profile.map(|p| Output::prepare(p, owner)).transpose()?,
            recording: recording.map(|p| Output::prepare(p, owner)).transpose()?,
        })
    }

    /// Cross-check the imports, generate the profile, write both files, and tell `say` each
    /// line for the user (warnings start with `warning: `), in order.
    pub fn write(
        self,
        recording: &Recording,
        generation: &Generation<'_>,
        how: RecordedHow,
        say: &mut dyn FnMut(&str),
    ) -> Result<(), OutputsError> {
        let mut recording = recording.clone();
        cross_check(&mut recording, generation.imports);
        let recording = &recording;
        let generated = generate::generate(std::slice::from_ref(recording), generation.policy)
            .map_err(OutputsError::Generate)?;
        for warning in &generated.warnings {
            say(&format!("warning: {warning}"));
        }
        for (cause, n) in recording.losses.nonzero() {
            say(&format!(
                "warning: {n} event(s) could not be recorded fully: {cause}"
            ));
        }
        if let Some(out) = self.recording {
            out.commit(&recording.to_json())
                .map_err(OutputsError::WriteRecording)?;
        }
        if let Some(out) = self.profile {
            let json = formats::write(&generated.profile, Format::for_target(&recording.target));
            out.commit(&json).map_err(OutputsError::WriteProfile)?;
        }
        for line in summary(recording, &generated.profile, generation.imports, how) {
            say(&line);
        }
        Ok(())
    }
}

/// What is said once a recording is written: how the command ended (when not well), what
/// was recorded, what a filter denied, the imports' advice, and the incompleteness hint.
pub fn summary(
    recording: &Recording,
    profile: &sysallow_profile::Profile,
    imports_mode: ImportsMode,
    how: RecordedHow,
) -> Vec<String> {
    let mut lines = Vec::new();
    match recording.exit {
        Some(Exit::Signal(signal)) => {
            let name = nix::sys::signal::Signal::try_from(signal)
                .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned());
            lines.push(format!(
                "the command was ended by {name} (exit status {}); the recording holds what it \
                 did until then",
                128 + signal
            ));
        }
        // A failed run took its error path, not its usual one: say so, for the profile.
        Some(Exit::Code(code)) if code != 0 => lines.push(format!(
            "the command exited with status {code}{}; the recording holds what it did until \
             then, which may not be all a successful run does",
            match code {
                126 => " (a program it ran could not be executed)",
                127 => " (a program it ran was not found)",
                _ => "",
            }
        )),
        _ => {}
    }
    let syscalls: usize = recording.abis.values().map(|a| a.syscalls.len()).sum();
    lines.push(format!(
        "recorded {syscalls} distinct syscalls from {} program(s) in {} ms",
        recording.programs().len(),
        recording.duration_ms
    ));
    if let Some(denied) = recording.denied_summary() {
        lines.push(format!(
            "the filter the workload ran under denied these before entry (the profile answers \
             them the same way): {denied}"
        ));
    }
    let advice = imports::summary(&recording.imports, false);
    if !advice.is_empty() {
        lines.push(format!(
            "imports: syscalls the programs' own imports can make that the recording never saw \
             ({}):",
            match imports_mode {
                ImportsMode::Allow => "the ordinary ones are allowed in the profile",
                _ => "advised only; --imports allow adds them",
            }
        ));
        lines.extend(advice.into_iter().map(|line| format!("  {line}")));
    }
    if let Some(hint) = how.incompleteness(recording, profile) {
        lines.push(hint);
    }
    lines
}

/// How a recording was made, for the one-line hint on what it may lack.
#[derive(Clone, Copy, Debug)]
pub struct RecordedHow {
    /// Runs merged into it (`--repeat`; one per container).
    pub runs: u32,
    pub stressed: bool,
    /// A container under `--cgroup-parent`: its runs are merged with `sysallow merge`.
    pub container_run: bool,
}

impl RecordedHow {
    /// One line when the recording is likely incomplete: one run, or runs without --stress,
    /// with the count of syscalls the programs' imports advise that the profile still does not
    /// allow. None when it was recorded the README's way (several stressed runs), where the
    /// advice above is the whole story.
    pub fn incompleteness(
        &self,
        recording: &Recording,
        profile: &sysallow_profile::Profile,
    ) -> Option<String> {
        let allowed: BTreeSet<&str> = profile
            .syscalls
            .iter()
            .filter(|r| r.action == Action::Allow)
            .flat_map(|r| r.names.iter().map(String::as_str))
            .collect();
        let left_out: BTreeSet<&str> = recording
            .imports
            .values()
            .flat_map(|p| p.unseen.keys().map(String::as_str))
            .filter(|name| !allowed.contains(name))
            .collect();
        let mut why = vec![match (self.runs, self.stressed) {
            (1, false) => "one run, not stressed".to_owned(),
            (1, true) => "one run".to_owned(),
            (n, false) => format!("{n} runs, not stressed"),
            (_, true) => return None,
        }];
        if !left_out.is_empty() {
            why.push(format!(
                "{} syscall(s) the imports advise are not allowed (sysallow explain lists them)",
                left_out.len()
            ));
        }
        let instead = if self.container_run {
            "record with --stress, run the container 3 times and `sysallow merge` the recordings"
        } else {
            "sysallow record --repeat 3 --stress"
        };
        Some(format!(
            "likely incomplete: {}; for a profile to deploy, {instead} (README: Paths a \
             recording did not take)",
            why.join("; ")
        ))
    }
}

/// Run the static cross-check of the recorded programs' imports, unless `--imports off`. A
/// container's programs live in its image, not at these paths on the host: not checked.
fn cross_check(recording: &mut Recording, mode: ImportsMode) {
    if mode == ImportsMode::Off || matches!(recording.target, Target::Container { .. }) {
        return;
    }
    recording.imports = imports::check(recording, |path| std::fs::read(path));
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysallow_profile::Abi;
    use sysallow_profile::imports::ProgramImports;
    use sysallow_profile::recording::{Host, SyscallRecord};

    fn recording(unseen: &[&str]) -> Recording {
        let mut recording = Recording::new(
            Target::Command {
                argv: vec!["/bin/app".to_owned()],
                user: None,
            },
            Host {
                kernel: "6.18".to_owned(),
                arch: Abi::X86_64,
                libc: None,
            },
            "2025-01-01T00:00:00Z".to_owned(),
        );
        recording
            .abis
            .entry(Abi::X86_64)
            .or_default()
            .syscalls
            .insert(
                "read".to_owned(),
                SyscallRecord {
                    nr: 0,
                    count: 1,
                    programs: [("/bin/app".to_owned(), 1)].into(),
                    ..SyscallRecord::default()
                },
            );
        recording.imports.insert(
            "/bin/app".to_owned(),
            ProgramImports {
                linkage: "glibc".to_owned(),
                abi: Some(Abi::X86_64),
                unseen: unseen
                    .iter()
                    .map(|name| ((*name).to_owned(), vec![format!("{name}()")]))
                    .collect(),
            },
        );
        recording
    }

    fn profile(recording: &Recording) -> sysallow_profile::Profile {
        generate::generate(
            std::slice::from_ref(recording),
            &GenerationPolicy::for_target(&recording.target),
        )
        .unwrap()
        .profile
    }

    fn hint(runs: u32, stressed: bool, container_run: bool, unseen: &[&str]) -> Option<String> {
        let recording = recording(unseen);
        let how = RecordedHow {
            runs,
            stressed,
            container_run,
        };
        how.incompleteness(&recording, &profile(&recording))
    }

    #[test]
    fn the_incompleteness_hint_says_why_and_what_to_do() {
        const README: &str = " (README: Paths a recording did not take)";
        assert_eq!(
            hint(1, false, false, &[]).unwrap(),
            format!(
                "likely incomplete: one run, not stressed; for a profile to deploy, \
                 sysallow record --repeat 3 --stress{README}"
            )
        );
        assert_eq!(
            hint(1, true, false, &[]).unwrap(),
            format!(
                "likely incomplete: one run; for a profile to deploy, sysallow record --repeat 3 \
                 --stress{README}"
            )
        );
        assert_eq!(
            hint(3, false, true, &[]).unwrap(),
            format!(
                "likely incomplete: 3 runs, not stressed; for a profile to deploy, record \
                 with --stress, run the container 3 times and `sysallow merge` the \
                 recordings{README}"
            )
        );
        // Recorded the README's way: nothing to add.
        assert_eq!(hint(3, true, false, &["kexec_load"]), None);
    }

    #[test]
    fn the_hint_counts_advised_syscalls_the_profile_does_not_allow() {
        // `read` was recorded, so the profile allows it: only kexec_load is left out.
        let text = hint(1, false, false, &["kexec_load", "read"]).unwrap();
        assert!(
            text.starts_with(
                "likely incomplete: one run, not stressed; 1 syscall(s) the imports advise \
                 are not allowed (sysallow explain lists them); for a profile to deploy, "
            ),
            "{text}"
        );
    }

    #[test]
    fn the_summary_says_how_the_command_ended() {
        let mut rec = recording(&[]);
        rec.duration_ms = 12;
        let how = RecordedHow {
            runs: 3,
            stressed: true,
            container_run: false,
        };
        let lines = |rec: &Recording| summary(rec, &profile(rec), ImportsMode::Advise, how);
        let clean = lines(&rec);
        assert!(
            clean
                .iter()
                .any(|l| l == "recorded 1 distinct syscalls from 1 program(s) in 12 ms"),
            "{clean:?}"
        );
        assert!(
            !clean.iter().any(|l| l.starts_with("the command")),
            "{clean:?}"
        );
        rec.exit = Some(Exit::Code(127));
        assert_eq!(
            lines(&rec)[0],
            "the command exited with status 127 (a program it ran was not found); the recording \
             holds what it did until then, which may not be all a successful run does"
        );
        rec.exit = Some(Exit::Signal(9));
        assert_eq!(
            lines(&rec)[0],
            "the command was ended by SIGKILL (exit status 137); the recording holds what it \
             did until then"
        );
    }
}
