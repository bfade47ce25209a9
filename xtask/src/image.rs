//! `cargo xtask image`: sysallow's container image, built offline, for the node agent
//! (deploy/daemonset.yaml runs it as `sysallow:dev`).
//!
//! The image is one static binary (the eBPF object is embedded in it by sysallow's build.rs)
//! at /usr/local/bin/sysallow, a /tmp and a root user: no base image, no registry, no
//! Dockerfile. It is written as a docker-archive (`docker save`'s layout: manifest.json with
//! RepoTags, the config, one layer tar), which both `docker load` and containerd's
//! `ctr images import` (docker.v1.2 format) take; containerd names it
//! docker.io/library/sysallow:dev, the name kubelet gives `image: sysallow:dev`.
//!
//! The binary is glibc linked statically (`-C target-feature=+crt-static`, a static PIE) with
//! libseccomp's static library (Debian's libseccomp-dev ships libseccomp.a; the libseccomp-sys
//! crate links it with LIBSECCOMP_LINK_TYPE=static). It is built for the explicit target
//! x86_64-unknown-linux-gnu so that RUSTFLAGS reach only the target, not build scripts and
//! proc macros (which cannot be static); its own directory under target/ keeps the ordinary
//! release build's cache intact. It is a second release build: 3 min 21 s from cold on this
//! 2-core machine (shared with other builds), seconds when only the image changes.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};

use crate::{cargo, root, run};

/// The image's name, as `docker load` and `ctr images import` tag it.
pub const TAG: &str = "sysallow:dev";
/// Where the binary is in the image (deploy/daemonset.yaml's `command`).
const BINARY: &str = "usr/local/bin/sysallow";
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Debian's multiarch directory with libseccomp.a (package libseccomp-dev).
const LIBSECCOMP_DIR: &str = "/usr/lib/x86_64-linux-gnu";

pub fn run_image() -> anyhow::Result<()> {
    if std::env::consts::ARCH != "x86_64" {
        bail!("cargo xtask image builds an x86_64 image, and sysallow's eBPF side is x86_64 only");
    }
    // The eBPF toolchain: without bpf-linker, build.rs would embed an empty stub and the image
    // could not record.
    crate::setup::run()?;
    let binary = build_static()?;
    let out = root().join("target/image");
    let tarball = pack(&binary, &out)?;
    println!("{}", tarball.display());
    eprintln!(
        "image {TAG}: {}\n  docker load -i {0}\n  ctr -n k8s.io images import {0}",
        tarball.display()
    );
    Ok(())
}

/// The static release binary, built with its eBPF object.
fn build_static() -> anyhow::Result<PathBuf> {
    let archive = Path::new(LIBSECCOMP_DIR).join("libseccomp.a");
    ensure!(
        archive.is_file(),
        "{} is missing: the static build links libseccomp statically (apt-get install \
         libseccomp-dev, or cargo xtask setup)",
        archive.display()
    );
    let started = Instant::now();
    run(cargo()
        .args(["build", "--release", "-p", "sysallow", "--bin", "sysallow"])
        .args(["--target", TARGET])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("LIBSECCOMP_LINK_TYPE", "static")
        .env("LIBSECCOMP_LIB_PATH", LIBSECCOMP_DIR)
        .env_remove("SYSALLOW_SKIP_EBPF"))?;
    eprintln!(
        "image: static build took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let binary = root().join(format!("target/{TARGET}/release/sysallow"));
    let elf = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    ensure!(
        !has_interpreter(&elf).with_context(|| format!("{} is not ELF64", binary.display()))?,
        "{} is dynamically linked (it names a program interpreter): the image has no libc",
        binary.display()
    );
    Ok(binary)
}

/// Whether an ELF64 little-endian file has a PT_INTERP program header (needs ld.so).
fn has_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 || *elf.get(5)? != 1 {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let (phentsize, phnum) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    let mut found = false;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let kind = u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?);
        found |= kind == PT_INTERP;
    }
    Some(found)
}

/// The docker-archive of an image holding `binary`, as `out/sysallow-dev.tar`.
fn pack(binary: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let stage = out.join("rootfs");
    let archive = out.join("archive");
    for dir in [&stage, &archive] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    for dir in ["usr/local/bin", "etc", "tmp"] {
        fs::create_dir_all(stage.join(dir)).with_context(|| format!("creating {dir}"))?;
    }
    fs::create_dir_all(&archive).context("creating the archive's dir")?;
    let inside = stage.join(BINARY);
    fs::copy(binary, &inside).with_context(|| format!("copying {}", binary.display()))?;
    fs::set_permissions(&inside, fs::Permissions::from_mode(0o755)).context("chmod sysallow")?;
    fs::set_permissions(stage.join("tmp"), fs::Permissions::from_mode(0o1777))
        .context("chmod /tmp")?;
    fs::write(
        stage.join("etc/passwd"),
        "root:x:0:0:root:/:/usr/local/bin/sysallow\n",
    )
    .context("writing /etc/passwd")?;
    fs::write(stage.join("etc/group"), "root:x:0:\n").context("writing /etc/group")?;

    // One layer, byte-for-byte the same for the same binary: sorted names, owner root, mtime 0.
    let layer = archive.join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
        ])
        .args(["--format=gnu", "-C"])
        .arg(&stage)
        .arg("-cf")
        .arg(&layer)
        .args(["usr", "etc", "tmp"]))?;
    let layer_digest = sha256(&layer)?;
    let layer_path = format!("{layer_digest}/layer.tar");
    fs::create_dir_all(archive.join(&layer_digest)).context("creating the layer's dir")?;
    fs::rename(&layer, archive.join(&layer_path)).context("moving the layer")?;

    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": [format!("/{BINARY}")],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Labels": {
                "org.opencontainers.image.title": "sysallow",
                "org.opencontainers.image.version": env!("CARGO_PKG_VERSION"),
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cargo xtask image"}],
    });
    let config_file = archive.join("config.json");
    fs::write(&config_file, serde_json::to_vec(&config)?).context("writing the config")?;
    let config_name = format!("{}.json", sha256(&config_file)?);
    fs::rename(&config_file, archive.join(&config_name)).context("naming the config")?;
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [TAG],
        "Layers": [layer_path],
    }]);
    fs::write(
        archive.join("manifest.json"),
        serde_json::to_vec(&manifest)?,
    )
    .context("writing manifest.json")?;

    let tarball = out.join("sysallow-dev.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
        ])
        .args(["--format=gnu", "-C"])
        .arg(&archive)
        .arg("-cf")
        .arg(&tarball)
        .args(["manifest.json", &config_name, &layer_digest]))?;
    fs::remove_dir_all(&stage).context("removing the staged root")?;
    fs::remove_dir_all(&archive).context("removing the staged archive")?;
    Ok(tarball)
}

/// The hex sha256 of a file (coreutils' sha256sum: xtask needs no hashing crate for two files).
fn sha256(file: &Path) -> anyhow::Result<String> {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .context("running sha256sum")?;
    ensure!(out.status.success(), "sha256sum {} failed", file.display());
    let text = String::from_utf8(out.stdout).context("sha256sum's output")?;
    let digest = text.split_whitespace().next().unwrap_or_default();
    ensure!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "sha256sum printed {text:?}"
    );
    Ok(digest.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interpreter_header_is_found() {
        // This test binary is dynamically linked (cargo's default); a file that is not ELF is
        // no answer.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(super::has_interpreter(&me), Some(true));
        assert_eq!(super::has_interpreter(b"#!/bin/sh\n"), None);
    }
}
