//! The test image every container engine runs: busybox-static with its applets and the probe
//! program (`sysallow/tests/images/probe/probe.c`), made here from the host's files (there is no
//! registry).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The probe program inside the test image.
pub const PROBE: &str = "/usr/bin/sysallow-probe";

/// Compile the probe (`sysallow/tests/images/probe/probe.c`) statically to `out`.
pub fn build_probe(out: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/probe/probe.c");
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).expect("creating the probe's dir");
    }
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(out)
        .arg(&source)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc -static {} failed", source.display());
}

/// The `--change` flags of `docker import` and `podman import` for the test image.
pub const IMPORT_CHANGES: [&str; 4] = [
    "--change",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--change",
    "CMD [\"/bin/sh\"]",
];

/// The test image's root file system as a tarball `dir/image.tar`, for an engine's `import`.
pub fn build_image_tarball(dir: &Path) -> PathBuf {
    let stage = dir.join("image");
    build_rootfs(&stage);
    let tarball = dir.join("image.tar");
    let tar = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&stage)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("running tar");
    assert!(tar.success(), "tar of the test image failed");
    let _ = fs::remove_dir_all(&stage);
    tarball
}

/// The test image's root file system in `stage`: busybox with its applets, the static probe,
/// /etc/passwd and /etc/group, a sticky /tmp. Docker imports it as a tarball; containerd runs
/// it as a plain directory (`ctr run --rootfs`).
pub fn build_rootfs(stage: &Path) {
    for dir in ["bin", "usr/bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        fs::create_dir_all(stage.join(dir)).expect("creating image dirs");
    }
    fs::copy("/bin/busybox", stage.join("bin/busybox")).expect("copying /bin/busybox");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", stage.join("bin").join(applet));
        }
    }
    build_probe(&stage.join(PROBE.trim_start_matches('/')));
    fs::write(
        stage.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("writing /etc/passwd");
    fs::write(stage.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .expect("writing /etc/group");
    fs::set_permissions(stage.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod /tmp");
}
