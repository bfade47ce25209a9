//! What every subcommand reads and writes the same way: documents (recordings and profiles
//! in any format), output files (atomically), colour, warnings.

use std::io::{IsTerminal as _, Read};
use std::path::Path;

use clap::ValueEnum;
use sysallow_profile::formats::{self, Document};
use sysallow_profile::hardening::Bundle;

use super::StatusError;

/// Read a Recording or a profile (`-` is stdin), saying which file and where it is
/// malformed; the error carries `status` (2 where a subcommand documents it for bad input).
pub fn read_document(path: &Path, status: u8) -> anyhow::Result<Document> {
    let doc = read_document_quietly(path, status)?;
    if let Document::Profile(profile) = &doc {
        for warning in sysallow_profile::check::warnings(profile) {
            warn(&format!("{}: {warning}", path.display()));
        }
    }
    Ok(doc)
}

/// [`read_document`] without printing the profile's warnings, for a caller that prints them
/// another way (`verify` loads the same profile to enforce it, which says them once).
pub fn read_document_quietly(path: &Path, status: u8) -> anyhow::Result<Document> {
    let text = read_text(path, status)?;
    parse_document(path, &text, status)
}

/// A run-time layer bundle (`generate --bundle`'s bundle.json), a Recording or a profile.
#[expect(
    clippy::large_enum_variant,
    reason = "one per input file, matched at once; a Document is moved on unboxed"
)]
pub enum Input {
    Bundle(Box<Bundle>),
    Document(Document),
}

/// Read a bundle, a Recording or a profile, telling them apart by the bundle's `format`.
pub fn read_input(path: &Path, status: u8) -> anyhow::Result<Input> {
    let text = read_text(path, status)?;
    if Bundle::looks_like(&text) {
        let bundle = Bundle::from_json(&text).map_err(|e| StatusError {
            status,
            message: format!("{}: {}", path.display(), sysallow_profile::error_chain(&e)),
        })?;
        return Ok(Input::Bundle(Box::new(bundle)));
    }
    let doc = parse_document(path, &text, status)?;
    if let Document::Profile(profile) = &doc {
        for warning in sysallow_profile::check::warnings(profile) {
            warn(&format!("{}: {warning}", path.display()));
        }
    }
    Ok(Input::Document(doc))
}

fn parse_document(path: &Path, text: &str, status: u8) -> anyhow::Result<Document> {
    let bad = |message: String| StatusError { status, message };
    let doc = formats::read(text).map_err(|e| {
        bad(format!(
            "{}: {}",
            path.display(),
            sysallow_profile::error_chain(&e)
        ))
    })?;
    Ok(doc)
}

/// The text of `path` (`-` is stdin), never more than the most sysallow reads.
fn read_text(path: &Path, status: u8) -> anyhow::Result<String> {
    let bad = |message: String| StatusError { status, message };
    // Never more than the limit is read, from a file, a pipe or a device alike.
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| bad(format!("{}: {e}", path.display())))?)
    };
    let mut text = String::new();
    input
        .take(formats::MAX_DOCUMENT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    if text.len() as u64 > formats::MAX_DOCUMENT_BYTES {
        return Err(bad(format!(
            "{}: larger than {} MiB, the most sysallow reads (a profile is a few KiB, a \
             recording a few hundred KiB): not a profile or recording made for this",
            path.display(),
            formats::MAX_DOCUMENT_BYTES >> 20
        ))
        .into());
    }
    Ok(text)
}

/// Write `text` to `output` (`None` or `-` is stdout), through the one atomic writer: a file
/// is never left half-written.
pub fn write_output(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    let path = output.unwrap_or(Path::new("-"));
    sysallow::output::Output::prepare(path, None)?.commit(text)?;
    Ok(())
}

/// A warning on stderr.
pub fn warn(message: &str) {
    eprintln!("sysallow: warning: {message}");
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to colour output going to stdout.
    pub fn enabled(self, to_stdout: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                to_stdout
                    && std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}
