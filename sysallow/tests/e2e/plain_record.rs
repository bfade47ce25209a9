//! The first thing a new user types, a plain `record`, gives a profile that survives load
//! (issue 20): recorded once on a quiet machine, then run as production runs it, many times
//! with every core busy, in several batches of fresh recordings; and fresh recordings of the
//! same workload give the same profile, so a diff between releases never flaps.

use crate::common;
use crate::common::image;

use std::path::{Path, PathBuf};

use crate::common::docker::Dockerd;
use crate::common::parent_e2e::RUN_TIMEOUT;
use crate::common::recorder::{Recorder, merge_and_generate, profile_names};

const BATCHES: usize = 5;

/// `sysallow diff OLD NEW --fail-on any`: exit 0 means no semantic difference.
fn assert_same_profile(old: &Path, new: &Path) {
    let out = common::sysallow()
        .arg("diff")
        .arg(old)
        .arg(new)
        .args(["--fail-on", "any"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} and {} differ:\n{}{}",
        old.display(),
        new.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_plain_record_of_the_xz_pipeline_runs_20_of_20_busy_in_5_fresh_recordings() {
    require!(alone: root, program("xz", "xz-utils"));
    // A recording that must be quiet: no other test's busy loops or recordings beside it.
    let dir = tempfile::tempdir().unwrap();
    let numbers: String = (1..=300_000).map(|n| format!("{n}\n")).collect();
    std::fs::write(dir.path().join("f"), numbers).unwrap();
    let status = std::process::Command::new("xz")
        .args(["-T2", "-k", "f"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    // xz polls only when its output pipe is full: a quiet recording rarely sees it.
    let pipeline = ["sh", "-c", "xz -dc f.xz | wc -l"];
    let mut profiles: Vec<PathBuf> = Vec::new();
    let mut quiet_ones = 0;
    for batch in 1..=BATCHES {
        let profile = format!("plain-{batch}.json");
        let rec = format!("plain-{batch}.rec.json");
        let out = common::sysallow()
            .args(["record", "-o", &profile, "--recording", &rec, "--"])
            .args(pipeline)
            .current_dir(dir.path())
            .output()
            .unwrap();
        common::assert_success(&out);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "300000\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("likely incomplete: one run, not stressed")
                && stderr.contains("record --repeat 3 --stress"),
            "record did not say the recording is likely incomplete:\n{stderr}"
        );
        let recording: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(&rec)).unwrap()).unwrap();
        if recording["abis"]["x86_64"]["syscalls"]["poll"].is_null() {
            quiet_ones += 1;
        }
        let profile = dir.path().join(&profile);
        assert!(profile_names(&profile).iter().any(|n| n == "poll"));
        common::assert_not_wider_than_docker_default(&profile);

        let _busy = common::Busy::start();
        for i in 1..=20 {
            let out = common::run_under(dir.path(), &format!("plain-{batch}.json"), &pipeline);
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "batch {batch}, run {i} of 20: {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "300000\n",
                "batch {batch}, run {i}"
            );
        }
        profiles.push(profile);
    }
    eprintln!("plain_xz: {quiet_ones} of {BATCHES} recordings never saw poll");
    for other in &profiles[1..] {
        assert_same_profile(&profiles[0], other);
    }
}

#[test]
fn five_plain_recordings_of_the_example_suite_give_the_same_profile() {
    require!(alone: root);
    let dir = tempfile::tempdir().unwrap();
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/wordfreq/run-tests.sh");
    let suite = suite.to_str().unwrap();
    let mut profiles = Vec::new();
    for batch in 1..=BATCHES {
        let profile = dir.path().join(format!("suite-{batch}.json"));
        let out = common::sysallow()
            .arg("record")
            .arg("-o")
            .arg(&profile)
            .args(["--", suite])
            .output()
            .unwrap();
        common::assert_success(&out);
        common::assert_not_wider_than_docker_default(&profile);
        profiles.push(profile);
    }
    for other in &profiles[1..] {
        assert_same_profile(&profiles[0], other);
    }
}

/// busybox httpd and wget in one container: wget polls only when the server has not answered
/// yet (the "wget: poll: Operation not permitted" under load).
const WEB: &[&str] = &[
    "sh",
    "-c",
    "mkdir -p /tmp/www && echo hi > /tmp/www/index.html && \
     httpd -p 127.0.0.1:8080 -h /tmp/www && wget -q -O - http://127.0.0.1:8080/",
];

/// The probe's `late` client: it polls only when its forked peer has not answered yet (4 of 10
/// quiet runs, 9 of 10 stressed ones), then waits for the peer to exit, so every recording
/// ends the same way.
const LATE: &[&str] = &[image::PROBE, "late"];

/// A container workload and what it prints.
struct Workload {
    name: &'static str,
    argv: &'static [&'static str],
    stdout: &'static str,
}

const WEB_WORKLOAD: Workload = Workload {
    name: "web",
    argv: WEB,
    stdout: "hi\n",
};

const LATE_WORKLOAD: Workload = Workload {
    name: "late",
    argv: LATE,
    stdout: "pong\n",
};

