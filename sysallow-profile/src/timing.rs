//! Timing paths: the ways a program waits (on file descriptors, in a sleep, on a lock, for a
//! signal, for a child), which it takes only when what it waits for is not there yet. One quiet
//! recording often never sees them (xz polls only when its output pipe is full; a client polls
//! only when its peer has not answered yet), and under the profile the program then fails,
//! often silently (`poll() failed: Operation not permitted`, lines lost, exit status 0).
//!
//! A class is allowed whole when a program of the recording can wait that way:
//! - it was seen waiting that way (any member of the class);
//! - its own dynamic imports can make a member (`imports.rs`: xz imports `poll`);
//! - for the fd waits, when its imports are not read (a static program, a program in a
//!   container's image, `--imports off`): it made a descriptor that can block, a pipe or a
//!   socket (busybox wget's socket). A regular file never makes a reader wait.
//!
//! Every member is in Docker's default "ordinary" risk class (a unit test holds it), so the
//! rule never widens a profile beyond Docker's default. `--no-timing-paths` turns it off.
//! The measurements behind the classes are in the README ("Paths a recording did not take").

use std::collections::{BTreeMap, BTreeSet};

use crate::recording::{CONTAINER_RUNTIME, Recording, UNATTRIBUTED};

/// One way to wait, as the syscalls that do it on some ABI or libc version.
#[derive(Debug)]
pub struct TimingClass {
    /// What the wait is, in the rule's comment: `waits on file descriptors`.
    pub name: &'static str,
    pub members: &'static [&'static str],
    /// Why a recording misses it.
    pub reason: &'static str,
    /// Also opened for a program whose imports are not read when it made a pipe or a socket.
    pub by_blocking_fds: bool,
}

/// The ways to wait on file descriptors (also the companions of an observed one).
pub const WAITS_ON_FDS: &[&str] = &[
    "poll",
    "ppoll",
    "ppoll_time64",
    "select",
    "_newselect",
    "pselect6",
    "pselect6_time64",
    "epoll_wait",
    "epoll_pwait",
];

/// The timing classes. Which syscall of a class a program uses depends on its libc, libc
/// version and ABI (glibc's `poll` makes `ppoll` on ABIs without `poll`; `sleep` makes
/// `clock_nanosleep`, older code `nanosleep`), so a class is allowed whole.
pub const TIMING_CLASSES: &[TimingClass] = &[
    TimingClass {
        name: "waits on file descriptors",
        members: WAITS_ON_FDS,
        reason: "made only when the data is not there yet or the pipe is full",
        by_blocking_fds: true,
    },
    TimingClass {
        name: "sleeps",
        members: &["nanosleep", "clock_nanosleep", "clock_nanosleep_time64"],
        reason: "made only on a retry or back-off path",
        by_blocking_fds: false,
    },
    TimingClass {
        name: "waits on a lock",
        members: &["futex", "futex_time64", "sched_yield"],
        reason: "made only under contention, when another thread holds the lock",
        by_blocking_fds: false,
    },
    TimingClass {
        name: "waits for a signal",
        members: &[
            // Not i386's old `sigsuspend`: Docker's default denies it.
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "rt_sigtimedwait_time64",
            "pause",
        ],
        reason: "made only when the signal has not arrived yet",
        by_blocking_fds: false,
    },
    TimingClass {
        name: "waits for a child",
        members: &["wait4", "waitid", "waitpid"],
        reason: "made only while the child still runs, or on its way out",
        by_blocking_fds: false,
    },
];

/// What makes a descriptor a reader may wait on: a pipe or a socket.
const BLOCKING_FD_MAKERS: &[&str] = &[
    "pipe",
    "pipe2",
    "socket",
    "socketpair",
    "accept",
    "accept4",
    "socketcall",
];

