//! The binary starts and teaches its subcommands.

use std::process::Command;

#[test]
fn help_lists_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_sysallow"))
        .arg("--help")
        .output()
        .expect("running sysallow --help");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "record", "generate", "merge", "diff", "explain", "run", "verify",
    ] {
        assert!(text.contains(sub), "--help does not mention {sub}:\n{text}");
    }
}
