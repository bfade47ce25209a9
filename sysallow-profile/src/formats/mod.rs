//! Reading and writing every format sysallow handles. One place decides what a file is.
//!
//! Every format is written from the [`Profile`] model (Docker's format, the richest) through
//! [`restrict`], which keeps exactly what the format can carry; [`notes`] says what was lost.
//! [`read`] accepts every format [`write`] produces and tells them apart by their shape, so
//! `read(write(p, f)) == restrict(p, f)` for every format `f`.
//!
//! | format | what | drops |
//! | --- | --- | --- |
//! | `docker` | `docker run --security-opt seccomp=FILE` (moby's `types.Seccomp`) | nothing |
//! | `oci` | runtime-spec `linux.seccomp` (runc/crun `config.json`) | `archMap` (flattened), `comment`, `includes`/`excludes` rules |
//! | `podman` | containers-common: Docker's plus string errnos `defaultErrno`/`errno` | nothing |
//! | `kubernetes` | Security Profiles Operator `SeccompProfile` (YAML) | as `oci`, and `defaultErrnoRet`, architectures and flags SPO's CRD does not list |
//! | `systemd` | `SystemCallFilter=` lines for a unit | argument conditions, comments, non-errno actions |

mod kubernetes;
mod systemd;

use std::fmt;
use std::str::FromStr;

use crate::errno::{errno_name, errno_number};
use crate::profile::{Action, Profile, SyscallRule};
use crate::{Abi, Recording};

pub use kubernetes::{
    API_VERSION as KUBERNETES_API_VERSION, API_VERSION_V1 as KUBERNETES_API_VERSION_V1,
    KIND as KUBERNETES_KIND,
};

/// A file sysallow was given: a Recording, or a Profile in some format.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per input file; other crates match on the unboxed variants"
)]
pub enum Document {
    Recording(Recording),
    Profile(Profile),
}

/// The largest document (profile or recording) sysallow reads: every reader stops there, so
/// memory and time stay bounded whatever it is given. A profile allowing every syscall with
/// argument rules is ~30 KiB; a recording of a large test suite, a few hundred KiB; merging a
/// thousand of them stays well below.
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// An output format for profiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    #[default]
    Docker,
    Oci,
    Podman,
    Kubernetes,
    Systemd,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Docker,
        Format::Oci,
        Format::Podman,
        Format::Kubernetes,
        Format::Systemd,
    ];

    /// The format a recording's own engine reads best: Podman's (containers-common, errno
    /// names) for a Podman container, Docker's otherwise (which containerd, CRI-O and the
    /// OCI runtimes read too).
    pub fn for_target(target: &crate::recording::Target) -> Format {
        match target {
            crate::recording::Target::Container {
                engine: Some(crate::container::Engine::Podman),
                ..
            } => Format::Podman,
            _ => Format::Docker,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Docker => "docker",
            Format::Oci => "oci",
            Format::Podman => "podman",
            Format::Kubernetes => "kubernetes",
            Format::Systemd => "systemd",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .or(match s {
                "k8s" => Some(Format::Kubernetes),
                "moby" => Some(Format::Docker),
                _ => None,
            })
            .ok_or_else(|| {
                format!("unknown format {s:?} (expected docker, oci, podman, kubernetes, systemd)")
            })
    }
}

/// A file that could not be read as any format sysallow knows.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("line {line}, column {column}: brackets nested deeper than {max} levels")]
    TooDeep {
        line: usize,
        column: usize,
        max: usize,
    },
    #[error("not valid JSON: line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
    #[error("not a seccomp profile: line {line}, column {column}: {message}")]
    Profile {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not a Kubernetes SeccompProfile: line {line}, column {column}: {message}")]
    Yaml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not a systemd seccomp setting: line {line}: {message}")]
    Systemd { line: usize, message: String },
    #[error("invalid profile: {0}")]
    Invalid(crate::check::Invalid),
}

/// Read a Recording, or a profile in any format [`write`] produces (Docker, OCI, Podman,
/// Kubernetes SeccompProfile YAML, systemd lines), including Docker's and Podman's default
/// profiles with their `includes`/`excludes`.
pub fn read(text: &str) -> Result<Document, FormatError> {
    read_detected(text).map(|(doc, _)| doc)
}

/// [`read`], and which format the profile was in (`None` for a Recording). JSON profiles
/// are `Podman` when they carry string errnos, `Oci` when they use nothing beyond the OCI
/// fields, else `Docker`.
/// A profile that parses but cannot work as written (see [`crate::check`]) is an error.
pub fn read_detected(text: &str) -> Result<(Document, Option<Format>), FormatError> {
    let (doc, format) = parse_detected(text)?;
    if let Document::Profile(profile) = &doc {
        crate::check::errors(profile).map_err(FormatError::Invalid)?;
    }
    Ok((doc, format))
}

