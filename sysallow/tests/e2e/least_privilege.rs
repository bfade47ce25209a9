//! Least privilege (root, issue 13): `record` works with exactly its documented capability
//! set (README, "Least privilege"), fails naming what is missing with one capability less, and
//! under sudo writes only what the invoking user could have written themselves.

use crate::common;

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Output;

/// The user sudo was invoked by, in these tests.
const NOBODY: &str = "65534";

/// `sysallow record -o out.json -- ARGV` in `dir` with only `caps` (setpriv's names) in the
/// bounding set, as the user who ran sudo when `sudo` is set.
fn record_with(dir: &Path, caps: &[&str], sudo: bool, output: &str, argv: &[&str]) -> Output {
    let bounding = std::iter::once("-all".to_owned())
        .chain(caps.iter().map(|c| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.arg(format!("--bounding-set={bounding}"))
        .arg("--inh-caps=-all")
        .arg("--")
        .arg(common::sysallow_path())
        .args(["record", "-o", output, "--"])
        .args(argv)
        .current_dir(dir);
    if sudo {
        cmd.env("SUDO_UID", NOBODY).env("SUDO_GID", NOBODY);
    } else {
        cmd.env_remove("SUDO_UID").env_remove("SUDO_GID");
    }
    cmd.output().expect("running setpriv")
}

/// The set README documents for `record -- CMD` run as root, and what sudo adds.
const AS_ROOT: [&str; 3] = ["bpf", "perfmon", "dac_override"];
const UNDER_SUDO: [&str; 3] = ["setuid", "setgid", "chown"];

#[test]
fn record_works_with_exactly_its_documented_capabilities_and_names_a_missing_one() {
    require!(root, program("setpriv", "util-linux"));
    let dir = tempfile::tempdir().unwrap();
    // tracefs mounted (the only thing CAP_SYS_ADMIN is for), as any earlier recording leaves it.
    common::record_in(dir.path(), &[], &["true"]);
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();

    let out = record_with(dir.path(), &AS_ROOT, false, "root.json", &["true"]);
    common::assert_success(&out);
    assert!(
        common::recorder::profile_names(&dir.path().join("root.json"))
            .contains(&"execve".to_owned())
    );
    let all: Vec<&str> = AS_ROOT.iter().chain(&UNDER_SUDO).copied().collect();
    let out = record_with(dir.path(), &all, true, "mine.json", &["id", "-u"]);
    common::assert_success(&out);
    assert_eq!(
        common::stdout(&out).trim(),
        NOBODY,
        "the command ran as the sudo user"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("mine.json"))
            .unwrap()
            .uid()
            .to_string(),
        NOBODY
    );

    // One capability less: a clear refusal that names it, and nothing written.
    for (missing, sudo, expected) in [
        ("bpf", false, "CAP_BPF and CAP_PERFMON"),
        ("perfmon", false, "CAP_BPF and CAP_PERFMON"),
        (
            "dac_override",
            false,
            "CAP_DAC_OVERRIDE to create its cgroup",
        ),
        (
            "setuid",
            true,
            "CAP_SETUID to run the command as the user who ran sudo",
        ),
        (
            "setgid",
            true,
            "CAP_SETGID to run the command as the user who ran sudo",
        ),
        (
            "chown",
            true,
            "CAP_CHOWN to give the outputs to the user who ran sudo",
        ),
    ] {
        let set = if sudo { &all[..] } else { &AS_ROOT[..] };
        let less: Vec<&str> = set.iter().copied().filter(|c| *c != missing).collect();
        let file = format!("without-{missing}.json");
        let out = record_with(dir.path(), &less, sudo, &file, &["true"]);
        let stderr = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "without {missing}: {stderr}");
        assert!(stderr.contains(expected), "without {missing}: {stderr}");
        assert!(
            !dir.path().join(&file).exists(),
            "without {missing}: {file} written"
        );
    }
}

#[test]
fn under_sudo_nothing_is_written_through_a_symlink_to_what_the_user_could_not_write() {
    require!(root, program("setpriv", "util-linux"));
    let root = tempfile::tempdir().unwrap();
    // Reachable by the user, as a home directory is.
    std::fs::set_permissions(
        root.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let home = root.path().join("home");
    let guarded = root.path().join("guarded");
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&guarded).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    let secret = root.path().join("root-owned");
    std::fs::write(&secret, "root's\n").unwrap();
    // The user plants: a symlink to a root-owned file, and one to a root-owned directory.
    std::os::unix::fs::symlink(&secret, home.join("out.json")).unwrap();
    std::os::unix::fs::symlink(&guarded, home.join("dir")).unwrap();
    let all: Vec<&str> = AS_ROOT.iter().chain(&UNDER_SUDO).copied().collect();

    for output in ["out.json", "dir/new.json"] {
        let out = record_with(&home, &all, true, output, &["true"]);
        let stderr = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{output}: {stderr}");
        assert!(
            stderr.contains("which uid 65534 (who ran sudo) may not write"),
            "{output}: {stderr}"
        );
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's\n");
    assert!(
        std::fs::symlink_metadata(home.join("out.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_dir(&guarded).unwrap().count(),
        0,
        "written in the guarded dir"
    );

    // A --cgroup-parent's output directory is created as the user would: theirs, and not in a
    // directory they may not write.
    for (dir, ok) in [("parent-out", true), ("dir/parent-out", false)] {
        let out = std::process::Command::new(common::sysallow_path())
            .args(["record", "--cgroup-parent"])
            .arg(format!("sysallow-lp-{}", std::process::id()))
            .args(["-o", dir, "--duration", "0.3"])
            .env("SUDO_UID", NOBODY)
            .env("SUDO_GID", NOBODY)
            .current_dir(&home)
            .output()
            .unwrap();
        assert_eq!(out.status.success(), ok, "{dir}: {}", common::stderr(&out));
        let made = home.join(dir);
        if ok {
            assert_eq!(std::fs::metadata(&made).unwrap().uid().to_string(), NOBODY);
        } else {
            assert!(!made.exists(), "{} created", made.display());
        }
    }

    // A symlink to the user's own file is written through, and the file stays theirs.
    std::fs::write(home.join("mine.json"), "").unwrap();
    std::os::unix::fs::chown(home.join("mine.json"), Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::symlink("mine.json", home.join("alias.json")).unwrap();
    let out = record_with(&home, &all, true, "alias.json", &["true"]);
    common::assert_success(&out);
    let mine = std::fs::metadata(home.join("mine.json")).unwrap();
    assert!(mine.len() > 0 && mine.uid() == 65534);
    assert!(
        std::fs::symlink_metadata(home.join("alias.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
