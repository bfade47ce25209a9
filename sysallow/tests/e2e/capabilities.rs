//! Root tests of what `record` keeps of capability checks and privileged execs
//! (`Recording.privileges`, issue 19): commands whose checks are known (CAPABILITIES.md,
//! measured here), and containers whose runtime's own checks must stay out.

use crate::common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use sysallow_profile::Recording;
use sysallow_profile::privileges::{CapCheck, CapNamespace, Privileges};

use crate::common::docker::Dockerd;
use crate::common::parent_e2e::RUN_TIMEOUT;
use crate::common::recorder::{Recorder, read_recording};

/// The hooks `record` may choose (`sysallow_common::caps::hooks`).
const FEXIT: &str = "fexit/cap_capable";
const TP_BTF: &str = "tp_btf/cap_capable";

/// A directory nobody can enter and read (the commands run as nobody in some tests).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `sysallow record FLAGS --recording rec.json -- ARGV` in `dir`, whatever the command's exit.
fn record(dir: &Path, flags: &[&str], argv: &[&str]) -> (Recording, Output) {
    let rec = dir.join("rec.json");
    let out = common::sysallow()
        .arg("record")
        .args(flags)
        .arg("--recording")
        .arg(&rec)
        .arg("--")
        .args(argv)
        .current_dir(dir)
        .output()
        .expect("running sysallow record");
    assert!(rec.exists(), "no recording: {}", common::stderr(&out));
    (read_recording(&rec), out)
}

/// The privileges of a recording made with capabilities on, checked for what every such
/// recording says: the hook, and the line `record` said it in.
fn privileges(rec: &Recording, out: &Output) -> Privileges {
    let p = rec
        .privileges
        .clone()
        .unwrap_or_else(|| panic!("no privileges recorded: {}", common::stderr(out)));
    assert!(
        p.hook == FEXIT || p.hook == TP_BTF,
        "unknown hook {:?}",
        p.hook
    );
    // Only fexit has the caller's opts.
    assert_eq!(p.sees_noaudit, p.hook == FEXIT);
    let said = format!("capability checks seen by {}", p.hook);
    assert!(
        common::stderr(out).contains(&said),
        "{}",
        common::stderr(out)
    );
    assert_eq!(rec.losses.privileges_full, 0);
    p
}

