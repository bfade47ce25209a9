//! Golden tests: each output format of `diff` and `explain` on the inputs in `data/`, compared
//! byte for byte with `golden/`. `SYSALLOW_BLESS=1` rewrites the golden files instead.

use std::path::{Path, PathBuf};

use sysallow_profile::diff::{self, Diff, Style};
use sysallow_profile::explain;
use sysallow_profile::formats::{self, Document};
use sysallow_profile::policy::NormalizedPolicy;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn read(name: &str) -> Document {
    let path = dir().join("data/diff").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    formats::read(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn diff(old: &str, new: &str) -> Diff {
    Diff::compute(
        old,
        &NormalizedPolicy::from_document(&read(old)),
        new,
        &NormalizedPolicy::from_document(&read(new)),
    )
}

fn check(golden: &str, actual: &str) {
    let path = dir().join("golden").join(golden);
    if std::env::var_os("SYSALLOW_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SYSALLOW_BLESS=1 creates it)", path.display()));
    assert!(
        expected == actual,
        "{} differs; got:\n{actual}\n(SYSALLOW_BLESS=1 rewrites it; review the change)",
        path.display()
    );
}

const PLAIN: Style = Style { color: false };

#[test]
fn profiles_text() {
    check(
        "profiles.txt",
        &diff::render_text(&diff("old.json", "new.json"), PLAIN),
    );
}

#[test]
fn profiles_markdown() {
    check(
        "profiles.md",
        &diff::render_markdown(&diff("old.json", "new.json")),
    );
}

#[test]
fn profiles_json() {
    check(
        "profiles.json",
        &diff::render_json(&diff("old.json", "new.json")),
    );
}

#[test]
fn recordings_text() {
    check(
        "recordings.txt",
        &diff::render_text(&diff("old.rec.json", "new.rec.json"), PLAIN),
    );
}

#[test]
fn explain_profile() {
    let e = explain::explain("new.json", &read("new.json"));
    check(
        "explain-profile.txt",
        &explain::render_table(&e, PLAIN, false),
    );
    check("explain-profile.json", &explain::render_json(&e));
}

#[test]
fn explain_recording() {
    let e = explain::explain("new.rec.json", &read("new.rec.json"));
    check(
        "explain-recording.txt",
        &explain::render_table(&e, PLAIN, false),
    );
    check("explain-recording.json", &explain::render_json(&e));
}

/// The pair covers every kind of change the diff knows.
#[test]
fn pair_covers_every_kind_of_change() {
    use sysallow_profile::diff::{Aspect, ChangeKind, SettingChange};
    let d = diff("old.json", "new.json");
    let has = |kind: ChangeKind| d.syscalls.iter().any(|c| c.change == kind);
    assert!(has(ChangeKind::Added) && has(ChangeKind::Removed) && has(ChangeKind::Changed));
    for aspect in [
        Aspect::Action,
        Aspect::Errno,
        Aspect::Args,
        Aspect::Condition,
    ] {
        assert!(
            d.syscalls.iter().any(|c| c.aspects.contains(&aspect)),
            "{aspect:?}"
        );
    }
    assert!(
        d.settings
            .iter()
            .any(|s| matches!(s, SettingChange::DefaultAction { .. }))
    );
    assert!(
        d.settings
            .iter()
            .any(|s| matches!(s, SettingChange::Architectures { .. }))
    );
    assert!(
        d.settings
            .iter()
            .any(|s| matches!(s, SettingChange::Flags { .. }))
    );
    assert!(d.summary.risky > 0 && d.summary.widening > d.summary.risky);
}
