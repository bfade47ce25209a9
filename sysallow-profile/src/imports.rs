//! The static cross-check: what each recorded program's own dynamic imports say it may call,
//! against what the recording saw. A syscall made only on an error path, under contention or
//! on a signal is often missing from a recording, yet the function that makes it is imported
//! (xz imports `poll`, which it calls only when its output pipe is full).
//!
//! - Only a program's own imports count (its undefined dynamic symbols), not those of the
//!   libraries it links: an interpreter linked against everything would otherwise open the
//!   whole table.
//! - A libc function maps to syscalls through a table per libc (`data/libc/glibc.txt`,
//!   `data/libc/musl.txt`, data with their sources); a function not in the table and named
//!   like a syscall is that syscall's wrapper.
//! - A statically linked program has no imports to read: it is said to be static, and only
//!   recordings (`record --repeat`, `--stress`) can find its unseen paths.
//!
//! Reading files is the caller's: [`check`] takes a function that returns a program's bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
use serde::{Deserialize, Serialize};

use crate::abi::Abi;
pub use crate::recording::ProgramImports;
use crate::recording::{CONTAINER_RUNTIME, Recording, UNATTRIBUTED};

/// What `--imports` does with the cross-check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImportsMode {
    /// Not read.
    Off,
    /// Listed in `record`'s summary, the Recording and `explain`; the profile is unchanged.
    /// The default: measured on the end-to-end workloads, `allow` widened the profiles by a
    /// third or more (a shell imports setuid, kill, umask, vfork, ...), while recording with
    /// `--repeat` and `--stress` found the paths that broke (see the README).
    #[default]
    Advise,
    /// As `advise`, and the profile also allows those in ordinary risk classes, each with its
    /// reason; risky ones are only advised.
    Allow,
}

impl std::str::FromStr for ImportsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(ImportsMode::Off),
            "advise" => Ok(ImportsMode::Advise),
            "allow" => Ok(ImportsMode::Allow),
            _ => Err(format!(
                "unknown --imports mode {s:?} (expected off, advise or allow)"
            )),
        }
    }
}

/// A C library with a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Libc {
    Glibc,
    Musl,
}

/// An executable as far as the cross-check needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    pub abi: Option<Abi>,
    /// None for a statically linked executable.
    pub dynamic: Option<Dynamic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dynamic {
    pub libc: Option<Libc>,
    /// The undefined dynamic symbols: what the program itself imports.
    pub imports: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportsError {
    #[error("not an ELF executable this check reads")]
    Parse(#[from] object::Error),
}

/// Read `bytes` as an ELF executable.
pub fn read_executable(bytes: &[u8]) -> Result<Executable, ImportsError> {
    let file = object::File::parse(bytes)?;
    let abi = match (file.architecture(), file.is_64()) {
        (object::Architecture::X86_64, true) => Some(Abi::X86_64),
        (object::Architecture::I386, false) => Some(Abi::X86),
        (object::Architecture::Aarch64, true) => Some(Abi::Aarch64),
        (object::Architecture::Arm, false) => Some(Abi::Arm),
        _ => None,
    };
    let interpreter = file
        .section_by_name(".interp")
        .and_then(|s| s.data().ok())
        .map(|d| String::from_utf8_lossy(d).trim_end_matches('\0').to_owned());
    let imports: BTreeSet<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    // No interpreter: static (also static-pie, which imports nothing).
    let Some(interpreter) = interpreter else {
        let dynamic = (!imports.is_empty()).then_some(Dynamic {
            libc: None,
            imports,
        });
        return Ok(Executable { abi, dynamic });
    };
    let libc = if interpreter.contains("ld-musl") {
        Some(Libc::Musl)
    } else if interpreter.contains("ld-linux") {
        Some(Libc::Glibc)
    } else {
        None
    };
    Ok(Executable {
        abi,
        dynamic: Some(Dynamic { libc, imports }),
    })
}

const GLIBC_TABLE: &str = include_str!("../data/libc/glibc.txt");
const MUSL_TABLE: &str = include_str!("../data/libc/musl.txt");

/// A libc table: function -> the syscalls it can make.
pub type Table = BTreeMap<String, Vec<String>>;

/// Parse a table (`FUNCTION: SYSCALL ...` lines, `#` comments); an error names the line.
pub fn parse_table(text: &str) -> Result<Table, String> {
    let mut table = Table::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((function, syscalls)) = line.split_once(':') else {
            return Err(format!("line {}: expected FUNCTION: SYSCALL ...", i + 1));
        };
        let function = function.trim();
        if function.is_empty() || function.contains(char::is_whitespace) {
            return Err(format!("line {}: bad function name {function:?}", i + 1));
        }
        if table
            .insert(
                function.to_owned(),
                syscalls.split_whitespace().map(str::to_owned).collect(),
            )
            .is_some()
        {
            return Err(format!("line {}: {function} is listed twice", i + 1));
        }
    }
    Ok(table)
}

static TABLES: LazyLock<BTreeMap<Libc, Table>> = LazyLock::new(|| {
    // The embedded tables parse (a unit test holds it); a broken one would only be empty.
    [(Libc::Glibc, GLIBC_TABLE), (Libc::Musl, MUSL_TABLE)]
        .into_iter()
        .map(|(libc, text)| (libc, parse_table(text).unwrap_or_default()))
        .collect()
});

/// The table of `libc`.
pub fn table(libc: Libc) -> &'static Table {
    static EMPTY: Table = Table::new();
    TABLES.get(&libc).unwrap_or(&EMPTY)
}