fn show(checks: &[CapCheck]) -> String {
    checks
        .iter()
        .map(|c| {
            format!(
                "{} {} {:?} {:?} {} x{}",
                c.capability,
                if c.granted { "granted" } else { "denied" },
                c.namespace,
                c.syscall.as_ref().map(|(_, s)| s.as_str()),
                c.program,
                c.count
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn syscall(check: &CapCheck) -> Option<&str> {
    check.syscall.as_ref().map(|(_, name)| name.as_str())
}

/// Checks of `cap` (granted or denied as `granted`) made by a program named `program`.
fn find<'a>(p: &'a Privileges, cap: &str, granted: bool, program: &str) -> Vec<&'a CapCheck> {
    p.checks
        .iter()
        .filter(|c| {
            c.capability == cap
                && c.granted == granted
                && c.program.ends_with(&format!("/{program}"))
        })
        .collect()
}

/// The advisory CAP_SYS_ADMIN check the kernel makes on every accountable mapping
/// (`cap_vm_enough_memory`): NOAUDIT where the hook says, else made in mmap, brk or the
/// exec that maps the new program.
fn is_advisory(c: &CapCheck) -> bool {
    c.capability == "CAP_SYS_ADMIN"
        && match c.noaudit {
            Some(noaudit) => noaudit,
            None => matches!(syscall(c), Some("mmap" | "brk" | "execve" | "munmap")),
        }
}

#[test]
fn chown_as_root_is_a_granted_chown_check_in_its_own_namespace() {
    require!(root);
    let dir = open_tempdir();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let (rec, out) = record(dir.path(), &[], &["chown", "1:1", "f"]);
    common::assert_success(&out);
    let p = privileges(&rec, &out);
    let chown = find(&p, "CAP_CHOWN", true, "chown");
    assert!(!chown.is_empty(), "{}", show(&p.checks));
    for c in chown {
        assert_eq!(c.namespace, CapNamespace::Own, "{}", show(&p.checks));
        assert!(!c.override_creds);
        assert!(
            matches!(syscall(c), Some("fchownat" | "chown" | "lchown" | "fchown")),
            "{}",
            show(&p.checks)
        );
    }
    assert!(p.euids.contains(&0), "{:?}", p.euids);
}

#[test]
fn nice_as_nobody_is_a_denied_sys_nice_check_and_nothing_is_granted() {
    require!(root);
    let dir = open_tempdir();
    let (rec, out) = record(
        dir.path(),
        &["--user", "nobody"],
        &["nice", "-n", "-5", "true"],
    );
    let p = privileges(&rec, &out);
    let nice = find(&p, "CAP_SYS_NICE", false, "nice");
    assert!(!nice.is_empty(), "{}", show(&p.checks));
    assert!(nice.iter().all(|c| syscall(c) == Some("setpriority")));
    assert!(
        p.checks.iter().all(|c| !c.granted),
        "nobody was granted something:\n{}",
        show(&p.checks)
    );
    assert_eq!(p.euids.iter().copied().collect::<Vec<_>>(), [65534]);
}

#[test]
fn reading_a_mode_000_file_of_another_user_as_root_is_a_granted_dac_check() {
    require!(root);
    let dir = open_tempdir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::os::unix::fs::chown(&secret, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let (rec, out) = record(dir.path(), &[], &["cat", "secret"]);
    common::assert_success(&out);
    assert_eq!(common::stdout(&out), "s3cret\n");
    let p = privileges(&rec, &out);
    let dac: Vec<_> = ["CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE"]
        .iter()
        .flat_map(|cap| find(&p, cap, true, "cat"))
        .collect();
    assert!(!dac.is_empty(), "{}", show(&p.checks));
    assert!(
        dac.iter()
            .all(|c| syscall(c) == Some("openat") && c.namespace == CapNamespace::Own),
        "{}",
        show(&p.checks)
    );
}

#[test]
fn true_and_an_mmap_loop_make_only_advisory_sys_admin_checks() {
    require!(root, gcc);
    let dir = open_tempdir();
    let (rec, out) = record(dir.path(), &[], &["true"]);
    common::assert_success(&out);
    let p = privileges(&rec, &out);
    assert!(!p.checks.is_empty(), "true made no check at all?");
    assert!(p.checks.iter().all(is_advisory), "{}", show(&p.checks));

    let exe = common::compile_workload(dir.path(), "mmap_loop", &[]);
    let exe = exe.to_str().unwrap();
    let (rec, out) = record(dir.path(), &[], &[exe, "1000"]);
    common::assert_success(&out);
    let p = privileges(&rec, &out);
    assert!(p.checks.iter().all(is_advisory), "{}", show(&p.checks));
    let in_mmap: u64 = p
        .checks
        .iter()
        .filter(|c| c.program == exe && syscall(c) == Some("mmap"))
        .map(|c| c.count)
        .sum();
    // One per accountable mapping: the loop's 1000, and the loader's few.
    assert!(
        (1000..1100).contains(&in_mmap),
        "{in_mmap} checks in mmap:\n{}",
        show(&p.checks)
    );
}

#[test]
fn a_path_search_through_root_only_directories_as_nobody_is_only_denials() {
    require!(root);
    let dir = open_tempdir();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = format!("PATH={}:/usr/bin:/bin", locked.display());
    let (rec, out) = record(dir.path(), &["--user", "nobody"], &["env", &path, "true"]);
    common::assert_success(&out);
    let p = privileges(&rec, &out);
    let dac: Vec<_> = ["CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE"]
        .iter()
        .flat_map(|cap| find(&p, cap, false, "env"))
        .collect();
    assert!(!dac.is_empty(), "{}", show(&p.checks));
    assert!(p.checks.iter().all(|c| !c.granted), "{}", show(&p.checks));
}

#[test]
fn a_tmpfs_mount_after_unshare_ur_is_granted_in_a_child_namespace() {
    require!(root, program("unshare", "util-linux"));
    let dir = open_tempdir();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let (rec, out) = record(
        dir.path(),
        &[],
        &[
            "unshare",
            "-Urm",
            "mount",
            "-t",
            "tmpfs",
            "none",
            mnt.to_str().unwrap(),
        ],
    );
    common::assert_success(&out);
    let p = privileges(&rec, &out);
    let mount = find(&p, "CAP_SYS_ADMIN", true, "mount");
    let in_mount: Vec<_> = mount
        .iter()
        .filter(|c| syscall(c) == Some("mount"))
        .collect();
    assert!(!in_mount.is_empty(), "{}", show(&p.checks));
    assert!(
        in_mount.iter().all(|c| c.namespace == CapNamespace::Child),
        "{}",
        show(&p.checks)
    );
    // Nothing the workload did in its own namespace was more than advisory.
    assert!(
        p.checks
            .iter()
            .filter(|c| c.granted && c.namespace == CapNamespace::Own)
            .all(is_advisory),
        "{}",
        show(&p.checks)
    );
}

/// perl's one-liner that binds 127.0.0.1:80 and says so.
const BIND_80: &str = "use IO::Socket::INET; IO::Socket::INET->new(LocalAddr => '127.0.0.1', \
                       LocalPort => 80, Listen => 1, ReuseAddr => 1) or die \"bind: $!\\n\"; \
                       print \"bound\\n\"";

/// Record binding port 80 in a fresh network namespace whose `ip_unprivileged_port_start` is
/// set to `start` (and read back).
fn bind_80_in_a_netns(dir: &Path, start: u32) -> Privileges {
    let script = format!(
        "echo {start} > /proc/sys/net/ipv4/ip_unprivileged_port_start && \
         cat /proc/sys/net/ipv4/ip_unprivileged_port_start && ip link set lo up && \
         exec perl -e \"$BIND\""
    );
    let out = common::sysallow()
        .args(["record", "--recording", "rec.json", "--"])
        .args(["unshare", "-n", "sh", "-c", &script])
        .env("BIND", BIND_80)
        .current_dir(dir)
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_eq!(common::stdout(&out), format!("{start}\nbound\n"));
    let rec = read_recording(&dir.join("rec.json"));
    privileges(&rec, &out)
}

#[test]
fn binding_port_80_checks_net_bind_service_only_below_the_unprivileged_start() {
    require!(root, program("perl", "perl"), program("ip", "iproute2"));
    let dir = open_tempdir();
    let p = bind_80_in_a_netns(dir.path(), 1024);
    let bind = find(&p, "CAP_NET_BIND_SERVICE", true, "perl");
    assert!(!bind.is_empty(), "{}", show(&p.checks));
    assert!(bind.iter().all(|c| syscall(c) == Some("bind")));

    // Docker's setting: no check at all.
    let p = bind_80_in_a_netns(dir.path(), 0);
    assert!(
        p.checks
            .iter()
            .all(|c| c.capability != "CAP_NET_BIND_SERVICE"),
        "{}",
        show(&p.checks)
    );
}

#[test]
fn a_binary_with_file_capabilities_run_as_nobody_is_a_privileged_exec() {
    require!(
        root,
        program("setcap", "libcap2-bin"),
        program("perl", "perl")
    );
    let dir = open_tempdir();
    let exe = dir.path().join("perl-bind");
    std::fs::copy(common::which("perl"), &exe).unwrap();
    let setcap = Command::new("setcap")
        .arg("cap_net_bind_service+ep")
        .arg(&exe)
        .output()
        .unwrap();
    common::assert_success(&setcap);
    let exe_str = exe.to_str().unwrap();
    let (rec, out) = record(dir.path(), &["--user", "nobody"], &[exe_str, "-e", BIND_80]);
    let p = privileges(&rec, &out);
    let execs: Vec<_> = p
        .privileged_execs
        .iter()
        .filter(|e| e.program == exe_str)
        .collect();
    assert_eq!(execs.len(), 1, "{:?}", p.privileged_execs);
    assert_eq!(execs[0].file_caps, ["CAP_NET_BIND_SERVICE"]);
    assert!(!execs[0].setuid && !execs[0].setgid);
    assert_eq!(execs[0].count, 1);
    // Where the host checks for port 80 at all, the file's capability is what granted it.
    let start: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if start > 80 {
        common::assert_success(&out);
        assert!(
            !find(&p, "CAP_NET_BIND_SERVICE", true, "perl-bind").is_empty(),
            "{}",
            show(&p.checks)
        );
    }
}

#[test]
fn a_setuid_copy_run_as_nobody_is_a_privileged_exec_and_a_plain_copy_is_not() {
    require!(root);
    let dir = open_tempdir();
    let id = common::which("id");
    let suid = dir.path().join("id-suid");
    let plain = dir.path().join("id-plain");
    for copy in [&suid, &plain] {
        std::fs::copy(&id, copy).unwrap();
    }
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let script = format!("{} -u; {} -u", suid.display(), plain.display());
    let (rec, out) = record(dir.path(), &["--user", "nobody"], &["sh", "-c", &script]);
    common::assert_success(&out);
    assert_eq!(common::stdout(&out), "0\n65534\n");
    let p = privileges(&rec, &out);
    let suid = suid.to_str().unwrap();
    assert_eq!(
        p.privileged_execs
            .iter()
            .map(|e| (e.program.as_str(), e.setuid, e.setgid, e.count))
            .collect::<Vec<_>>(),
        [(suid, true, false, 1)],
        "{:?}",
        p.privileged_execs
    );
    assert!(
        p.euids.contains(&0) && p.euids.contains(&65534),
        "{:?}",
        p.euids
    );
}

#[test]
fn no_capabilities_records_no_privileges() {
    require!(root);
    let dir = open_tempdir();
    let (rec, out) = record(dir.path(), &["--no-capabilities"], &["true"]);
    common::assert_success(&out);
    assert_eq!(rec.privileges, None);
    assert!(!common::stderr(&out).contains("capability checks"));
    // The syscalls are recorded all the same.
    assert!(!rec.abis.is_empty());
}

/// `docker run IMAGE true` under `runtime`, recorded under an armed parent: the runtime's
/// capset, setgroups and mounts happen before the boundary, so the workload's checks are at
/// most the advisory CAP_SYS_ADMIN ones of `true` itself.
fn docker_true_has_no_runtime_checks(d: &mut Dockerd, runtime: &str) {
    let image = d.import_test_image();
    let out = tempfile::tempdir().unwrap();
    let parent = format!("sysallow-caps-{runtime}-{}", std::process::id());
    d.remove_cgroup_on_stop(&parent);
    let recorder = Recorder::start(
        d,
        &[
            "--cgroup-parent",
            &parent,
            "-o",
            out.path().to_str().unwrap(),
        ],
    );
    let run = d.run(
        &[
            "--rm",
            "--name",
            "caps-true",
            "--runtime",
            runtime,
            &format!("--cgroup-parent=/{parent}"),
            &image,
            "true",
        ],
        RUN_TIMEOUT,
    );
    assert!(run.status.success(), "{run}");
    assert!(recorder.interrupt().success());
    let rec = read_recording(&out.path().join("caps-true.rec.json"));
    assert_eq!(rec.losses.nonzero(), vec![]);
    let p = rec.privileges.clone().expect("privileges recorded");
    // The hook saw the container: `true`'s own mappings were checked.
    assert!(!p.checks.is_empty(), "no check seen in the container");
    assert!(
        p.checks.iter().all(is_advisory),
        "{runtime}: the runtime's set-up leaked in:\n{}",
        show(&p.checks)
    );
    for c in &p.checks {
        assert!(
            !matches!(
                syscall(c),
                Some("capset" | "setgroups" | "mount" | "prctl" | "setuid" | "setgid")
            ),
            "{runtime}: {}",
            show(&p.checks)
        );
    }
}

#[test]
fn docker_run_true_under_runc_records_no_check_of_the_runtime() {
    require!(docker);
    let mut d = Dockerd::start();
    docker_true_has_no_runtime_checks(&mut d, "runc");
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn docker_run_true_under_crun_records_no_check_of_the_runtime() {
    require!(alone: crun);
    let mut d = Dockerd::start_with_crun();
    docker_true_has_no_runtime_checks(&mut d, "crun");
    let problems = d.stop();
    assert!(problems.is_empty(), "{problems:?}");
}
