//! Writing a [`Diff`] as text (for a terminal or a log), markdown (for a review comment) or
//! JSON (for tools). Each takes the diff and returns the whole text; the CLI only prints it.

use std::fmt::Write as _;

use std::collections::BTreeSet;

use super::{ChangeKind, Diff, SettingChange, Summary, SyscallChange, deny_only_names};
use crate::abi::Abi;
use crate::policy::{Grant, Usage, describe_arg};
use crate::risk;
use crate::style::Style;

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const BOLD_RED: &str = "1;31";
const DIM: &str = "2";
const BOLD: &str = "1";

fn grants_text(name: &str, grants: &[Grant]) -> String {
    if grants.is_empty() {
        "(no rule)".to_owned()
    } else {
        grants
            .iter()
            .map(|g| grant_text(name, g))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// A grant of syscall `name`, its argument values named where they have a name:
/// `allow if arg0 == 1 (AF_UNIX)`.
pub fn grant_text(name: &str, grant: &Grant) -> String {
    let mut text = grant.verdict.to_string();
    if !grant.args.is_empty() {
        let conds: Vec<String> = grant
            .args
            .iter()
            .map(|c| match crate::args::describe_condition(name, c) {
                Some(symbol) => format!("{} ({symbol})", describe_arg(c)),
                None => describe_arg(c),
            })
            .collect();
        text.push_str(&format!(" if {}", conds.join(" && ")));
    }
    if !grant.gate.is_empty() {
        text.push_str(&format!(" [{}]", grant.gate));
    }
    text
}

fn programs_text(usage: &Usage) -> String {
    usage
        .programs
        .iter()
        .map(|(p, n)| format!("{p} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{} added, {} removed, {} changed, {} setting(s) changed; {} widen what runs, {} risky",
        s.added, s.removed, s.changed, s.settings, s.widening, s.risky
    )
}

fn setting_text(setting: &SettingChange) -> String {
    let list = |added: &[String], removed: &[String]| {
        added
            .iter()
            .map(|a| format!("+{a}"))
            .chain(removed.iter().map(|r| format!("-{r}")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match setting {
        SettingChange::DefaultAction { old, new, .. } => {
            format!("default action: {old} -> {new}")
        }
        SettingChange::Architectures { added, removed } => {
            format!("architectures: {}", list(added, removed))
        }
        SettingChange::Flags { added, removed } => format!("flags: {}", list(added, removed)),
        SettingChange::ListenerPath { old, new } => format!(
            "listener path: {} -> {}",
            old.as_deref().unwrap_or("(none)"),
            new.as_deref().unwrap_or("(none)")
        ),
    }
}

/// Human summary, for a terminal (`style.color`) or a log.
pub fn render_text(diff: &Diff, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.paint(
            BOLD,
            &format!("sysallow diff: {} -> {}", diff.old.name, diff.new.name)
        )
    );
    if diff.widening_only {
        let _ = writeln!(
            out,
            "only what {} allows beyond {}",
            diff.new.name, diff.old.name
        );
    }
    if diff.is_empty() {
        out.push_str("no semantic difference\n");
        return out;
    }
    for setting in &diff.settings {
        let mark = if setting.risky() {
            style.paint(BOLD_RED, "  [risky: allows every syscall not named]")
        } else if setting.widens() {
            "  [widens]".to_owned()
        } else {
            String::new()
        };
        let _ = writeln!(out, "{}{mark}", setting_text(setting));
    }
    let width = diff
        .syscalls
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let abis: BTreeSet<Abi> = diff.syscalls.iter().map(|c| c.abi).collect();
    for abi in abis {
        let _ = writeln!(out, "\n{}", style.paint(BOLD, &format!("{abi}:")));
        let in_abi = || diff.syscalls.iter().filter(move |c| c.abi == abi);
        for c in in_abi().filter(|c| !c.deny_only()) {
            text_line(&mut out, c, width, style);
        }
        let denies = deny_only_names(in_abi().filter(|c| c.deny_only()));
        if !denies.is_empty() {
            let _ = writeln!(
                out,
                "  {}",
                style.paint(DIM, &format!("deny rules only: {denies}"))
            );
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(&diff.summary));
    out
}

fn text_line(out: &mut String, c: &SyscallChange, width: usize, style: Style) {
    {
        let (mark, color) = match c.change {
            ChangeKind::Added => ("+", GREEN),
            ChangeKind::Removed => ("-", RED),
            ChangeKind::Changed => ("~", YELLOW),
        };
        let detail = match c.change {
            ChangeKind::Added => grants_text(&c.name, &c.new),
            ChangeKind::Removed => grants_text(&c.name, &c.old),
            ChangeKind::Changed => {
                format!(
                    "{} -> {}",
                    grants_text(&c.name, &c.old),
                    grants_text(&c.name, &c.new)
                )
            }
        };
        let _ = writeln!(
            out,
            "  {}  {}",
            style.paint(color, &format!("{mark} {:<width$}", c.name)),
            detail
        );
        if let Some(risk) = c.risk.as_ref().filter(|r| r.class != risk::ORDINARY) {
            let label = format!(
                "{}: {}",
                if risk.risky { "RISKY" } else { "risk" },
                risk.title
            );
            let code = if risk.risky { BOLD_RED } else { DIM };
            let _ = writeln!(out, "      {} - {}", style.paint(code, &label), risk.reason);
        }
        if let Some(usage) = c.usage.as_ref().filter(|u| !u.programs.is_empty()) {
            let _ = writeln!(
                out,
                "      {}",
                style.paint(DIM, &format!("used by: {}", programs_text(usage)))
            );
        }
    }
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Markdown, for a pull-request comment.
pub fn render_markdown(diff: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Seccomp profile diff: `{}` → `{}`\n",
        diff.old.name, diff.new.name
    );
    if diff.widening_only {
        let _ = writeln!(
            out,
            "Only what `{}` allows beyond `{}`.\n",
            diff.new.name, diff.old.name
        );
    }
    if diff.is_empty() {
        out.push_str("No semantic difference.\n");
        return out;
    }
    let s = &diff.summary;
    let warn = if s.risky > 0 { "⚠️ " } else { "" };
    let _ = writeln!(out, "{warn}**{}**\n", summary_line(s));
    if !diff.settings.is_empty() {
        out.push_str("| setting | change | widens |\n| --- | --- | --- |\n");
        for setting in &diff.settings {
            let text = setting_text(setting);
            let (name, change) = text.split_once(": ").unwrap_or(("setting", &text));
            let _ = writeln!(
                out,
                "| {name} | {} | {} |",
                md_escape(change),
                if setting.risky() {
                    "⚠️ yes (risky)"
                } else if setting.widens() {
                    "yes"
                } else {
                    "no"
                }
            );
        }
        out.push('\n');
    }
    if diff.syscalls.iter().any(|c| !c.deny_only()) {
        out.push_str("| | ABI | syscall | before | after | risk | used by |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for c in diff.syscalls.iter().filter(|c| !c.deny_only()) {
            let mark = match c.change {
                ChangeKind::Added => "➕",
                ChangeKind::Removed => "➖",
                ChangeKind::Changed => "✏️",
            };
            let risk = c
                .risk
                .as_ref()
                .filter(|r| r.class != risk::ORDINARY)
                .map_or(String::new(), |r| {
                    format!(
                        "{}**{}**: {}",
                        if r.risky { "⚠️ " } else { "" },
                        r.title,
                        r.reason
                    )
                });
            let used = c.usage.as_ref().map_or(String::new(), programs_text);
            let _ = writeln!(
                out,
                "| {mark} | {} | `{}` | {} | {} | {} | {} |",
                c.abi,
                c.name,
                md_escape(&grants_text(&c.name, &c.old)),
                md_escape(&grants_text(&c.name, &c.new)),
                md_escape(&risk),
                md_escape(&used)
            );
        }
    }
    markdown_deny_only(&mut out, diff);
    out
}

/// Markdown for the deny-only changes, folded: they rarely need a reviewer.
fn markdown_deny_only(out: &mut String, diff: &Diff) {
    let count = diff.syscalls.iter().filter(|c| c.deny_only()).count();
    if count == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "\n<details><summary>{count} rule(s) that only deny, added (+) or removed (-)</summary>\n"
    );
    let abis: BTreeSet<Abi> = diff.syscalls.iter().map(|c| c.abi).collect();
    for abi in abis {
        let names = deny_only_names(
            diff.syscalls
                .iter()
                .filter(|c| c.abi == abi && c.deny_only()),
        );
        if !names.is_empty() {
            let _ = writeln!(out, "- {abi}: `{names}`");
        }
    }
    out.push_str("\n</details>\n");
}

/// JSON, for tools: the [`Diff`] as serialized, pretty, with a trailing newline.
pub fn render_json(diff: &Diff) -> String {
    // Plain data with string keys: serialization cannot fail.
    let mut text = serde_json::to_string_pretty(diff).unwrap_or_default();
    text.push('\n');
    text
}
