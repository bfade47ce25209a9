//! The run-time layer proved by running (issue 19): containers recorded under an armed parent,
//! their bundle written by `generate --bundle`, then `sysallow prove` reruns each under the
//! whole bundle (`--cap-drop ALL --cap-add ...`, no-new-privileges, `--read-only` with the
//! proposed mounts, the user, the profile) and with each grant left out in turn.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common;
use crate::common::docker::{Dockerd, TEST_IMAGE};
use crate::common::parent_e2e::RUN_TIMEOUT;
use crate::common::recorder::{Recorder, read_recording};

/// A container workload: how it runs, how it was recorded, what it prints, and what the
/// bundle must add.
struct Fixture {
    name: &'static str,
    argv: Vec<String>,
    /// `docker run` flags of the recording and the reference run only (Docker unites every
    /// `--cap-add`, so the bundle's own runs must not get them).
    recorded_with: Vec<String>,
    /// `docker run` flags of every run (a bind-mounted test program).
    every_run: Vec<String>,
    stdout: String,
    /// The capabilities the bundle must add.
    adds: &'static [&'static str],
    /// The mounts the read-only root must have (each needed).
    mounts: &'static [&'static str],
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// Record each fixture once under `runtime` with one recorder. Returns the output directory.
fn record_all(
    d: &mut Dockerd,
    runtime: &str,
    fixtures: &[Fixture],
    stress: bool,
) -> tempfile::TempDir {
    // One parent per call: the runc tests run in parallel in this one process, and two
    // recorders armed on one parent would each see (and fail to name) the other's containers.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-prove-{runtime}-{}-{call}", std::process::id());
    d.remove_cgroup_on_stop(&parent);
    let mut flags = vec![
        "--cgroup-parent",
        &parent,
        "-o",
        out.path().to_str().unwrap(),
    ];
    if stress {
        flags.push("--stress");
    }
    let recorder = Recorder::start(d, &flags);
    for fx in fixtures {
        let mut args = vec![
            "--name".to_owned(),
            fx.name.to_owned(),
            format!("--cgroup-parent=/{parent}"),
            "--runtime".to_owned(),
            runtime.to_owned(),
        ];
        args.extend(fx.recorded_with.iter().cloned());
        args.extend(fx.every_run.iter().cloned());
        args.push(image.clone());
        args.extend(fx.argv.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = d.run(&args, RUN_TIMEOUT);
        assert!(
            run.status.success() && run.stdout == fx.stdout,
            "{}: {run}",
            fx.name
        );
    }
    assert!(recorder.interrupt().success());
    out
}

/// `generate NAME.rec.json... -o NAME.json --bundle NAME.bundle` for the recordings `names`
/// (the first names the outputs).
fn generate_bundle(out: &Path, names: &[&str]) {
    let recordings: Vec<PathBuf> = names
        .iter()
        .map(|n| out.join(format!("{n}.rec.json")))
        .collect();
    for rec in &recordings {
        assert_eq!(
            read_recording(rec).losses.nonzero(),
            vec![],
            "{}",
            rec.display()
        );
    }
    let g = common::sysallow()
        .arg("generate")
        .args(&recordings)
        .arg("-o")
        .arg(out.join(format!("{}.json", names[0])))
        .arg("--bundle")
        .arg(out.join(format!("{}.bundle", names[0])))
        .output()
        .unwrap();
    common::assert_success(&g);
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(format!("{}.bundle/bundle.json", names[0]))).unwrap(),
    )
    .unwrap();
    eprintln!(
        "{}: {}\nread-only root: {}",
        names[0],
        common::stderr(&g).trim(),
        bundle["read_only"]
    );
}

/// `sysallow prove --bundle NAME.bundle --image IMAGE ...` against `d`: its report.
fn prove(d: &Dockerd, out: &Path, runtime: &str, fx: &Fixture, runs: u32) -> Value {
    let report = out.join(format!("{}.prove.json", fx.name));
    let docker = d.docker();
    let mut cmd = common::sysallow();
    cmd.arg("prove")
        .arg("--bundle")
        .arg(out.join(format!("{}.bundle", fx.name)))
        .args(["--image", TEST_IMAGE, "--docker"])
        .arg(docker.get_program())
        .arg(format!("--docker-arg=--runtime={runtime}"))
        .args([
            "--runs",
            &runs.to_string(),
            "--leave-one-out",
            "--timeout",
            "60",
        ])
        .arg("--report")
        .arg(&report);
    for flag in &fx.every_run {
        cmd.arg(format!("--docker-arg={flag}"));
    }
    for flag in &fx.recorded_with {
        cmd.arg(format!("--reference-arg={flag}"));
    }
    cmd.arg("--").args(&fx.argv);
    cmd.env("DOCKER_HOST", d.host());
    for (k, v) in docker.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let o = cmd.output().unwrap();
    eprintln!("{}:\n{}", fx.name, common::stderr(&o));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&report)
            .unwrap_or_else(|_| panic!("{}: no report: {}", fx.name, common::stderr(&o))),
    )
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: not proved: {}",
        fx.name,
        common::stderr(&o)
    );
    report
}

