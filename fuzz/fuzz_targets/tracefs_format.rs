//! A tracefs `events/*/format` file, read for the field offsets the eBPF programs use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow::ebpf::parse_field_offset;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for field in ["id", "args", "ret", "pid", "clone_flags", "filename", "group_dead"] {
        let _ = parse_field_offset(text, field);
    }
});
