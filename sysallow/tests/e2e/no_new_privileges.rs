//! no-new-privileges decided from a recording, and checked by running (issue 19's "a setuid
//! fixture is reported as not fitting no-new-privileges, and behaves differently under it").
//!
//! A setuid-root copy of `id` run as nobody is recorded, its bundle generated; the bundle must
//! leave no-new-privileges off and name the setuid exec as the reason. Then the copy is run as
//! nobody with and without no_new_privs (`setpriv`, util-linux): without it the exec raises
//! the effective uid to 0, as recorded; under it the setuid bit is ignored and the uid stays
//! nobody's. A plain copy is the control: its bundle sets no-new-privileges, and it prints the
//! same either way.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sysallow_profile::hardening::Bundle;

use crate::common;

const NOBODY: &str = "65534";

/// A directory nobody can enter (the copies run as nobody), with a setuid-root and a plain
/// copy of `id`.
struct Fixture {
    dir: tempfile::TempDir,
    suid: PathBuf,
    plain: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let id = common::which("id");
        let suid = dir.path().join("id-suid");
        let plain = dir.path().join("id-plain");
        for copy in [&suid, &plain] {
            std::fs::copy(&id, copy).unwrap();
        }
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        Fixture { dir, suid, plain }
    }
}

/// What `generate --bundle` wrote for one recording.
struct Generated {
    bundle: Bundle,
    docker: String,
    systemd: String,
    kubernetes: String,
}

/// `record --user nobody -- sh -c "PROGRAM -u"` (the exec of PROGRAM is after the
/// boundary, the shell's own exec), then `generate --bundle`. Returns what the command printed
/// when recorded, and the bundle.
fn record_and_generate(dir: &Path, name: &str, program: &Path) -> (String, Generated) {
    let rec = dir.join(format!("{name}.rec.json"));
    let out = common::sysallow()
        .args(["record", "--user", "nobody", "--recording"])
        .arg(&rec)
        .arg("--")
        .args(["sh", "-c", &format!("{} -u", program.display())])
        .current_dir(dir)
        .output()
        .unwrap();
    common::assert_success(&out);
    let printed = common::stdout(&out);
    let bundle_dir = dir.join(format!("{name}.bundle"));
    let g = common::sysallow()
        .arg("generate")
        .arg(&rec)
        .arg("-o")
        .arg(dir.join(format!("{name}.json")))
        .arg("--bundle")
        .arg(&bundle_dir)
        .output()
        .unwrap();
    common::assert_success(&g);
    let read = |file: &str| std::fs::read_to_string(bundle_dir.join(file)).unwrap();
    let bundle = Bundle::from_json(&read("bundle.json")).unwrap();
    (
        printed,
        Generated {
            bundle,
            docker: read("docker.sh"),
            systemd: read("systemd.conf"),
            kubernetes: read("kubernetes.yaml"),
        },
    )
}

/// `PROGRAM -u` run as nobody, under no_new_privs or not: what it printed.
fn euid_as_nobody(program: &Path, no_new_privs: bool) -> String {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ]);
    if no_new_privs {
        cmd.arg("--no-new-privs");
    }
    let out = cmd.arg(program).arg("-u").output().unwrap();
    common::assert_success(&out);
    common::stdout(&out)
}

/// The process's own no_new_privs flag as setpriv leaves it (a check that the flag is what
/// the runs above differ by, not something else setpriv does).
fn no_new_privs_flag(no_new_privs: bool) -> String {
    let mut cmd = Command::new("setpriv");
    cmd.args([&format!("--reuid={NOBODY}"), "--clear-groups"]);
    if no_new_privs {
        cmd.arg("--no-new-privs");
    }
    let out = cmd
        .args(["sh", "-c", "grep NoNewPrivs: /proc/self/status"])
        .output()
        .unwrap();
    common::assert_success(&out);
    common::stdout(&out)
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn a_setuid_fixture_does_not_fit_no_new_privileges_and_behaves_differently_under_it() {
    require!(root, program("setpriv", "util-linux"));
    let fx = Fixture::new();
    let (printed, g) = record_and_generate(fx.dir.path(), "suid", &fx.suid);
    // Recorded as nobody, the setuid exec made it root.
    assert_eq!(printed, "0\n");

    let nnp = &g.bundle.no_new_privileges;
    assert!(!nnp.fits, "{nnp:#?}");
    let suid = fx.suid.to_str().unwrap();
    assert!(
        nnp.reason.contains(&format!("{suid} is setuid")),
        "the reason does not name the setuid exec: {}",
        nnp.reason
    );
    assert_eq!(
        nnp.blocking
            .iter()
            .map(|e| (e.program.as_str(), e.setuid, e.setgid))
            .collect::<Vec<_>>(),
        [(suid, true, false)],
        "{nnp:#?}"
    );
    // Every output leaves it off.
    assert!(!g.docker.contains("no-new-privileges"), "{}", g.docker);
    assert!(g.systemd.contains("NoNewPrivileges=no\n"), "{}", g.systemd);
    assert!(
        g.kubernetes.contains("allowPrivilegeEscalation: true"),
        "{}",
        g.kubernetes
    );

    // Run as the bundle says (no_new_privs off): as recorded. Under no_new_privs the setuid
    // bit is ignored: the effective uid stays the caller's.
    assert_eq!(no_new_privs_flag(false), "0");
    assert_eq!(no_new_privs_flag(true), "1");
    assert_eq!(
        euid_as_nobody(&fx.suid, g.bundle.no_new_privileges()),
        printed
    );
    assert_eq!(euid_as_nobody(&fx.suid, true), format!("{NOBODY}\n"));
}

#[test]
fn a_plain_fixture_fits_no_new_privileges_and_behaves_the_same_under_it() {
    require!(root, program("setpriv", "util-linux"));
    let fx = Fixture::new();
    let (printed, g) = record_and_generate(fx.dir.path(), "plain", &fx.plain);
    assert_eq!(printed, format!("{NOBODY}\n"));

    let nnp = &g.bundle.no_new_privileges;
    assert!(nnp.fits, "{nnp:#?}");
    assert!(nnp.blocking.is_empty(), "{nnp:#?}");
    assert!(
        nnp.reason
            .contains("no exec after the boundary raised privileges"),
        "{}",
        nnp.reason
    );
    assert!(
        g.docker.contains("--security-opt no-new-privileges"),
        "{}",
        g.docker
    );
    assert!(g.systemd.contains("NoNewPrivileges=yes\n"), "{}", g.systemd);
    assert!(
        g.kubernetes.contains("allowPrivilegeEscalation: false"),
        "{}",
        g.kubernetes
    );

    // Under the bundle (no_new_privs on) as without it: what was recorded.
    assert_eq!(
        euid_as_nobody(&fx.plain, g.bundle.no_new_privileges()),
        printed
    );
    assert_eq!(euid_as_nobody(&fx.plain, false), printed);
}
