//! `sysallow explain` end to end: table and JSON, on a recording and on a profile.

use crate::common;

use std::process::Output;

use crate::common::{diff_data as data, golden};

fn explain(args: &[&str]) -> Output {
    common::sysallow()
        .arg("explain")
        .args(args)
        .current_dir(data())
        .output()
        .expect("run sysallow")
}

fn ok_stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn recording_table_and_json() {
    let table = ok_stdout(&explain(&["new.rec.json"]));
    assert_eq!(table, golden("explain-recording.txt"));
    assert!(table.contains("io_uring_enter  30"));

    let json = ok_stdout(&explain(&["new.rec.json", "--format", "json"]));
    assert_eq!(json, golden("explain-recording.json"));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let enter = value["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "io_uring_enter")
        .expect("io_uring_enter explained");
    assert_eq!(enter["count"], 30);
    assert_eq!(enter["programs"]["/usr/bin/app"], 30);
    assert_eq!(enter["risk"]["class"], "io_uring");
    assert_eq!(enter["why"], "observed");
}

#[test]
fn profile_table_and_json() {
    let table = ok_stdout(&explain(&["new.json"]));
    assert_eq!(table, golden("explain-profile.txt"));

    let json = ok_stdout(&explain(&["new.json", "--format", "json"]));
    assert_eq!(json, golden("explain-profile.json"));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let clone3 = value["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["abi"] == "x86_64" && e["name"] == "clone3")
        .expect("clone3 explained");
    assert_eq!(clone3["why"], "fallback");
    assert!(clone3.get("risk").is_none(), "a denied syscall has no risk");
}

#[test]
fn bad_input_exits_2() {
    let out = explain(&["/nonexistent/p.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/p.json"));
}
