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

/// The image config of [`docker_archive`]: what the image runs and with which environment.
pub struct ImageConfig<'a> {
    pub entrypoint: &'a [&'a str],
    pub cmd: &'a [&'a str],
    pub env: &'a [&'a str],
}

/// The environment every test image sets (as `IMPORT_CHANGES` does for Docker and Podman).
pub const IMAGE_ENV: &[&str] =
    &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

/// Pack the root file system `rootfs` as a one-layer image tarball `out` in the format of
/// `docker save` (manifest.json, the config named by its sha256, an uncompressed layer), tagged
/// `tag`: `docker load` and `ctr images import` both take it. The config's `diff_ids` name the
/// layer's digest, which containerd checks when it unpacks.
pub fn docker_archive(rootfs: &Path, tag: &str, config: &ImageConfig<'_>, out: &Path) {
    let stage = out.with_extension("stage");
    fs::create_dir_all(&stage).expect("creating the archive's staging dir");
    let layer = stage.join("layer.tar");
    tar(rootfs, &layer);
    let diff_id = sha256_file(&layer);
    let image_config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": config.env,
            "Entrypoint": if config.entrypoint.is_empty() { None } else { Some(config.entrypoint) },
            "Cmd": if config.cmd.is_empty() { None } else { Some(config.cmd) },
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
    });
    let config_bytes = serde_json::to_vec(&image_config).expect("serialising the image config");
    let config_tmp = stage.join("config.json");
    fs::write(&config_tmp, &config_bytes).expect("writing the image config");
    let config_name = format!("{}.json", sha256_file(&config_tmp));
    fs::rename(&config_tmp, stage.join(&config_name)).expect("naming the image config");
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": ["layer.tar"],
    }]);
    fs::write(
        stage.join("manifest.json"),
        serde_json::to_vec(&manifest).expect("serialising manifest.json"),
    )
    .expect("writing manifest.json");
    tar(&stage, out);
    let _ = fs::remove_dir_all(&stage);
}

/// `dir`'s contents as the tarball `out`, owned by root as an image's files are.
fn tar(dir: &Path, out: &Path) {
    let status = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .expect("running tar");
    assert!(status.success(), "tar of {} failed", dir.display());
}

/// The hex sha256 of a file (coreutils' sha256sum).
pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("running sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum prints the digest first")
        .to_owned()
}

/// Compile the pause program (`sysallow/tests/images/pause/pause.c`) statically into an empty
/// root file system `stage` as `/pause`: the CRI tests' sandbox image.
pub fn build_pause_rootfs(stage: &Path) {
    fs::create_dir_all(stage).expect("creating the pause image dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/pause/pause.c");
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(stage.join("pause"))
        .arg(&source)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc -static {} failed", source.display());
}
