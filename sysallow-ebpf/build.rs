//! Rebuild when the `bpf-linker` on PATH changes: it is an undeclared dependency of this crate
//! (cargo cannot express binary dependencies yet).
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
