//! What `explain` shows of the run-time layer: a row per capability seen (its class, the
//! checks behind it, its risk, why), then no-new-privileges, the user, the read-only root
//! and the Pod Security level, each with its reason.

use std::fmt::Write as _;

use super::{Bundle, Options, decide, describe_target};
use crate::recording::Recording;
use crate::style::Style;

/// The bundle of a recording that has privileges recorded (no seccomp profile named).
pub fn bundle_of(rec: &Recording) -> Option<Bundle> {
    rec.privileges.as_ref()?;
    let options = Options::default();
    decide(std::slice::from_ref(rec), &options)
        .ok()
        .map(|h| Bundle::new(h, describe_target(&rec.target), &options))
}

/// How wide the reasons are wrapped.
const WIDTH: usize = 90;

/// The run-time layer as text; risky added capabilities in red.
pub fn render_text(bundle: &Bundle, style: Style) -> String {
    let mut out = format!(
        "Run-time layer of {} (capability checks seen by {}):\n",
        bundle.source, bundle.hook
    );
    if bundle.capabilities.is_empty() {
        out.push_str("  no capability check after the set-up boundary: it needs none\n");
    }
    let header = format!(
        "  {:<24} {:<22} {:>9} {:>8}  {}",
        "CAPABILITY", "CLASS", "GRANTED", "DENIED", "RISK"
    );
    if !bundle.capabilities.is_empty() {
        let _ = writeln!(out, "{header}");
    }
    for d in &bundle.capabilities {
        let granted: u64 = d
            .evidence
            .iter()
            .filter(|e| e.granted)
            .map(|e| e.count)
            .sum();
        let denied: u64 = d
            .evidence
            .iter()
            .filter(|e| !e.granted)
            .map(|e| e.count)
            .sum();
        let row = format!(
            "  {:<24} {:<22} {granted:>9} {denied:>8}  {}{}",
            d.capability,
            format!(
                "{}{}",
                if d.class.added() { "+ " } else { "  " },
                d.class.name()
            ),
            d.risk.class,
            if d.risk.risky { " (risky)" } else { "" }
        );
        let risky = d.class.added() && d.risk.risky;
        let _ = writeln!(out, "{}", if risky { style.paint("31", &row) } else { row });
        for piece in crate::style::wrap(&d.reason, WIDTH) {
            let _ = writeln!(out, "      {piece}");
        }
    }
    let added: Vec<&str> = bundle.added().into_iter().map(super::short_name).collect();
    let _ = writeln!(
        out,
        "  => cap-add: {}",
        if added.is_empty() {
            "none".to_owned()
        } else {
            added.join(" ")
        }
    );
    let mut setting = |title: &str, value: String, reason: &str| {
        let _ = writeln!(out, "  {title}: {value}");
        for piece in crate::style::wrap(reason, WIDTH) {
            let _ = writeln!(out, "      {piece}");
        }
    };
    setting(
        "no-new-privileges",
        (if bundle.no_new_privileges() {
            "fits"
        } else {
            "does not fit"
        })
        .to_owned(),
        &bundle.no_new_privileges.reason,
    );
    setting(
        "user",
        format!(
            "{:?}{}",
            bundle.user.verdict,
            bundle
                .user
                .user
                .as_ref()
                .map_or_else(String::new, |u| format!(" ({u})"))
        ),
        &bundle.user.reasons.join("; "),
    );
    setting(
        "read-only root",
        format!("{:?}", bundle.read_only.verdict),
        &bundle.read_only.reason,
    );
    for m in &bundle.read_only.mounts {
        let kind = match m.kind {
            super::rootfs::MountKind::Tmpfs => "tmpfs",
            super::rootfs::MountKind::Volume => "volume",
        };
        let _ = writeln!(
            out,
            "    {kind} {} (covers {})",
            m.path,
            m.covers.join(", ")
        );
        if let Some(w) = &m.warning {
            for piece in crate::style::wrap(&format!("warning: {w}"), WIDTH) {
                let _ = writeln!(out, "      {piece}");
            }
        }
    }
    let _ = writeln!(
        out,
        "  Pod Security Standard: {}",
        bundle.pod_security.level.name()
    );
    for unmet in &bundle.pod_security.unmet {
        let _ = writeln!(out, "      not {unmet}");
    }
    for note in &bundle.notes {
        for (i, piece) in crate::style::wrap(note, WIDTH).into_iter().enumerate() {
            let _ = writeln!(out, "  {}{piece}", if i == 0 { "note: " } else { "      " });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardening::fixtures;

    #[test]
    fn rows_show_class_counts_risk_and_reason() {
        let text = render_text(
            &fixtures::bundle(&fixtures::nice_as_nobody()),
            Style { color: false },
        );
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("CAP_DAC_READ_SEARCH"));
        let row = row.unwrap_or_else(|| panic!("{text}"));
        assert!(row.contains("denied only") && row.contains(" 11"), "{row}");
        assert!(text.contains("harmless"), "{text}");
        assert!(text.contains("=> cap-add: none"), "{text}");
        let text = render_text(
            &fixtures::bundle(&fixtures::read_mode000_as_root()),
            Style { color: false },
        );
        assert!(text.contains("+ required"), "{text}");
        assert!(text.contains("host_control (risky)"), "{text}");
        assert!(text.contains("=> cap-add: DAC_READ_SEARCH"), "{text}");
    }

    #[test]
    fn explain_of_a_recording_carries_its_run_time_layer() {
        let rec = fixtures::chown_as_root();
        let doc = crate::formats::Document::Recording(rec);
        let e = crate::explain::explain("chown.rec.json", &doc);
        let bundle = e.run_time.as_ref().map(Bundle::added);
        assert_eq!(bundle, Some(vec!["CAP_CHOWN"]));
        let table = crate::explain::render_table(&e, Style { color: false }, false);
        assert!(
            table.contains("Run-time layer of command `chown 1:1 f`"),
            "{table}"
        );
        let json = crate::explain::render_json(&e);
        assert!(json.contains("\"run_time\""));
    }
}
