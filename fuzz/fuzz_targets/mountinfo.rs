//! `/proc/self/mountinfo` (where the cgroup v2 hierarchy is) and `/proc/PID/cgroup` (which
//! cgroup a process is in).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow::cgroup::{Cgroup2Mount, parse_v2_line};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Cgroup2Mount::parse(text);
    let _ = parse_v2_line(text);
});
