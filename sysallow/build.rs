//! Builds the eBPF programs (`sysallow-ebpf`) with aya-build and leaves the objects in OUT_DIR,
//! one per binary of that crate: `sysallow-ebpf` (what `record` loads, embedded by
//! `src/ebpf.rs`) and `sysallow-ebpf-reference` (the bench's reference programs, embedded by
//! `src/ebpf/reference.rs`).
//!
//! With `SYSALLOW_SKIP_EBPF=1`, or where `bpf-linker` is not installed, empty stubs are
//! written instead so that `cargo check`/`cargo clippy` work without the BPF toolchain; a
//! binary built that way says so when asked to record (`cargo xtask setup` installs the
//! toolchain).
use std::{env, fs, path::PathBuf};

const SKIP: &str = "SYSALLOW_SKIP_EBPF";
/// The binaries of `sysallow-ebpf`, each an object in OUT_DIR.
const OBJECTS: [&str; 2] = ["sysallow-ebpf", "sysallow-ebpf-reference"];

fn main() -> anyhow_free::Result {
    println!("cargo:rerun-if-env-changed={SKIP}");
    println!("cargo:rerun-if-env-changed=PATH");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let skip = env::var(SKIP).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let have_linker = env::var_os("PATH")
        .is_some_and(|path| env::split_paths(&path).any(|dir| dir.join("bpf-linker").is_file()));
    if skip || !have_linker {
        if !skip {
            println!(
                "cargo:warning=bpf-linker not found: building sysallow without its eBPF program \
                 (run `cargo xtask setup`)"
            );
        }
        for object in OBJECTS {
            let stub = out_dir.join(object);
            fs::write(&stub, []).map_err(|e| format!("writing {}: {e}", stub.display()))?;
        }
        return Ok(());
    }
    let manifest = env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?;
    let ebpf_dir = PathBuf::from(manifest).join("../sysallow-ebpf");
    let ebpf_dir = ebpf_dir.to_str().ok_or("non-UTF-8 path")?.to_owned();
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "sysallow-ebpf",
            root_dir: &ebpf_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .map_err(|e| format!("building the eBPF program: {e:#}"))?;
    Ok(())
}

mod anyhow_free {
    pub type Result = std::result::Result<(), String>;
}