/// The syscalls (of `abi`) that `dynamic`'s imports imply, each with the functions that imply
/// it. Without a known libc, only the functions named like syscalls count.
pub fn implied(abi: Abi, dynamic: &Dynamic) -> BTreeMap<String, BTreeSet<String>> {
    let table = dynamic.libc.map(table);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for function in &dynamic.imports {
        let listed = table.and_then(|t| t.get(function.as_str()));
        let syscalls: Vec<&str> = match listed {
            Some(syscalls) => syscalls.iter().map(String::as_str).collect(),
            // A wrapper: the function is named like the syscall.
            None if abi.syscall_nr(function).is_some() => vec![function.as_str()],
            None => Vec::new(),
        };
        for syscall in syscalls {
            if abi.syscall_nr(syscall).is_some() {
                out.entry(syscall.to_owned())
                    .or_default()
                    .insert(function.clone());
            }
        }
    }
    out
}

/// The cross-check of every program `rec` recorded: `read` returns a program's bytes (its path
/// as recorded). Programs that are not files (unattributed, the container runtime) are
/// skipped.
pub fn check(
    rec: &Recording,
    mut read: impl FnMut(&str) -> std::io::Result<Vec<u8>>,
) -> BTreeMap<String, ProgramImports> {
    let mut out = BTreeMap::new();
    for program in rec.programs() {
        if program == UNATTRIBUTED || program == CONTAINER_RUNTIME || !program.starts_with('/') {
            continue;
        }
        let result = match read(program) {
            Ok(bytes) => read_executable(&bytes).map_err(|e| crate::error_chain(&e)),
            Err(e) => Err(e.to_string()),
        };
        let imports = match result {
            Err(why) => ProgramImports {
                linkage: format!("unreadable: {why}"),
                ..ProgramImports::default()
            },
            Ok(Executable { abi, dynamic: None }) => ProgramImports {
                linkage: "static".to_owned(),
                abi,
                unseen: BTreeMap::new(),
            },
            Ok(Executable {
                abi,
                dynamic: Some(dynamic),
            }) => {
                let linkage = match dynamic.libc {
                    Some(Libc::Glibc) => "glibc",
                    Some(Libc::Musl) => "musl",
                    None => "dynamic",
                };
                let unseen = abi
                    .map(|abi| {
                        let seen = rec.abis.get(&abi);
                        implied(abi, &dynamic)
                            .into_iter()
                            .filter(|(name, _)| seen.is_none_or(|a| !a.syscalls.contains_key(name)))
                            .map(|(name, functions)| (name, functions.into_iter().collect()))
                            .collect()
                    })
                    .unwrap_or_default();
                ProgramImports {
                    linkage: linkage.to_owned(),
                    abi,
                    unseen,
                }
            }
        };
        out.insert(program.to_owned(), imports);
    }
    out
}

