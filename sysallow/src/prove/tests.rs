use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use sysallow_profile::Abi;
use sysallow_profile::hardening::{self, Bundle, Options};
use sysallow_profile::privileges::{CapCheck, CapNamespace, Privileges, RootFs, RootWrite};
use sysallow_profile::recording::{Recording, Target};

use super::*;

fn check(cap: &str, syscall: &str) -> CapCheck {
    CapCheck {
        capability: cap.to_owned(),
        granted: true,
        namespace: CapNamespace::Own,
        override_creds: false,
        noaudit: None,
        syscall: Some((Abi::X86_64, syscall.to_owned())),
        program: "/bin/busybox".to_owned(),
        count: 1,
    }
}

/// A container that chowned a file and bound a raw socket, and wrote under /run and in a
/// file /etc ships.
fn bundle() -> Bundle {
    let mut rec = Recording::new(
        Target::Container {
            id: "a".repeat(64),
            name: Some("web".to_owned()),
            engine: None,
            runtime: None,
            no_new_privileges: false,
            cgroup: "x".to_owned(),
        },
        crate::host::describe(),
        "2026-12-03T00:00:00Z".to_owned(),
    );
    rec.privileges = Some(Privileges {
        hook: "tp_btf/cap_capable".to_owned(),
        sees_noaudit: false,
        checks: vec![
            check("CAP_CHOWN", "fchownat"),
            check("CAP_FOWNER", "fchmodat"),
        ],
        privileged_execs: Vec::new(),
        euids: BTreeSet::from([0]),
        egids: BTreeSet::from([0]),
        root_fs: Some(RootFs {
            writes: vec![
                RootWrite {
                    path: "/run/app.pid".to_owned(),
                    in_image: false,
                    dir: false,
                },
                RootWrite {
                    path: "/etc/app/app.conf".to_owned(),
                    in_image: true,
                    dir: false,
                },
            ],
            image_entries: BTreeMap::from([("/run".to_owned(), 0), ("/etc/app".to_owned(), 1)]),
        }),
    });
    let h = hardening::decide(&[rec], &Options::default()).unwrap();
    Bundle::new(h, "container web".to_owned(), &Options::default())
}

fn observed(status: i32, stdout: &str, stderr: &str) -> Observed {
    Observed {
        status: Some(status),
        signal: None,
        timed_out: false,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
    }
}

#[test]
fn a_difference_names_the_ending_and_the_first_differing_line() {
    let reference = observed(0, "a\nb\n", "");
    assert_eq!(observed(0, "a\nb\n", "").difference(&reference), None);
    let d = observed(1, "a\n", "chown: x: Operation not permitted\n")
        .difference(&reference)
        .unwrap();
    assert!(d.starts_with("exit 1 instead of exit 0"), "{d}");
    assert!(
        d.contains("stdout line 2: (nothing) instead of \"b\""),
        "{d}"
    );
    assert!(
        d.contains("stderr line 1: \"chown: x: Operation not permitted\" instead of (nothing)"),
        "{d}"
    );
    let mut timed_out = observed(0, "a\nb\n", "");
    timed_out.status = None;
    timed_out.signal = Some(9);
    timed_out.timed_out = true;
    assert_eq!(
        timed_out.difference(&reference).unwrap(),
        "timed out instead of exit 0"
    );
}

#[test]
fn grants_are_the_added_capabilities_then_the_mounts_and_variants_take_one_away() {
    let b = bundle();
    assert_eq!(b.added(), ["CAP_CHOWN", "CAP_FOWNER"]);
    assert!(b.read_only.read_only(), "{:?}", b.read_only);
    let g = grants(&b);
    assert_eq!(
        g,
        [
            Variant::Capability("CAP_CHOWN".to_owned()),
            Variant::Capability("CAP_FOWNER".to_owned()),
            Variant::Mount("/etc/app".to_owned()),
            Variant::Mount("/run".to_owned()),
        ]
    );
    let without = g[0].apply(&b);
    assert_eq!(without.added(), ["CAP_FOWNER"]);
    assert_eq!(without.read_only, b.read_only);
    let without = g[3].apply(&b);
    assert_eq!(without.added(), b.added());
    assert_eq!(without.read_only.mounts.len(), 1);
    assert_eq!(Variant::Full.apply(&b), b);
}