fn parse_detected(text: &str) -> Result<(Document, Option<Format>), FormatError> {
    check_nesting(text)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return read_json(text);
    }
    if systemd::looks_like(text) {
        return systemd::read(text).map(|p| (Document::Profile(p), Some(Format::Systemd)));
    }
    if trimmed.is_empty() {
        return Err(FormatError::Syntax {
            line: 1,
            column: 1,
            message: "the file is empty".to_owned(),
        });
    }
    kubernetes::read(text).map(|p| (Document::Profile(p), Some(Format::Kubernetes)))
}

/// How deep brackets may nest in a document: serde_json's own limit. Real profiles and
/// recordings nest 5 levels at most.
const MAX_NESTING: usize = 128;

/// Refuse brackets nested deeper than [`MAX_NESTING`] before any parser sees them: the YAML
/// parser takes seconds per 100,000 levels where serde_json stops at once, and the error should
/// be the same, and say where, in every format. Brackets inside quoted strings do not count.
fn check_nesting(text: &str) -> Result<(), FormatError> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let (mut line, mut column) = (1, 0);
    for c in text.chars() {
        column += 1;
        match (quote, c) {
            (_, '\n') => {
                line += 1;
                column = 0;
            }
            (Some('"'), '\\') => escaped = !escaped,
            (Some(q), c) if c == q && !escaped => quote = None,
            (Some(_), _) => escaped = false,
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(FormatError::TooDeep {
                        line,
                        column,
                        max: MAX_NESTING,
                    });
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
    }
    Ok(())
}

