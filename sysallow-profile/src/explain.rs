//! `sysallow explain`: per syscall a Recording or Profile names, who used it, how often, its
//! risk class, and why it is there.
//!
//! "Why" comes from the rule's `comment`. The generator writes comments with the stable prefixes
//! of [`crate::why`]; those are recognised, and any other comment is shown as written.
//! A Recording's syscalls are all "observed".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::abi::Abi;
use crate::discovery::Discovery;
use crate::formats::Document;
use crate::imports::ProgramImports;
use crate::policy::{Allowance, Kind, NormalizedPolicy};
use crate::recording::Recording;
use crate::risk::{self, Risk};
use crate::style::Style;
use crate::style::wrap;
use crate::why;

/// Why a syscall is in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Seen in the recording(s).
    Observed,
    /// The container runtime calls it after installing the filter.
    RuntimeTail,
    /// Added by a generation policy flag (`--vdso`, `--portable`).
    PolicyFlag,
    /// ENOSYS so callers fall back to an older syscall.
    Fallback,
    /// Names the highest syscall so a runtime's ENOSYS stub cannot change the errno.
    ErrnoPin,
    /// Written by `merge`.
    Merged,
    /// Added by `verify -o`: the profile would have denied it.
    Verify,
    /// Answered as the filter the workload ran under answered it (or the kernel, ENOSYS).
    FilterInPlace,
    /// A comment the generator did not write.
    Comment,
    /// No comment.
    Unexplained,
}

impl Why {
    /// Recognise a generator comment by its prefix (see `generate.rs`, "Why-strings").
    pub fn of_comment(comment: &str) -> Why {
        let prefixes = [
            (why::OBSERVED, Why::Observed),
            (why::RUNTIME_TAIL, Why::RuntimeTail),
            (why::VDSO, Why::PolicyFlag),
            (why::PORTABLE, Why::PolicyFlag),
            (why::ESSENTIAL, Why::PolicyFlag),
            (why::COMPANION, Why::PolicyFlag),
            (why::TIMING, Why::PolicyFlag),
            (why::REPLACES, Why::PolicyFlag),
            (why::VERIFY, Why::Verify),
            (why::IMPORTS, Why::PolicyFlag),
            (why::FILTER, Why::FilterInPlace),
            (why::FALLBACK, Why::Fallback),
            (why::ERRNO_PIN, Why::ErrnoPin),
            (why::MERGED, Why::Merged),
        ];
        if comment.is_empty() {
            return Why::Unexplained;
        }
        prefixes
            .iter()
            .find(|(prefix, _)| comment.starts_with(prefix))
            .map_or(Why::Comment, |(_, why)| *why)
    }

    fn label(self) -> &'static str {
        match self {
            Why::Observed => "observed",
            Why::RuntimeTail => "runtime tail",
            Why::PolicyFlag => "policy flag",
            Why::Fallback => "fallback",
            Why::ErrnoPin => "errno pin",
            Why::Merged => "merged",
            Why::Verify => "verify",
            Why::FilterInPlace => "filter in place",
            Why::Comment => "comment",
            Why::Unexplained => "(no comment)",
        }
    }
}

/// One syscall in one ABI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub abi: Abi,
    pub name: String,
    /// What the document does with it: `allow`, `errno ENOSYS(38)`, `allow if arg0 == 1`, ...
    pub treatment: Vec<String>,
    pub allowance: Allowance,
    /// Calls recorded (Recordings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Executable path -> calls (Recordings only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub programs: BTreeMap<String, u64>,
    /// When it was first made, in ms from the start (Recordings with first-seen times).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_ms: Option<u64>,
    /// The captured argument values, named (`AF_UNIX, SOCK_STREAM`), with `(more than the
    /// recorder keeps)` where the set overflowed (Recordings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arg_values: Vec<String>,
    /// The risk class, for what the document lets run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    pub why: Why,
    /// The rule comments, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
}

