//! `sysallow diff`: the semantic difference between two recordings or profiles, for a reviewer
//! (text, markdown) or a tool (json), and a CI gate (`--fail-on`).

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, ValueEnum};
use sysallow_profile::diff::{self, Diff, FailOn, Style};
use sysallow_profile::formats::Document;
use sysallow_profile::hardening::{self, Bundle, diff::RuntimeDiff};
use sysallow_profile::policy::NormalizedPolicy;
use sysallow_profile::risk;

use super::StatusError;
use super::io::{Color, Input, read_input, warn, write_output};

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
///
/// The run-time layer is compared too, where both sides have one (a bundle from `generate
/// --bundle`, or a recording with its privileges recorded): a capability gained or lost,
/// with its risk class, and no-new-privileges, the user and the read-only root. Two bundles
/// compare their run-time layers alone.
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
    /// default action, an added architecture; a capability gained, no-new-privileges lost,
    /// root again, a writable root or another writable mount.
    /// default action, an added architecture.
    Added,
    /// Anything added in a risky class, or a default action that now allows; a capability
    /// gained in a risky class (all but Docker's 14 defaults), or no-new-privileges lost.
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
        "\nCapability risk classes (a capability gained; risky ones count for --fail-on risky):\n",
    );
    for class in risk::CAPABILITY_CLASSES {
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
         sysallow diff v1-bundle/bundle.json v2-bundle/bundle.json --fail-on risky   # capabilities\n  \
         sysallow diff --against podman-default app.json    # ... beyond Podman's",
    );
    text
}

/// One side of a diff: its syscalls (a recording or profile) and its run-time layer (a
/// bundle, or a recording with privileges recorded), where it has them.
struct Side {
    doc: Option<Document>,
    bundle: Option<Bundle>,
}

/// Unreadable input is status 2 (documented in --help).
fn read_side(path: &Path) -> anyhow::Result<Side> {
    Ok(match read_input(path, 2)? {
        Input::Bundle(bundle) => Side {
            doc: None,
            bundle: Some(*bundle),
        },
        Input::Document(doc) => Side {
            bundle: match &doc {
                Document::Recording(rec) => hardening::explain::bundle_of(rec),
                Document::Profile(_) => None,
            },
            doc: Some(doc),
        },
    })
}

/// Unreadable input is status 2 (documented in --help).
fn read_document_input(path: &Path) -> anyhow::Result<Document> {
    read_side(path)?.doc.ok_or_else(|| {
        StatusError {
            status: 2,
            message: format!(
                "{}: a run-time layer bundle has no syscalls to compare against a baseline",
                path.display()
            ),
        }
        .into()
    })
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let usage = |message: &str| StatusError {
        status: 2,
        message: message.to_owned(),
    };
    let (diff, runtime) = match (args.against, args.inputs.as_slice()) {
        (Some(against), [input]) => {
            let (name, baseline) = match against {
                Baseline::DockerDefault => ("docker-default", risk::docker_default()),
                Baseline::PodmanDefault => ("podman-default", risk::podman_default()),
            };
            let baseline = baseline
                .map_err(|e| anyhow::anyhow!("built-in baseline {name} does not read: {e}"))?;
            let new = NormalizedPolicy::from_document(&read_document_input(input)?);
            let diff =
                Diff::compute(name, baseline, &input.display().to_string(), &new).widening_only();
            (Some(diff), None)
        }
        (Some(_), _) => return Err(usage("--against takes exactly one input").into()),
        (None, [old_path, new_path]) => {
            let old = read_side(old_path)?;
            let new = read_side(new_path)?;
            let diff = match (&old.doc, &new.doc) {
                (Some(o), Some(n)) => Some(Diff::compute(
                    &old_path.display().to_string(),
                    &NormalizedPolicy::from_document(o),
                    &new_path.display().to_string(),
                    &NormalizedPolicy::from_document(n),
                )),
                _ => None,
            };
            let runtime = match (&old.bundle, &new.bundle) {
                (Some(o), Some(n)) => Some(RuntimeDiff::compute(o, n)),
                (None, None) => None,
                _ => {
                    warn(
                        "only one side has a run-time layer (a bundle, or a recording with its \
                         privileges): capabilities are not compared",
                    );
                    None
                }
            };
            if diff.is_none() && runtime.is_none() {
                return Err(usage(
                    "nothing to compare: a bundle compares with a bundle or a recording that \
                     has its privileges, a profile with a recording or a profile",
                )
                .into());
            }
            (diff, runtime)
        }
        (None, _) => return Err(usage("give OLD and NEW (or --against BASELINE INPUT)").into()),
    };
    let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
    let style = Style {
        color: args.color.enabled(to_stdout),
    };
    let text = match args.format {
        Format::Text => {
            let mut text = diff
                .as_ref()
                .map_or_else(String::new, |d| diff::render_text(d, style));
            if let Some(rt) = &runtime {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&rt.render_text());
            }
            text
        }
        Format::Markdown => {
            let mut text = diff
                .as_ref()
                .map_or_else(String::new, diff::render_markdown);
            if let Some(rt) = &runtime {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&rt.render_markdown());
            }
            text
        }
        Format::Json => render_json(diff.as_ref(), runtime.as_ref()),
    };
    write_output(args.output.as_deref(), &text)?;
    let fail_on = match args.fail_on {
        FailOnArg::Never => FailOn::Never,
        FailOnArg::Any => FailOn::Any,
        FailOnArg::Added => FailOn::Added,
        FailOnArg::Risky => FailOn::Risky,
    };
    let syscalls_fail = diff.as_ref().is_some_and(|d| d.fails(fail_on));
    // The run-time layer counts as syscalls do: a capability gained (or a setting widened)
    // is an addition, a risky capability gained (or no-new-privileges lost) is risky.
    let runtime_fails = runtime.as_ref().is_some_and(|rt| match fail_on {
        FailOn::Never => false,
        FailOn::Any => !rt.is_empty(),
        FailOn::Added => rt.widens(),
        FailOn::Risky => rt.risky(),
    });
    Ok(u8::from(syscalls_fail || runtime_fails))
}

/// The syscall diff's JSON, with the run-time layer's changes under `run_time` (alone when
/// only bundles were compared).
fn render_json(diff: Option<&Diff>, runtime: Option<&RuntimeDiff>) -> String {
    // Without a run-time layer, the syscall diff's JSON exactly as before (its key order).
    if let (Some(d), None) = (diff, runtime) {
        return diff::render_json(d);
    }
    let mut value = diff
        .and_then(|d| serde_json::from_str::<serde_json::Value>(&diff::render_json(d)).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    if let (Some(rt), Some(object)) = (runtime, value.as_object_mut()) {
        object.insert(
            "run_time".to_owned(),
            serde_json::to_value(rt).unwrap_or_default(),
        );
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
