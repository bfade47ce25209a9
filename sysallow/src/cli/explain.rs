//! `sysallow explain`: per syscall, who used it, how often, its risk class, and why the profile
//! allows it.

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, ValueEnum};
use sysallow_profile::diff::Style;
use sysallow_profile::explain;

use sysallow_profile::hardening;

use super::io::{Color, Input, read_input, write_output};

/// Explain a recording or profile: per syscall and ABI, the programs that used it and how
/// often (recordings), what the profile does with it, its risk class, and why it is there.
///
/// "Why" comes from the rule comments the generator writes: observed, runtime tail (the
/// container runtime calls it after installing the filter), policy flag (--vdso, --portable,
/// essentials, companions), fallback (ENOSYS so libc falls back), errno pin, verify. Other
/// comments are shown as written.
///
/// For a recording with its privileges recorded, and for a bundle, the run-time layer
/// follows: a row per capability checked (its class: required, environment-dependent, kept
/// for compatibility, or not added: advisory, denied only, the runtime's, other
/// credentials, the workload's own user namespace; the checks granted and denied; its risk;
/// why), then no-new-privileges, the user, the read-only root and the Pod Security level.
///
/// For a recording, the table is followed by its discovery curve: how many distinct syscalls
/// had been seen at each moment, and how long nothing new appeared at the end. A curve still
/// climbing at the end means the workload was still finding new paths: record longer, or
/// more runs (`record --repeat`).
#[derive(ClapArgs)]
#[command(
    after_long_help = "Exit status: 0, or 2 if the input cannot be read.\n\n\
    Examples:\n  \
    sysallow explain app.rec.json\n  \
    sysallow explain app.rec.json --plot discovery.svg\n  \
    sysallow explain app.json --format json | jq '.syscalls[] | select(.risk.risky)'\n  \
    sysallow explain web-bundle/bundle.json        # capability rows and their reasons"
)]
pub struct Args {
    /// A recording or a profile (any format sysallow reads), or a run-time layer bundle
    /// (`generate --bundle DIR` writes DIR/bundle.json).
    #[arg(value_name = "REC|PROFILE|BUNDLE")]
    input: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Colour the table: auto means only on a terminal, and never when NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,

    /// Write the report here instead of stdout (`-` is stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Name every program in the table; by default each row names the three that made the
    /// most calls, and how many more there were.
    #[arg(long)]
    wide: bool,

    /// Draw a recording's discovery curve (distinct syscalls over time) as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// For tools.
    Json,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Unreadable input is status 2 (documented in --help).
    let doc = match read_input(&args.input, 2)? {
        Input::Document(doc) => doc,
        // A bundle: its run-time layer alone (it holds no syscalls).
        Input::Bundle(bundle) => {
            if args.plot.is_some() {
                anyhow::bail!(
                    "{}: a bundle has no discovery curve to plot",
                    args.input.display()
                );
            }
            let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
            let text = match args.format {
                Format::Table => hardening::explain::render_text(
                    &bundle,
                    Style {
                        color: args.color.enabled(to_stdout),
                    },
                ),
                Format::Json => bundle.to_json(),
            };
            write_output(args.output.as_deref(), &text)?;
            return Ok(0);
        }
    };
    let explanation = explain::explain(&args.input.display().to_string(), &doc);
    if let Some(plot) = &args.plot {
        let Some(discovery) = &explanation.discovery else {
            anyhow::bail!(
                "{} has no first-seen times to plot (a profile, or a recording made before \
                 sysallow recorded them)",
                args.input.display()
            );
        };
        let title = format!(
            "{}: {} distinct syscalls",
            args.input.display(),
            discovery.total()
        );
        write_output(Some(plot), &discovery.render_svg(&title))?;
    }
    let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
    let text = match args.format {
        Format::Table => explain::render_table(
            &explanation,
            Style {
                color: args.color.enabled(to_stdout),
            },
            args.wide,
        ),
        Format::Json => explain::render_json(&explanation),
    };
    write_output(args.output.as_deref(), &text)?;
    Ok(0)
}