/// The explanation of a whole document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub name: String,
    pub kind: Kind,
    pub default_action: String,
    pub syscalls: Vec<Entry>,
    /// The discovery curve (Recordings with first-seen times).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// The static cross-check: per program, syscalls its imports imply that the recording
    /// never saw (Recordings).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub imports: BTreeMap<String, ProgramImports>,
    /// What a filter in place denied before entry (Recordings of containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_by_filter: Option<String>,
    /// The run-time layer decided from the recording's privileges: capability rows with
    /// their reasons, no-new-privileges, the user, a read-only root (Recordings with
    /// `privileges`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_time: Option<crate::hardening::Bundle>,
}

/// Explain `doc` (named `name` in the report).
pub fn explain(name: &str, doc: &Document) -> Explanation {
    let policy = NormalizedPolicy::from_document(doc);
    let recording = match doc {
        Document::Recording(rec) => Some(rec),
        Document::Profile(_) => None,
    };
    let mut syscalls = Vec::new();
    for (abi, names) in &policy.abis {
        for (syscall, grants) in names {
            let allowance = policy.allowance(*abi, syscall);
            let usage = policy.usage(*abi, syscall);
            let comments: Vec<String> = policy
                .comments
                .get(abi)
                .and_then(|c| c.get(syscall))
                .map(|c| c.iter().cloned().collect())
                .unwrap_or_default();
            let why = match policy.kind {
                Kind::Recording => Why::Observed,
                // The first recognised comment decides; the others are still shown.
                Kind::Profile => comments
                    .iter()
                    .map(|c| Why::of_comment(c))
                    .find(|w| *w != Why::Comment)
                    .unwrap_or(if comments.is_empty() {
                        Why::Unexplained
                    } else {
                        Why::Comment
                    }),
            };
            syscalls.push(Entry {
                abi: *abi,
                name: syscall.clone(),
                treatment: grants
                    .iter()
                    .map(|g| crate::diff::grant_text(syscall, g))
                    .collect(),
                allowance,
                count: usage.map(|u| u.count),
                programs: usage.map(|u| u.programs.clone()).unwrap_or_default(),
                first_seen_ms: recording
                    .and_then(|r| r.abis.get(abi))
                    .and_then(|a| a.syscalls.get(syscall))
                    .and_then(|s| s.first_seen()),
                arg_values: recording
                    .and_then(|r| r.abis.get(abi))
                    .and_then(|a| a.syscalls.get(syscall))
                    .and_then(|s| s.args.as_ref())
                    .map(|a| {
                        let mut shown: Vec<String> = a
                            .values
                            .iter()
                            .map(|v| crate::args::describe(syscall, *v))
                            .collect();
                        if a.overflow {
                            shown.push("(more than the recorder keeps)".to_owned());
                        }
                        shown
                    })
                    .unwrap_or_default(),
                risk: (allowance != Allowance::Denied).then(|| risk::classify(*abi, syscall)),
                why,
                comments,
            });
        }
    }
    Explanation {
        name: name.to_owned(),
        kind: policy.kind,
        default_action: policy.default.to_string(),
        syscalls,
        discovery: recording.and_then(Discovery::of),
        imports: recording.map(|r| r.imports.clone()).unwrap_or_default(),
        denied_by_filter: recording.and_then(Recording::denied_summary),
        run_time: recording.and_then(crate::hardening::explain::bundle_of),
    }
}

/// Programs shown per syscall in the table unless `wide`: a test suite runs dozens.
const TOP_PROGRAMS: usize = 3;

/// The captured values of a row, the first few unless `wide`.
fn values_cell(values: &[String], wide: bool) -> String {
    const SHOWN: usize = 4;
    if wide || values.len() <= SHOWN {
        values.join(" | ")
    } else {
        format!(
            "{} and {} more",
            values[..SHOWN].join(" | "),
            values.len() - SHOWN
        )
    }
}

