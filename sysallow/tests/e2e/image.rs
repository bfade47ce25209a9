//! sysallow's container image (`cargo xtask image`): the engines take the tarball, and the
//! static binary runs in an image that has no libc.

use std::time::Duration;

use crate::common::containerd::Containerd;
use crate::common::docker::Dockerd;
use crate::common::sysallow_image::{self, CONTAINERD_NAME, TAG};

#[test]
fn docker_loads_the_image_and_runs_sysallow_in_it() {
    require!(docker);
    let tarball = sysallow_image::tarball();
    let docker = Dockerd::start();
    let loaded = docker.docker_ok(&["load", "-i", tarball.to_str().expect("UTF-8 path")]);
    assert!(loaded.contains(TAG), "docker load said: {loaded}");
    let out = docker.run(
        &["--rm", "--network", "none", TAG, "--version"],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("sysallow {}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
    // The agent's subcommand is in it too (the DaemonSet runs `sysallow agent`): --help
    // answers without any host access.
    let help = docker.run(
        &["--rm", "--network", "none", TAG, "--help"],
        Duration::from_secs(60),
    );
    assert!(
        help.status.success() && help.stdout.contains("record"),
        "{help}"
    );
}

#[test]
fn containerd_imports_the_image() {
    require!(containerd);
    let tarball = sysallow_image::tarball();
    let containerd = Containerd::start();
    let path = tarball.to_str().expect("UTF-8 path");
    let imported = containerd.ctr(&["images", "import", path], Duration::from_secs(120));
    assert!(imported.status.success(), "{imported}");
    let listed = containerd.ctr(&["images", "ls", "-q"], Duration::from_secs(30));
    assert!(listed.status.success(), "{listed}");
    assert!(
        listed.stdout.lines().any(|l| l.trim() == CONTAINERD_NAME),
        "ctr images ls: {listed}"
    );
    // Unpacked for this platform: its layer made a snapshot the runtime can mount.
    let check = containerd.ctr(&["images", "check"], Duration::from_secs(30));
    assert!(
        check
            .stdout
            .lines()
            .any(|l| l.starts_with(CONTAINERD_NAME) && l.contains("complete")),
        "ctr images check: {check}"
    );
    let problems = containerd.stop();
    assert!(problems.is_empty(), "{problems:?}");
}
