//! The run-time layer: bundle documents `explain` and `diff` read (`Bundle::from_json`), and
//! recordings decided into a bundle. A bundle that reads renders every output and compares
//! with itself as no change; a recording that decides gives a bundle that never pairs a
//! non-root user with a capability it would not have, and whose JSON reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow_profile::Recording;
use sysallow_profile::hardening::diff::RuntimeDiff;
use sysallow_profile::hardening::{self, Bundle, Options, output};

fn exercise(bundle: &Bundle) {
    for (_, _text) in output::files(bundle) {}
    let _ = output::kubernetes_security_context(bundle);
    let _ =
        hardening::explain::render_text(bundle, sysallow_profile::style::Style { color: false });
    if !RuntimeDiff::compute(bundle, bundle).is_empty() {
        panic!("a bundle differs from itself");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bundle) = Bundle::from_json(text) {
        exercise(&bundle);
        return;
    }
    let Ok(rec) = Recording::from_json(text) else {
        return;
    };
    let options = Options::default();
    let Ok(decided) = hardening::decide(std::slice::from_ref(&rec), &options) else {
        return;
    };
    let bundle = Bundle::new(decided, String::new(), &options);
    if bundle.pairs_non_root_with_unusable_caps() {
        panic!("a non-root user with a capability it would not have: {bundle:?}");
    }
    if let Err(e) = Bundle::from_json(&bundle.to_json()) {
        panic!("a bundle that was written does not read back: {e}");
    }
    exercise(&bundle);
});
