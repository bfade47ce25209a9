//! `sysallow diff`: the semantic difference between two recordings or profiles, for a reviewer
//! (text, markdown) or a tool (json), and a CI gate (`--fail-on`).

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, ValueEnum};
use sysallow_profile::diff::{self, Diff, FailOn, Style};
use sysallow_profile::formats::Document;
use sysallow_profile::policy::NormalizedPolicy;
use sysallow_profile::risk;

use super::StatusError;
use super::io::{Color, read_document, write_output};

/// Compare two recordings or profiles semantically, and say what a reviewer should look at.
///
/// Compares per ABI what each syscall gets: added and removed syscalls; changed action, errno,
/// argument conditions and capability/kernel conditions; default action, architectures, flags.
/// Rule order, grouping, formatting, `archMap` vs `architectures` and the file format do not
/// count. Inputs are recordings or profiles in any format sysallow reads; a recording allows
/// exactly the syscalls it saw, per ABI, and its added syscalls show the programs that made
/// them. Rules gated on a capability or kernel version (Docker's includes/excludes) are
/// conditional grants: moving a syscall in or out of such a gate is a change. Where the rule is
/// gated on the host architecture, it counts for the ABIs that host filters.
///
/// Whatever lets more run in NEW is risk-classed (see the classes below).
#[derive(ClapArgs)]
#[command(after_long_help = long_help())]
pub struct Args {
    /// OLD and NEW (recordings or profiles). With --against, only the one to check.
    #[arg(value_name = "OLD NEW", num_args = 1..=2, required = true)]
    inputs: Vec<PathBuf>,

    /// Compare against a built-in baseline instead of OLD, and show only what the input allows
    /// beyond it.
    #[arg(long, value_name = "BASELINE")]
    against: Option<Baseline>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit 1 when the diff contains this kind of change (see the exit codes below).
    #[arg(long, value_enum, default_value_t = FailOnArg::Never)]
    fail_on: FailOnArg,

    /// Colour the text output: auto means only on a terminal, and never when NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,

    /// Write the report here instead of stdout (`-` is stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Baseline {
    /// Docker's default seccomp profile (moby/profiles seccomp/default.json at cd3bed8),
    /// built in.
    DockerDefault,
    /// Podman's default seccomp profile (containers-common seccomp.json, the one Debian's
    /// Podman 4.3 installs as /usr/share/containers/seccomp.json), built in.
    PodmanDefault,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary for people (coloured on a terminal).
    Text,
    /// A pull-request comment.
    Markdown,
    /// For tools.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOnArg {
    /// Never: exit 0 whatever the diff says.
    Never,
    /// Any semantic difference.
    Any,
    /// Anything that lets more run: a syscall added or allowed more widely, a more permissive
    /// default action, an added architecture.
    Added,
    /// Anything added in a risky class, or a default action that now allows.
    Risky,
}

fn long_help() -> String {
    let mut text = String::from(
        "Exit status:\n  \
         0  no difference, or none that --fail-on selects\n  \
         1  a difference that --fail-on selects\n  \
         2  error: an input that cannot be read (the message names the file and the position)\n\n\
         Risk classes (first match wins; all but `ordinary` count for --fail-on risky):\n",
    );
    for class in risk::CLASSES {
        text.push_str(&format!(
            "  {}{}: {}\n      source: {}\n",
            class.id,
            if class.risky { " (risky)" } else { "" },
            class.reason,
            class.source
        ));
    }
    text.push_str(
        "\nExamples:\n  \
         sysallow diff v1.json v2.json\n  \
         sysallow diff v1.json v2.json --format markdown > comment.md\n  \
         sysallow diff v1.json v2.json --format json\n  \
         sysallow diff v1.json v2.json --fail-on risky      # CI gate\n  \
         sysallow diff --against docker-default app.json    # what we allow beyond Docker's default\n  \
         sysallow diff --against podman-default app.json    # ... beyond Podman's",
    );
    text
}

/// Unreadable input is status 2 (documented in --help).
fn read_input(path: &Path) -> anyhow::Result<Document> {
    read_document(path, 2)
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let usage = |message: &str| StatusError {
        status: 2,
        message: message.to_owned(),
    };
    let diff = match (args.against, args.inputs.as_slice()) {
        (Some(against), [input]) => {
            let (name, baseline) = match against {
                Baseline::DockerDefault => ("docker-default", risk::docker_default()),
                Baseline::PodmanDefault => ("podman-default", risk::podman_default()),
            };
            let baseline = baseline
                .map_err(|e| anyhow::anyhow!("built-in baseline {name} does not read: {e}"))?;
            let new = NormalizedPolicy::from_document(&read_input(input)?);
            Diff::compute(name, baseline, &input.display().to_string(), &new).widening_only()
        }
        (Some(_), _) => return Err(usage("--against takes exactly one input").into()),
        (None, [old_path, new_path]) => {
            let old = NormalizedPolicy::from_document(&read_input(old_path)?);
            let new = NormalizedPolicy::from_document(&read_input(new_path)?);
            Diff::compute(
                &old_path.display().to_string(),
                &old,
                &new_path.display().to_string(),
                &new,
            )
        }
        (None, _) => return Err(usage("give OLD and NEW (or --against BASELINE INPUT)").into()),
    };
    let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
    let text = match args.format {
        Format::Text => diff::render_text(
            &diff,
            Style {
                color: args.color.enabled(to_stdout),
            },
        ),
        Format::Markdown => diff::render_markdown(&diff),
        Format::Json => diff::render_json(&diff),
    };
    write_output(args.output.as_deref(), &text)?;
    let fail_on = match args.fail_on {
        FailOnArg::Never => FailOn::Never,
        FailOnArg::Any => FailOn::Any,
        FailOnArg::Added => FailOn::Added,
        FailOnArg::Risky => FailOn::Risky,
    };
    Ok(u8::from(diff.fails(fail_on)))
}
