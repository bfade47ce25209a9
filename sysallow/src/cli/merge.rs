//! `sysallow merge`: the union of several runs.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use sysallow::output::Output;
use sysallow_profile::formats::{self, Document, Format};
use sysallow_profile::merge::merge;

use super::io::{read_document, warn};

/// Merge recordings and/or profiles into one: the union of what they needed.
///
/// Recordings only: the output is a Recording whose `coverage` says, for each syscall, how
/// many inputs saw it; `sysallow generate` on it comments what only some runs needed
/// ("observed: in 1 of 3 recordings"). With any profile among the inputs: the output is a
/// profile (Docker format unless --format) allowing what any input allowed; recordings are
/// turned into profiles first with the default policy for their kind, and each allow rule
/// that not every input had says so ("merged: in 1 of 3 profiles").
#[derive(ClapArgs)]
#[command(after_help = "Examples:\n  \
    sysallow merge run1.rec.json run2.rec.json -o all.rec.json && \
        sysallow generate all.rec.json -o app.json\n  \
    sysallow merge api.json worker.json -o both.json")]
pub struct Args {
    /// Recordings and/or profiles (any format sysallow writes) to merge.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,

    /// Write the result here (atomically); `-` for stdout (the default).
    #[arg(short = 'o', long = "output", value_name = "OUT", default_value = "-")]
    output: PathBuf,

    /// Format of a merged profile (ignored when the result is a Recording).
    #[arg(long, value_name = "FORMAT", default_value = "docker", value_parser = parse_format)]
    format: Format,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let output = Output::prepare(&args.output, None)
        .with_context(|| format!("preparing {}", args.output.display()))?;
    let mut inputs = Vec::new();
    for path in &args.inputs {
        inputs.push(read_document(path, 1)?);
    }
    let merged = merge(&inputs).context("merging")?;
    for warning in &merged.warnings {
        warn(warning);
    }
    let text = match &merged.document {
        Document::Recording(rec) => rec.to_json(),
        Document::Profile(profile) => {
            for note in formats::notes(profile, args.format) {
                warn(&note);
            }
            formats::write(profile, args.format)
        }
    };
    output
        .commit(&text)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(0)
}
