//! Every document `generate`, `diff`, `explain`, `run` and `verify` read: profiles in every
//! format (Docker, OCI, Podman JSON; Kubernetes YAML) and recordings, as `formats::read_detected`
//! sees them. A profile it accepts is checked, normalized, and written in every format; the
//! Docker JSON it writes must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow_profile::formats::{self, Document, Format};
use sysallow_profile::policy::NormalizedPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((doc, _)) = formats::read_detected(text) else {
        return;
    };
    let _ = NormalizedPolicy::from_document(&doc);
    if let Document::Profile(profile) = &doc {
        let _ = sysallow_profile::check::warnings(profile);
        for format in Format::ALL {
            let _ = formats::write(profile, format);
        }
        let written = formats::write(profile, Format::Docker);
        if let Err(e) = formats::read_detected(&written) {
            panic!("a profile that was read does not read back once written: {e}\n{written}");
        }
    }
});