#[test]
fn docker_flags_are_the_bundles_with_volumes_made_anonymous() {
    let b = bundle();
    let flags = docker::flags(&b);
    let line = flags.join(" ");
    assert!(
        line.starts_with("--cap-drop ALL --cap-add CHOWN --cap-add FOWNER"),
        "{line}"
    );
    assert!(line.contains("--read-only"), "{line}");
    assert!(line.contains("--tmpfs /run"), "{line}");
    // The bundle's own line names the volume; the proof's is anonymous.
    let bundles = hardening::output::docker_args(&b, hardening::output::DockerForm::DropAll);
    assert!(
        bundles.iter().any(|a| a.ends_with(":/etc/app")),
        "{bundles:?}"
    );
    assert!(line.contains("--volume /etc/app"), "{line}");
    assert!(!flags.iter().any(|a| a.ends_with(":/etc/app")), "{line}");
}

/// A workload that prints "ok" only when it holds CAP_CHOWN and its /run mount; FOWNER it
/// never needs.
struct Fake {
    runs: Cell<u32>,
}

impl Runner for Fake {
    fn describe(&self) -> String {
        "fake".to_owned()
    }
    fn reference(&self) -> Result<Observed, ProveError> {
        Ok(observed(0, "ok\n", ""))
    }
    fn confined(&self, bundle: &Bundle) -> Result<Observed, ProveError> {
        self.runs.set(self.runs.get() + 1);
        let chown = bundle.added().contains(&"CAP_CHOWN");
        let run = bundle.read_only.covered("/run/app.pid");
        Ok(if chown && run {
            observed(0, "ok\n", "")
        } else {
            observed(1, "", "denied\n")
        })
    }
    fn not_applied(&self, _: &Bundle) -> Vec<String> {
        Vec::new()
    }
}

#[test]
fn prove_counts_matching_runs_and_leave_one_out_finds_what_is_needed() {
    let fake = Fake { runs: Cell::new(0) };
    let lines = std::cell::RefCell::new(Vec::new());
    let report = prove(&fake, &bundle(), 3, true, &|l| {
        lines.borrow_mut().push(l.to_owned())
    })
    .unwrap();
    assert!(report.proved());
    assert_eq!((report.matched, report.runs.len()), (3, 3));
    // 3 runs + one per grant.
    assert_eq!(fake.runs.get(), 3 + 4);
    let needed: Vec<(String, bool)> = report
        .leave_one_out
        .iter()
        .map(|n| (n.variant.describe(), n.needed))
        .collect();
    assert_eq!(
        needed,
        [
            ("without CAP_CHOWN".to_owned(), true),
            ("without CAP_FOWNER".to_owned(), false),
            ("without the mount on /etc/app".to_owned(), false),
            ("without the mount on /run".to_owned(), true),
        ]
    );
    let lines = lines.into_inner();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("without CAP_FOWNER: not shown to be needed")),
        "{lines:?}"
    );
    // Without leave-one-out: only the runs.
    let fake = Fake { runs: Cell::new(0) };
    let report = prove(&fake, &bundle(), 2, false, &|_| {}).unwrap();
    assert!(report.leave_one_out.is_empty());
    assert_eq!(fake.runs.get(), 2);
}

#[test]
fn a_run_that_differs_is_not_proved() {
    struct Flaky(Cell<u32>);
    impl Runner for Flaky {
        fn describe(&self) -> String {
            "flaky".to_owned()
        }
        fn reference(&self) -> Result<Observed, ProveError> {
            Ok(observed(0, "ok\n", ""))
        }
        fn confined(&self, _: &Bundle) -> Result<Observed, ProveError> {
            self.0.set(self.0.get() + 1);
            Ok(if self.0.get() == 2 {
                observed(0, "other\n", "")
            } else {
                observed(0, "ok\n", "")
            })
        }
        fn not_applied(&self, _: &Bundle) -> Vec<String> {
            Vec::new()
        }
    }
    let report = prove(&Flaky(Cell::new(0)), &bundle(), 3, false, &|_| {}).unwrap();
    assert!(!report.proved());
    assert_eq!(report.matched, 2);
    assert!(
        report.runs[1]
            .difference
            .as_deref()
            .is_some_and(|d| d.contains("stdout line 1: \"other\" instead of \"ok\""))
    );
}