/// What every proof must show: the runs matched the reference, which printed what the
/// fixture prints; the bundle added exactly the fixture's capabilities, and leave-one-out
/// found each of them needed.
fn assert_proved(fx: &Fixture, report: &Value, runs: u32) {
    assert_eq!(report["reference"]["stdout"], fx.stdout, "{}", fx.name);
    assert_eq!(report["reference"]["status"], 0, "{}", fx.name);
    assert_eq!(report["matched"], runs, "{}: {report:#}", fx.name);
    let added: Vec<&str> = report["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(added, fx.adds, "{}: {report:#}", fx.name);
    let mounts: Vec<&str> = report["read_only_mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no read-only root: {report:#}", fx.name))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(mounts, fx.mounts, "{}: {report:#}", fx.name);
    for cap in fx.adds.iter().chain(fx.mounts) {
        let loo = report["leave_one_out"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["variant"]["what"] == *cap)
            .unwrap_or_else(|| panic!("{}: {cap} not left out: {report:#}", fx.name));
        assert_eq!(loo["needed"], true, "{}: {cap}: {report:#}", fx.name);
    }
}

/// The container fixtures, each needing a known capability or none.
fn fixtures(dir: &Path) -> Vec<Fixture> {
    let mmap = common::compile_workload(dir, "mmap_loop", &["-static"]);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    vec![
        Fixture {
            name: "chown",
            argv: sh("touch /tmp/f && chown 1:1 /tmp/f && stat -c %u:%g /tmp/f"),
            recorded_with: vec![],
            every_run: vec![],
            stdout: "1:1\n".into(),
            adds: &["CAP_CHOWN"],
            mounts: &["/tmp"],
        },
        Fixture {
            name: "renice",
            // Docker does not grant SYS_NICE: recorded (and compared) with it added.
            // busybox has renice (setpriority), not nice; field 19 of stat is the nice value.
            argv: sh("renice -n -5 -p $$ >/dev/null && cut -d' ' -f19 /proc/$$/stat"),
            recorded_with: vec!["--cap-add=SYS_NICE".into()],
            every_run: vec![],
            stdout: "-5\n".into(),
            adds: &["CAP_SYS_NICE"],
            mounts: &[],
        },
        Fixture {
            name: "mode-000",
            // Root reading its own mode-000 file: the DAC check fails, a capability decides
            // (DAC_READ_SEARCH is checked first and, not in Docker's set, denied).
            argv: sh("echo s3cret > /tmp/s && chmod 000 /tmp/s && cat /tmp/s"),
            recorded_with: vec![],
            every_run: vec![],
            stdout: "s3cret\n".into(),
            adds: &["CAP_DAC_OVERRIDE"],
            mounts: &["/tmp"],
        },
        Fixture {
            name: "true",
            argv: vec!["true".into()],
            recorded_with: vec![],
            every_run: vec![],
            stdout: "".into(),
            adds: &[],
            mounts: &[],
        },
        Fixture {
            name: "mmap",
            argv: vec!["/mmap_loop".into(), "1000".into()],
            recorded_with: vec![],
            every_run: vec![format!("--volume={}:/mmap_loop:ro", mmap.display())],
            stdout: "".into(),
            adds: &[],
            mounts: &[],
        },
        Fixture {
            name: "bind-80",
            // busybox httpd binds before it daemonizes: `bound` only after a good bind.
            argv: sh("httpd -p 80 -h / && echo bound"),
            recorded_with: vec![],
            every_run: vec![],
            stdout: "bound\n".into(),
            adds: &[],
            mounts: &[],
        },
    ]
}

fn fixtures_need_what_they_need(d: &mut Dockerd, runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = fixtures(dir.path());
    let out = record_all(d, runtime, &fixtures, false);
    for fx in &fixtures {
        generate_bundle(out.path(), &[fx.name]);
    }
    for fx in &fixtures {
        let report = prove(d, out.path(), runtime, fx, 2);
        assert_proved(fx, &report, 2);
    }
}

#[test]
fn container_fixtures_under_runc_need_exactly_their_capabilities() {
    require!(docker, gcc);
    let mut d = Dockerd::start();
    fixtures_need_what_they_need(&mut d, "runc");
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn container_fixtures_under_crun_need_exactly_their_capabilities() {
    require!(alone: crun, gcc);
    let mut d = Dockerd::start_with_crun();
    fixtures_need_what_they_need(&mut d, "crun");
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}

/// The container workloads of the other end-to-end tests: busybox httpd and wget
/// (`plain_record`), the probe's `late` client (`containers`), the parent test's work and
/// suite (`parent_e2e`). Recorded with `--stress` (`late` three times, its recordings decided
/// together, as the README says for a timing-dependent client), then each proved 10 times
/// with the machine busy, and with each grant left out.
fn workloads_run_10_of_10_under_their_bundles(d: &mut Dockerd, runtime: &str) {
    let probe = crate::common::image::PROBE;
    let mut fixtures = vec![
        Fixture {
            name: "web",
            argv: sh("mkdir -p /tmp/www && echo hi > /tmp/www/index.html && \
                      httpd -p 127.0.0.1:8080 -h /tmp/www && wget -q -O - http://127.0.0.1:8080/"),
            recorded_with: vec![],
            every_run: vec![],
            stdout: "hi\n".into(),
            adds: &[],
            mounts: &["/tmp"],
        },
        Fixture {
            name: "work",
            argv: sh(crate::common::parent_e2e::WORK),
            recorded_with: vec![],
            every_run: vec![],
            stdout: "".into(),
            adds: &[],
            mounts: &[],
        },
    ];
    for run in 1..=3 {
        fixtures.push(Fixture {
            name: ["late-1", "late-2", "late-3"][run - 1],
            argv: vec![probe.into(), "late".into()],
            recorded_with: vec![],
            every_run: vec![],
            stdout: "pong\n".into(),
            adds: &[],
            mounts: &[],
        });
    }
    // WORK's output is what it printed when recorded (the probe's syscalls are its own).
    d.import_test_image();
    let work = d.run(
        &[
            "--rm",
            "--runtime",
            runtime,
            TEST_IMAGE,
            "sh",
            "-c",
            crate::common::parent_e2e::WORK,
        ],
        RUN_TIMEOUT,
    );
    assert!(work.status.success(), "{work}");
    fixtures[1].stdout = work.stdout.clone();
    let out = record_all(d, runtime, &fixtures, true);
    generate_bundle(out.path(), &["web"]);
    generate_bundle(out.path(), &["work"]);
    generate_bundle(out.path(), &["late-1", "late-2", "late-3"]);
    let _busy = common::Busy::start();
    for fx in fixtures.iter().take(3) {
        let report = prove(d, out.path(), runtime, fx, 10);
        assert_proved(fx, &report, 10);
        assert_grants_needed(fx, &report, 10);
    }
}

/// 10/10 runs like the reference, and every grant leave-one-out took away was needed.
fn assert_grants_needed(fx: &Fixture, report: &Value, runs: u32) {
    assert_eq!(report["reference"]["stdout"], fx.stdout, "{}", fx.name);
    assert_eq!(report["matched"], runs, "{}: {report:#}", fx.name);
    // Absent when the bundle grants nothing.
    for n in report["leave_one_out"].as_array().into_iter().flatten() {
        assert_eq!(n["needed"], true, "{}: {n:#}", fx.name);
    }
    eprintln!(
        "{}: {runs}/{runs}; added {}, mounts {}, user {}",
        fx.name, report["added"], report["read_only_mounts"], report["user"]
    );
}

#[test]
fn container_workloads_under_runc_run_10_of_10_under_their_bundles_on_a_busy_machine() {
    require!(docker);
    let mut d = Dockerd::start();
    workloads_run_10_of_10_under_their_bundles(&mut d, "runc");
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn container_workloads_under_crun_run_10_of_10_under_their_bundles_on_a_busy_machine() {
    require!(alone: crun);
    let mut d = Dockerd::start_with_crun();
    workloads_run_10_of_10_under_their_bundles(&mut d, "crun");
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}
