//! `/proc/self/mountinfo` (where the cgroup v2 hierarchy is) and `/proc/PID/cgroup` (which
//! cgroup a process is in).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow::cgroup::{Cgroup2Mount, mountinfo, parse_v2_line};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The one mountinfo parser (sysallow-common), every line of it, then the typed view.
    let _ = mountinfo::parse(text).count();
    let _ = mountinfo::cgroup1(text);
    if let Some(mount) = Cgroup2Mount::parse(text) {
        let _ = mount.root_level();
        let _ = mount.dir_of(text);
    }
    let _ = parse_v2_line(text);
});