/// "a (5), b (2) and 14 more": the programs that made the most calls first.
fn programs_cell(programs: &BTreeMap<String, u64>, wide: bool) -> String {
    let mut by_calls: Vec<(&String, &u64)> = programs.iter().collect();
    by_calls.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let shown = if wide { by_calls.len() } else { TOP_PROGRAMS };
    let mut text = by_calls
        .iter()
        .take(shown)
        .map(|(p, n)| format!("{p} ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    if by_calls.len() > shown {
        let _ = write!(text, " and {} more", by_calls.len() - shown);
    }
    text
}

/// The widest a detail line under a row (argument conditions, captured values) runs.
const DETAIL_WIDTH: usize = 100;

/// A row's treatment without its argument conditions (`allow if …`); the conditions go on
/// lines of their own under the row ([`detail_lines`]).
fn treatment_cell(treatment: &[String]) -> String {
    let mut heads: Vec<String> = Vec::new();
    for t in treatment {
        let head = match t.split_once(" if ") {
            Some((verdict, _)) => format!("{verdict} if …"),
            None => t.clone(),
        };
        if !heads.contains(&head) {
            heads.push(head);
        }
    }
    heads.join(" | ")
}

/// The lines under a row: each conditional treatment, then the captured values.
fn detail_lines(e: &Entry, wide: bool) -> Vec<String> {
    let mut lines: Vec<String> = e
        .treatment
        .iter()
        .filter(|t| t.contains(" if "))
        .cloned()
        .collect();
    if !e.arg_values.is_empty() {
        lines.push(format!("seen: {}", values_cell(&e.arg_values, wide)));
    }
    lines
}

/// The widest a column of `explain`'s table is padded to.
const MAX_COLUMN: usize = 120;

/// A table, for a terminal (`style.color` marks risky rows) or a log. Each row names the
/// programs that made the most calls, and how many more there were, unless `wide`. A
/// recording's discovery curve follows the table.
pub fn render_table(explanation: &Explanation, style: Style, wide: bool) -> String {
    let header = [
        "ABI",
        "SYSCALL",
        "CALLS",
        "TREATMENT",
        "RISK",
        "WHY",
        "PROGRAMS",
    ];
    let rows: Vec<([String; 7], bool, Vec<String>)> = explanation
        .syscalls
        .iter()
        .map(|e| {
            let risky = e.risk.as_ref().is_some_and(|r| r.risky);
            // The comment says more than its class; the class is in the JSON.
            let why = if e.comments.is_empty() {
                e.why.label().to_owned()
            } else {
                e.comments.join("; ")
            };
            let cells = [
                e.abi.to_string(),
                e.name.clone(),
                e.count.map_or("-".to_owned(), |c| c.to_string()),
                treatment_cell(&e.treatment),
                e.risk
                    .as_ref()
                    .map_or("-".to_owned(), |r| r.class.to_owned()),
                why,
                programs_cell(&e.programs, wide),
            ];
            (cells, risky, detail_lines(e, wide))
        })
        .collect();
    let mut widths = header.map(str::len);
    for (cells, ..) in &rows {
        for (w, cell) in widths.iter_mut().zip(cells) {
            // A column is as wide as its widest cell, up to a screen: a longer cell (100,000
            // argument values) runs past its column instead of widening every row.
            *w = (*w).max(cell.chars().count().min(MAX_COLUMN));
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        text.trim_end().to_owned()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}; default: {})",
        explanation.name,
        match explanation.kind {
            Kind::Recording => "recording",
            Kind::Profile => "profile",
        },
        explanation.default_action
    );
    let _ = writeln!(
        out,
        "{}",
        style.paint("1", &line(&header.map(str::to_owned)))
    );
    // Details go under the SYSCALL column, so the table stays readable in 100 columns.
    let indent = " ".repeat(widths[0] + 2);
    for (cells, risky, details) in &rows {
        let text = line(cells);
        let _ = writeln!(
            out,
            "{}",
            if *risky {
                style.paint("31", &text)
            } else {
                text
            }
        );
        for detail in details {
            for piece in wrap(detail, DETAIL_WIDTH - indent.len()) {
                let _ = writeln!(out, "{indent}{piece}");
            }
        }
    }
    let risky = rows.iter().filter(|(_, r, _)| *r).count();
    let _ = writeln!(
        out,
        "{} syscall(s), {risky} in a risky class (see `sysallow diff --help` for the classes)",
        rows.len()
    );
    if let Some(discovery) = &explanation.discovery {
        out.push('\n');
        out.push_str(&discovery.render_text());
    }
    if let Some(denied) = &explanation.denied_by_filter {
        let _ = writeln!(
            out,
            "\nDenied before entry by the filter the workload ran under (a generated profile \
             gives the same errno): {denied}"
        );
    }
    if let Some(bundle) = &explanation.run_time {
        out.push('\n');
        out.push_str(&crate::hardening::explain::render_text(bundle, style));
    }
    let advice = crate::imports::summary(&explanation.imports, true);
    if !advice.is_empty() {
        let _ = writeln!(
            out,
            "\nImports: syscalls the programs' own imports can make that the recording never saw:"
        );
        for line in advice {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// JSON, for tools.
pub fn render_json(explanation: &Explanation) -> String {
    // Plain data with string keys: serialization cannot fail.
    let mut text = serde_json::to_string_pretty(explanation).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argument conditions and captured values go on lines of their own, wrapped, so the
    /// table of a recording with argument rules fits a 100-column terminal.
    #[test]
    fn a_recording_with_argument_rules_fits_100_columns() {
        use crate::recording::{Target, for_tests};
        let mut rec = for_tests(Target::Command {
            argv: vec!["app".into()],
            user: None,
        });
        let flags: &[u64] = &[0x3d0f00, 0x1200011, 0x11, 0x7e020000, 0x10000000, 0x4111];
        let sockets: &[u64] = &[1 << 32 | 1, 2 << 32 | 2, 10 << 32 | 1, 16 << 32 | 3];
        for (nr, values) in [(56, flags), (41, sockets), (135, &[0, 8][..])] {
            rec.add(Abi::X86_64, nr, "/usr/bin/java", 7);
            rec.add(Abi::X86_64, nr, "/bin/sh", 3);
            let syscall = rec
                .abis
                .get_mut(&Abi::X86_64)
                .and_then(|a| a.syscalls.values_mut().find(|s| s.args.is_none()))
                .expect("the syscall just added");
            syscall.args = Some(crate::args::ArgValues {
                values: values.iter().copied().collect(),
                overflow: false,
            });
        }
        let e = explain("rec.json", &Document::Recording(rec));
        assert!(
            e.syscalls
                .iter()
                .any(|s| s.treatment.iter().any(|t| t.contains(" if "))),
            "the recording has argument rules"
        );
        for wide in [false, true] {
            let table = render_table(&e, Style { color: false }, wide);
            assert!(table.contains("seen: "), "{table}");
            for line in table.lines() {
                assert!(line.chars().count() <= 100, "{} chars: {line}", line.len());
            }
        }
    }

    #[test]
    fn many_programs_are_summed_up_unless_wide() {
        let programs: BTreeMap<String, u64> =
            (1..=17).map(|i| (format!("/bin/p{i:02}"), i)).collect();
        assert_eq!(
            programs_cell(&programs, false),
            "/bin/p17 (17), /bin/p16 (16), /bin/p15 (15) and 14 more"
        );
        assert_eq!(programs_cell(&programs, true).matches(", ").count(), 16);
    }

    #[test]
    fn recognises_generator_comments() {
        assert_eq!(Why::of_comment("observed"), Why::Observed);
        assert_eq!(
            Why::of_comment("observed: in 1 of 2 recordings"),
            Why::Observed
        );
        assert_eq!(
            Why::of_comment("runtime tail: runc 1.1.5"),
            Why::RuntimeTail
        );
        assert_eq!(Why::of_comment("policy: --vdso (time)"), Why::PolicyFlag);
        assert_eq!(Why::of_comment("hand-written"), Why::Comment);
        assert_eq!(Why::of_comment(""), Why::Unexplained);
    }
}
