//! `cargo xtask setup`: install what a fresh machine lacks, and nothing twice.
//!
//! Every step checks first (a package's dpkg status, a component list, a binary's version) and
//! only installs what is missing, so a second run takes a few seconds.

use std::process::Command;

use anyhow::{Context as _, bail};

use crate::run as sh;

/// bpf-linker must link the LLVM major that rustc nightly uses (FIELD-NOTES: LLVM 22).
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_MAJOR: &str = "22";

/// Debian packages, and why each is needed.
const PACKAGES: &[(&str, &str)] = &[
    ("llvm-22-dev", "bpf-linker links LLVM 22"),
    (
        "libpolly-22-dev",
        "bpf-linker links LLVM 22 (Polly is part of its link line)",
    ),
    ("zlib1g-dev", "bpf-linker"),
    ("libzstd-dev", "bpf-linker"),
    ("libseccomp-dev", "the libseccomp crate enforces profiles"),
    ("pkg-config", "finding libseccomp"),
    ("gcc", "C test workloads"),
    ("gcc-multilib", "32-bit test workloads (gcc -m32)"),
    ("strace", "tests compare recordings with strace -f"),
    ("busybox-static", "the container test image"),
    ("python3", "the example application"),
    ("git", "a real program recorded in tests"),
    ("sqlite3", "a real program recorded in tests"),
    ("tar", "a real program recorded in tests"),
    (
        "xz-utils",
        "the xz pipeline recorded in tests (polls only when its pipe is full)",
    ),
    (
        "bpftool",
        "fault tests check that no BPF program outlives a killed recorder",
    ),
    ("gzip", "the example application"),
    ("docker.io", "container tests run a private dockerd"),
    ("crun", "container tests also run crun (containers_crun)"),
    (
        "containerd",
        "containerd tests run a private containerd with ctr (docker.io also pulls it in)",
    ),
    (
        "podman",
        "Podman tests run a private Podman (with conmon, and runc or crun)",
    ),
    (
        "docker-compose",
        "Docker's compose parser (v1.29, the one Debian ships) reads the bundle's compose \
         fragment (e2e compose_fragment)",
    ),
    (
        "util-linux",
        "setpriv runs the setuid fixture under no_new_privs (e2e no_new_privileges); unshare",
    ),
];

pub fn run() -> anyhow::Result<()> {
    debian_packages()?;
    nightly_rust_src()?;
    bpf_linker()?;
    eprintln!("setup: everything is in place");
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn debian_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages: {}; install them as root: sudo apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    }
    sh(Command::new("apt-get").arg("update").arg("-qq"))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

fn nightly_rust_src() -> anyhow::Result<()> {
    let list = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .context("running rustup (the eBPF program is built with nightly's build-std)")?;
    if !list.status.success() {
        sh(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
    } else if !String::from_utf8_lossy(&list.stdout).contains("rust-src") {
        sh(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    let version = Command::new("rustup")
        .args(["run", "nightly", "rustc", "-vV"])
        .output()
        .context("asking nightly rustc its version")?;
    let version = String::from_utf8_lossy(&version.stdout);
    let llvm = version
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .unwrap_or("unknown");
    if !llvm.starts_with(&format!("{LLVM_MAJOR}.")) {
        eprintln!(
            "setup: warning: nightly rustc uses LLVM {llvm}, bpf-linker here links LLVM \
             {LLVM_MAJOR}; the eBPF build may fail until they match"
        );
    }
    Ok(())
}

fn bpf_linker() -> anyhow::Result<()> {
    let current = Command::new("bpf-linker").arg("--version").output();
    if let Ok(out) = &current
        && String::from_utf8_lossy(&out.stdout).contains(BPF_LINKER_VERSION)
    {
        return Ok(());
    }
    let prefix = format!("/usr/lib/llvm-{LLVM_MAJOR}");
    // bpf-linker 0.13's build script finds LLVM through LLVM_PREFIX; llvm-sys reads the
    // versioned variable. Without them the link fails with "unable to find library -lLLVM".
    sh(Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
            "--no-default-features",
            "--features",
            &format!("llvm-{LLVM_MAJOR}"),
        ])
        .env("LLVM_PREFIX", &prefix)
        .env(format!("LLVM_SYS_{LLVM_MAJOR}1_PREFIX"), &prefix))?;
    Ok(())
}