/// Why a class applies to a recording.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    /// A member was observed.
    Observed { syscalls: Vec<String> },
    /// A program imports functions that make members.
    Imports {
        program: String,
        functions: Vec<String>,
    },
    /// A program whose imports were not read made a pipe or a socket.
    MadeBlockingFds {
        program: String,
        syscalls: Vec<String>,
    },
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Observed { syscalls } => write!(f, "{} observed", syscalls.join(", ")),
            Trigger::Imports { program, functions } => {
                write!(f, "{program} imports {}", functions.join(", "))
            }
            Trigger::MadeBlockingFds { program, syscalls } => write!(
                f,
                "{program} (imports not read) made a pipe or socket ({})",
                syscalls.join(", ")
            ),
        }
    }
}

/// The classes that apply to `recordings`, counting only the programs `keeps` selects, each
/// with the first trigger found (observations first, then imports, then descriptors).
pub fn applicable(
    recordings: &[Recording],
    keeps: impl Fn(&str) -> bool,
) -> Vec<(&'static TimingClass, Trigger)> {
    // Per program: its observed names, and its imports where they were read.
    let mut observed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut unseen_imports: BTreeMap<&str, BTreeMap<&str, &[String]>> = BTreeMap::new();
    let mut read: BTreeSet<&str> = BTreeSet::new();
    for rec in recordings {
        for abi_rec in rec.abis.values() {
            for (name, sc) in &abi_rec.syscalls {
                for program in sc.programs.keys().filter(|p| keeps(p)) {
                    observed
                        .entry(program.as_str())
                        .or_default()
                        .insert(name.as_str());
                }
            }
        }
        for (program, imports) in &rec.imports {
            if !keeps(program) || !matches!(imports.linkage.as_str(), "glibc" | "musl" | "dynamic")
            {
                continue;
            }
            read.insert(program.as_str());
            let entry = unseen_imports.entry(program.as_str()).or_default();
            for (name, functions) in &imports.unseen {
                entry.insert(name.as_str(), functions.as_slice());
            }
        }
    }
    let mut out = Vec::new();
    for class in TIMING_CLASSES {
        let seen: Vec<String> = class
            .members
            .iter()
            .filter(|m| observed.values().any(|names| names.contains(*m)))
            .map(|m| (*m).to_owned())
            .collect();
        let trigger = if !seen.is_empty() {
            Some(Trigger::Observed { syscalls: seen })
        } else {
            by_imports(class, &unseen_imports).or_else(|| by_fds(class, &observed, &read))
        };
        if let Some(trigger) = trigger {
            out.push((class, trigger));
        }
    }
    out
}

fn by_imports(
    class: &TimingClass,
    unseen_imports: &BTreeMap<&str, BTreeMap<&str, &[String]>>,
) -> Option<Trigger> {
    unseen_imports.iter().find_map(|(program, unseen)| {
        let functions: BTreeSet<&str> = class
            .members
            .iter()
            .filter_map(|m| unseen.get(m))
            .flat_map(|f| f.iter().map(String::as_str))
            .collect();
        (!functions.is_empty()).then(|| Trigger::Imports {
            program: (*program).to_owned(),
            functions: functions.into_iter().map(str::to_owned).collect(),
        })
    })
}

