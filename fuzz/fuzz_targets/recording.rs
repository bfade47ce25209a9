//! Recordings (`generate`, `merge`, `explain`, `diff` read them): parsed, then a profile is
//! generated from each that parses, under the default policy and written as Docker JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow_profile::Recording;
use sysallow_profile::formats::{self, Format};
use sysallow_profile::generate::{GenerationPolicy, generate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(recording) = Recording::from_json(text) else {
        return;
    };
    if let Ok(generated) = generate(&[recording], &GenerationPolicy::default()) {
        let _ = formats::write(&generated.profile, Format::Docker);
    }
});