fn read_json(text: &str) -> Result<(Document, Option<Format>), FormatError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| FormatError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if value.get("format").is_some() {
        return Ok((Document::Recording(Recording::from_json(text)?), None));
    }
    let mut profile = serde_json::from_str::<Profile>(text).map_err(|e| FormatError::Profile {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let format =
        if profile.default_errno.is_some() || profile.syscalls.iter().any(|r| r.errno.is_some()) {
            Format::Podman
        } else if profile == restrict(&profile, Format::Oci) {
            Format::Oci
        } else {
            Format::Docker
        };
    fill_errno_numbers(&mut profile);
    Ok((Document::Profile(profile), Some(format)))
}

/// Podman files may give an errno only by name; give the number too, which every other format
/// and libseccomp use.
fn fill_errno_numbers(profile: &mut Profile) {
    if profile.default_errno_ret.is_none() {
        profile.default_errno_ret = profile.default_errno.as_deref().and_then(errno_number);
    }
    for rule in &mut profile.syscalls {
        if rule.errno_ret.is_none() {
            rule.errno_ret = rule.errno.as_deref().and_then(errno_number);
        }
    }
}

/// Write `profile` in `format`. Kubernetes resources are named `sysallow-profile`; use
/// [`write_named`] to choose.
pub fn write(profile: &Profile, format: Format) -> String {
    write_named(profile, format, "sysallow-profile")
}

/// [`write`], with the name a format that has one (Kubernetes `metadata.name`) should use.
pub fn write_named(profile: &Profile, format: Format, name: &str) -> String {
    let restricted = restrict(profile, format);
    match format {
        Format::Docker | Format::Oci | Format::Podman => json(&restricted),
        Format::Kubernetes => kubernetes::write(&restricted, name),
        Format::Systemd => systemd::write(&restricted, &notes(profile, format)),
    }
}

/// The Kubernetes format (an SPO `SeccompProfile` named `name`) with `api_version`
/// ([`KUBERNETES_API_VERSION`] or [`KUBERNETES_API_VERSION_V1`]).
pub fn write_kubernetes(profile: &Profile, name: &str, api_version: &str) -> String {
    kubernetes::write_versioned(&restrict(profile, Format::Kubernetes), name, api_version)
}

/// Pretty JSON with a trailing newline, as Docker's own profile is laid out (tabs aside).
fn json(profile: &Profile) -> String {
    // Serializing plain data with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(profile).unwrap_or_default();
    text.push('\n');
    text
}

/// `profile` reduced to what `format` can carry (and, for Podman, with the errno names it
/// adds). Writing then reading a profile in `format` gives exactly this.
pub fn restrict(profile: &Profile, format: Format) -> Profile {
    match format {
        Format::Docker => profile.clone(),
        Format::Podman => {
            let mut p = profile.clone();
            if p.default_action == Action::Errno {
                p.default_errno = p.default_errno_ret.and_then(errno_name).map(str::to_owned);
            }
            for rule in &mut p.syscalls {
                if rule.action == Action::Errno {
                    rule.errno = rule.errno_ret.and_then(errno_name).map(str::to_owned);
                }
            }
            p
        }
        Format::Oci | Format::Kubernetes => {
            let mut p = Profile {
                default_action: profile.default_action,
                default_errno_ret: profile.default_errno_ret,
                default_errno: None,
                architectures: flat_architectures(profile),
                arch_map: Vec::new(),
                flags: profile.flags.clone(),
                listener_path: profile.listener_path.clone(),
                syscalls: profile
                    .syscalls
                    .iter()
                    .filter(|r| r.includes.is_empty() && r.excludes.is_empty())
                    .map(|r| SyscallRule {
                        names: r.names.clone(),
                        action: r.action,
                        errno_ret: r.errno_ret,
                        args: r.args.clone(),
                        ..SyscallRule::default()
                    })
                    .collect(),
            };
            if format == Format::Kubernetes {
                p.default_errno_ret = None;
                p.architectures
                    .retain(|a| kubernetes::SPO_ARCHITECTURES.contains(&a.as_str()));
                p.flags
                    .retain(|f| kubernetes::SPO_FLAGS.contains(&f.as_str()));
            }
            p
        }
        Format::Systemd => systemd::restrict(profile),
    }
}

/// What writing `profile` in `format` loses, for the user (stderr, or a comment in the file).
pub fn notes(profile: &Profile, format: Format) -> Vec<String> {
    let mut notes = Vec::new();
    let conditional = profile
        .syscalls
        .iter()
        .filter(|r| !r.includes.is_empty() || !r.excludes.is_empty())
        .count();
    match format {
        Format::Docker | Format::Podman => {
            // FIELD-NOTES: Docker 20.10 ignores defaultErrnoRet (and flags); 23+ honours them.
            if profile.default_action == Action::Errno
                && profile
                    .default_errno_ret
                    .is_some_and(|e| e != crate::errno::EPERM)
            {
                notes.push(
                    "Docker before 23 ignores defaultErrnoRet: denied syscalls get EPERM there"
                        .to_owned(),
                );
            }
        }
        Format::Oci | Format::Kubernetes => {
            if conditional > 0 {
                notes.push(format!(
                    "{format} has no includes/excludes: {conditional} conditional rules were left \
                     out (they grant syscalls only with a capability, architecture or kernel)"
                ));
            }
            if !profile.arch_map.is_empty() {
                notes.push(format!(
                    "{format} has no archMap: its architectures were listed flat"
                ));
            }
            if format == Format::Kubernetes {
                let listed = flat_architectures(profile);
                let archs = kubernetes::refused(&listed, kubernetes::SPO_ARCHITECTURES);
                if !archs.is_empty() {
                    notes.push(format!(
                        "the SeccompProfile resource takes no {}: left out (their syscalls get \
                         the default action)",
                        archs.join(", ")
                    ));
                }
                let flags = kubernetes::refused(&profile.flags, kubernetes::SPO_FLAGS);
                if !flags.is_empty() {
                    notes.push(format!(
                        "the SeccompProfile resource takes no flag {}: left out",
                        flags.join(", ")
                    ));
                }
            }
            if format == Format::Kubernetes
                && profile.default_action == Action::Errno
                && profile
                    .default_errno_ret
                    .is_some_and(|e| e != crate::errno::EPERM)
            {
                notes.push(
                    "the SeccompProfile resource has no defaultErrnoRet: denied syscalls get \
                     EPERM, not the profile's default errno"
                        .to_owned(),
                );
            }
        }
        Format::Systemd => notes.extend(systemd::notes(profile)),
    }
    notes
}

/// Every architecture, in the order the profile lists them (native before compat), once.
fn flat_architectures(profile: &Profile) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let listed = profile.architectures.iter().chain(
        profile
            .arch_map
            .iter()
            .flat_map(|e| std::iter::once(&e.architecture).chain(&e.sub_architectures)),
    );
    for arch in listed {
        if !out.contains(arch) {
            out.push(arch.clone());
        }
    }
    out
}

/// systemd's and libseccomp's names of an ABI (`SystemCallArchitectures=`).
fn systemd_arch(abi: Abi) -> &'static str {
    match abi {
        Abi::X86_64 => "x86-64",
        Abi::X86 => "x86",
        Abi::Aarch64 => "arm64",
        Abi::Arm => "arm",
    }
}

#[cfg(test)]
mod tests;