fn by_fds(
    class: &TimingClass,
    observed: &BTreeMap<&str, BTreeSet<&str>>,
    read: &BTreeSet<&str>,
) -> Option<Trigger> {
    if !class.by_blocking_fds {
        return None;
    }
    observed.iter().find_map(|(program, names)| {
        if read.contains(program) || *program == CONTAINER_RUNTIME || *program == UNATTRIBUTED {
            return None;
        }
        let made: Vec<String> = BLOCKING_FD_MAKERS
            .iter()
            .filter(|m| names.contains(*m))
            .map(|m| (*m).to_owned())
            .collect();
        (!made.is_empty()).then(|| Trigger::MadeBlockingFds {
            program: (*program).to_owned(),
            syscalls: made,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::Abi;
    use crate::imports::ProgramImports;

    /// A command recording of (ABI, program, syscall) calls.
    fn with_calls(calls: &[(Abi, &str, &str)]) -> Recording {
        let mut rec = crate::recording::for_tests(crate::recording::command_for_tests(&["app"]));
        for (abi, program, name) in calls {
            let nr = abi.syscall_nr(name).expect("test names are real");
            rec.add(*abi, nr, program, 1);
        }
        rec
    }

    fn classes(recs: &[Recording]) -> Vec<&'static str> {
        applicable(recs, |_| true)
            .into_iter()
            .map(|(c, _)| c.name)
            .collect()
    }

    #[test]
    fn every_member_is_ordinary_in_dockers_default() {
        for class in TIMING_CLASSES {
            for member in class.members {
                let abi = Abi::ALL
                    .iter()
                    .copied()
                    .find(|abi| abi.syscall_nr(member).is_some())
                    .unwrap_or_else(|| panic!("{member} is no syscall of any ABI"));
                let risk = crate::risk::classify(abi, member);
                assert!(!risk.risky, "{member} is risky: {risk:?}");
                assert!(
                    !matches!(
                        crate::ceiling::ceiling(abi, member),
                        crate::ceiling::Ceiling::Denied { .. }
                    ),
                    "Docker's default denies {member}"
                );
            }
        }
    }

    #[test]
    fn an_imported_wait_opens_its_class_and_nothing_else() {
        let mut rec = with_calls(&[(Abi::X86_64, "/usr/bin/xz", "read")]);
        rec.imports.insert(
            "/usr/bin/xz".to_owned(),
            ProgramImports {
                linkage: "glibc".to_owned(),
                abi: Some(Abi::X86_64),
                unseen: [("poll".to_owned(), vec!["poll".to_owned()])].into(),
            },
        );
        let found = applicable(std::slice::from_ref(&rec), |_| true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0.name, "waits on file descriptors");
        assert_eq!(
            found[0].1.to_string(),
            "/usr/bin/xz imports poll",
            "{found:?}"
        );
        // Not selected: nothing.
        assert!(applicable(std::slice::from_ref(&rec), |p| p != "/usr/bin/xz").is_empty());
    }

    #[test]
    fn a_program_whose_imports_are_not_read_waits_on_the_pipes_and_sockets_it_made() {
        let socket = with_calls(&[
            (Abi::X86_64, "/bin/busybox", "socket"),
            (Abi::X86_64, "/bin/busybox", "read"),
        ]);
        assert_eq!(classes(&[socket]), ["waits on file descriptors"]);
        // Only regular files: nothing to wait on.
        let files = with_calls(&[
            (Abi::X86_64, "/bin/busybox", "openat"),
            (Abi::X86_64, "/bin/busybox", "read"),
        ]);
        assert!(classes(&[files]).is_empty());
        // A program whose imports were read is judged by them, not by its pipes.
        let mut read = with_calls(&[(Abi::X86_64, "/bin/dash", "pipe2")]);
        read.imports.insert(
            "/bin/dash".to_owned(),
            ProgramImports {
                linkage: "glibc".to_owned(),
                abi: Some(Abi::X86_64),
                unseen: BTreeMap::new(),
            },
        );
        assert!(classes(&[read]).is_empty());
        // The runtime's own calls are not the workload's.
        let runtime = with_calls(&[(Abi::X86_64, CONTAINER_RUNTIME, "socket")]);
        assert!(classes(&[runtime]).is_empty());
    }

    #[test]
    fn one_observed_member_opens_its_class() {
        let rec = with_calls(&[
            (Abi::X86_64, "/bin/sleep", "clock_nanosleep"),
            (Abi::X86_64, "/bin/sh", "wait4"),
        ]);
        assert_eq!(classes(&[rec]), ["sleeps", "waits for a child"]);
    }
}