/// One line per program with unseen syscalls: `/usr/bin/xz (glibc): ppoll (poll), unlink`
/// (with the importing functions where they are not the syscall's wrapper, if `detailed`);
/// and one line for the static programs.
pub fn summary(imports: &BTreeMap<String, ProgramImports>, detailed: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for (program, p) in imports {
        if p.unseen.is_empty() {
            continue;
        }
        let calls: Vec<String> = p
            .unseen
            .iter()
            .map(|(name, functions)| {
                if !detailed || (functions.len() == 1 && functions[0] == *name) {
                    name.clone()
                } else {
                    format!("{name} ({})", functions.join(", "))
                }
            })
            .collect();
        lines.push(format!("{program} ({}): {}", p.linkage, calls.join(", ")));
    }
    let statics: Vec<&str> = imports
        .iter()
        .filter(|(_, p)| p.linkage == "static")
        .map(|(program, _)| program.as_str())
        .collect();
    if !statics.is_empty() {
        lines.push(format!(
            "statically linked, no imports to read (record more runs, --repeat/--stress): {}",
            statics.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libc_tables_parse_and_name_real_syscalls() {
        for (libc, text) in [(Libc::Glibc, GLIBC_TABLE), (Libc::Musl, MUSL_TABLE)] {
            let table = parse_table(text).unwrap_or_else(|e| panic!("{libc:?}: {e}"));
            assert!(table.len() > 100, "{libc:?}");
            for (function, syscalls) in &table {
                for syscall in syscalls {
                    assert!(
                        Abi::ALL.iter().any(|abi| abi.syscall_nr(syscall).is_some()),
                        "{libc:?}: {function}: {syscall} is no syscall of any ABI"
                    );
                }
            }
        }
        let glibc = table(Libc::Glibc);
        assert_eq!(glibc["sleep"], ["clock_nanosleep"]);
        assert!(glibc["fopen"].contains(&"openat".to_owned()));
        assert!(glibc["pthread_create"].contains(&"clone3".to_owned()));
        assert!(glibc["system"].contains(&"wait4".to_owned()));
        assert!(table(Libc::Musl)["pthread_create"].contains(&"clone".to_owned()));
        assert!(!table(Libc::Musl)["pthread_create"].contains(&"clone3".to_owned()));
    }

    #[test]
    fn bad_tables_say_where() {
        assert!(
            parse_table("a: read\nno colon here\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            parse_table("a: read\na: write\n")
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn imports_map_through_the_table_or_by_name() {
        let dynamic = Dynamic {
            libc: Some(Libc::Glibc),
            imports: ["poll", "fopen", "sleep", "getpagesize", "strlen", "mkdir"]
                .map(String::from)
                .into(),
        };
        let implied = implied(Abi::X86_64, &dynamic);
        assert_eq!(implied["poll"], BTreeSet::from(["poll".to_owned()]));
        assert!(implied["openat"].contains("fopen"));
        assert!(implied["clock_nanosleep"].contains("sleep"));
        assert!(implied.contains_key("mkdirat"));
        // Listed with no syscall, and no syscall by that name: nothing.
        assert!(
            !implied
                .values()
                .any(|f| f.contains("getpagesize") || f.contains("strlen"))
        );
        // 32-bit-only names are not implied for x86_64.
        assert!(!implied.contains_key("stat64"));
    }

    #[test]
    fn this_test_binary_reads_as_a_dynamic_glibc_executable() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        let read = read_executable(&bytes).unwrap();
        assert_eq!(read.abi, Some(Abi::native()));
        let dynamic = read.dynamic.expect("a test binary links libc dynamically");
        if cfg!(target_env = "gnu") {
            assert_eq!(dynamic.libc, Some(Libc::Glibc));
        }
        assert!(
            dynamic
                .imports
                .iter()
                .any(|i| i == "write" || i == "writev")
        );
        assert!(read_executable(b"not an elf").is_err());
    }
}