/// Record `runs` runs of `w` under a fresh recorder (with `flags`), merge them, and generate:
/// the profile's path.
fn record_container(
    d: &Dockerd,
    image: &str,
    dir: &Path,
    w: &Workload,
    tag: &str,
    flags: &[&str],
    runs: u32,
) -> PathBuf {
    let out = dir.join(tag);
    let parent = format!("sysallow-{}-{tag}-{}", w.name, std::process::id());
    let mut args = flags.to_vec();
    args.extend(["--cgroup-parent", &parent, "-o", out.to_str().unwrap()]);
    let recorder = Recorder::start(d, &args);
    let cgroup_parent = format!("--cgroup-parent=/{parent}");
    for run in 1..=runs {
        let name = format!("{}-{tag}-{run}", w.name);
        let mut argv = vec!["run", "--rm", "--name", &name, &cgroup_parent, image];
        argv.extend(w.argv);
        let o = d.docker_with_timeout(&argv, RUN_TIMEOUT);
        assert!(
            o.status.success() && o.stdout == w.stdout,
            "{tag}, run {run}: {o}"
        );
    }
    assert!(recorder.interrupt().success());
    if runs == 1 {
        return out.join(format!("{}-{tag}-1.json", w.name));
    }
    let recordings: Vec<PathBuf> = (1..=runs)
        .map(|run| out.join(format!("{}-{tag}-{run}.rec.json", w.name)))
        .collect();
    let profile = out.join("merged.json");
    merge_and_generate(&recordings, &out.join("merged.rec.json"), &profile);
    profile
}

fn assert_runs_10_of_10(d: &Dockerd, image: &str, w: &Workload, profile: &Path, what: &str) {
    let seccomp = format!("seccomp={}", profile.display());
    for i in 1..=10 {
        let mut argv = vec!["run", "--rm", "--security-opt", &seccomp, image];
        argv.extend(w.argv);
        let o = d.docker_with_timeout(&argv, RUN_TIMEOUT);
        assert!(o.status.success(), "{what}, run {i} of 10: {o}");
        assert_eq!(
            o.stdout, w.stdout,
            "{what}, run {i} of 10: output differs: {o}"
        );
    }
}

/// Plain recordings (one run, a quiet machine) of `w`, each run 10 times with every core busy;
/// the profiles, in batch order.
fn plain_batches(d: &Dockerd, image: &str, dir: &Path, w: &Workload) -> Vec<PathBuf> {
    let mut profiles = Vec::new();
    for batch in 1..=BATCHES {
        let tag = format!("plain{batch}");
        let profile = record_container(d, image, dir, w, &tag, &[], 1);
        common::assert_not_wider_than_docker_default(&profile);
        let names = profile_names(&profile);
        assert!(
            names.iter().any(|n| n == "poll"),
            "batch {batch}: {names:?}"
        );
        // What the timing paths cost here, in allowed names (the README's table).
        let without = profile.with_extension("no-timing.json");
        let g = common::sysallow()
            .arg("generate")
            .arg(profile.with_extension("rec.json"))
            .arg("--no-timing-paths")
            .arg("-o")
            .arg(&without)
            .output()
            .unwrap();
        common::assert_success(&g);
        eprintln!(
            "{} batch {batch}: {} names allowed, {} with --no-timing-paths",
            w.name,
            names.len(),
            profile_names(&without).len()
        );
        let _busy = common::Busy::start();
        assert_runs_10_of_10(d, image, w, &profile, &format!("plain, batch {batch}"));
        profiles.push(profile);
    }
    profiles
}

#[test]
fn a_static_client_in_a_container_recorded_plainly_runs_10_of_10_busy_in_5_batches() {
    require!(alone: docker);
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let dir = tempfile::tempdir().unwrap();
    let plain = plain_batches(&d, &image, dir.path(), &LATE_WORKLOAD);
    // Fresh recordings of the same container: the same profile.
    for other in &plain[1..] {
        assert_same_profile(&plain[0], other);
    }
    // The README's way (--stress, three runs merged) too.
    for batch in 1..=BATCHES {
        let tag = format!("readme{batch}");
        let profile = record_container(
            &d,
            &image,
            dir.path(),
            &LATE_WORKLOAD,
            &tag,
            &["--stress"],
            3,
        );
        common::assert_not_wider_than_docker_default(&profile);
        let _busy = common::Busy::start();
        let what = format!("README's way, batch {batch}");
        assert_runs_10_of_10(&d, &image, &LATE_WORKLOAD, &profile, &what);
    }
}

/// The issue's own case: busybox wget against busybox httpd, recorded plainly. (Not checked
/// for one profile across recordings: httpd's connection child calls shutdown on its way out
/// only when the container's end does not kill it first, 8 of 10 recordings here; denied, it
/// changes nothing.)
#[test]
fn busybox_wget_against_httpd_recorded_plainly_runs_10_of_10_busy_in_5_batches() {
    require!(alone: docker);
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let dir = tempfile::tempdir().unwrap();
    plain_batches(&d, &image, dir.path(), &WEB_WORKLOAD);
}

/// Not a check: the measurement behind the runc tail's Go scheduler calls and the web test's
/// note. `W=late|web N=10 cargo test -p sysallow --test e2e
/// plain_record::which_calls_come_and_go -- --ignored --nocapture` records N plain runs of a container and
/// prints each (syscall, program) that only some recordings saw.
#[test]
#[ignore = "a measurement, run by hand"]
fn which_calls_come_and_go_between_plain_recordings_of_a_container() {
    require!(docker);
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let dir = tempfile::tempdir().unwrap();
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let w = if std::env::var("W").as_deref() == Ok("late") {
        &LATE_WORKLOAD
    } else {
        &WEB_WORKLOAD
    };
    let mut counts: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for batch in 1..=n {
        let profile = record_container(&d, &image, dir.path(), w, &format!("m{batch}"), &[], 1);
        let rec = common::recorder::read_recording(&profile.with_extension("rec.json"));
        for (abi, a) in &rec.abis {
            for (name, sc) in &a.syscalls {
                for p in sc.programs.keys() {
                    *counts
                        .entry((format!("{name}/{abi}"), p.clone()))
                        .or_default() += 1;
                }
            }
        }
    }
    for ((name, p), k) in counts {
        if k < n {
            eprintln!("FLAP {name} by {p}: {k}/{n}");
        }
    }
}
