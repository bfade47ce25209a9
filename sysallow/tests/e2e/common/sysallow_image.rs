//! sysallow's own container image (`cargo xtask image`, deploy/'s `sysallow:dev`), built once
//! per test run: a static release build of its own (minutes from cold, seconds when built).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The tag `cargo xtask image` gives the image.
pub const TAG: &str = "sysallow:dev";
/// The name containerd (and kubelet, for `image: sysallow:dev`) gives it.
pub const CONTAINERD_NAME: &str = "docker.io/library/sysallow:dev";

/// The image tarball (target/image/sysallow-dev.tar), built by `cargo xtask image` from the
/// source under test the first time a test asks.
pub fn tarball() -> PathBuf {
    static TARBALL: OnceLock<PathBuf> = OnceLock::new();
    TARBALL
        .get_or_init(|| {
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args(["xtask", "image"])
                .current_dir(&workspace)
                .output()
                .expect("running cargo xtask image");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "cargo xtask image failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
            assert!(path.is_file(), "cargo xtask image printed {stdout:?}");
            path
        })
        .clone()
}
