//! What an engine's API socket answers (Docker's and Podman's compatible API): the raw HTTP
//! response, then its body as an inspect answer and as a container list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::target::engine::{decode_inspect, decode_list, parse_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = parse_response(data) {
        let _ = decode_inspect(&response.body);
        let _ = decode_list(&response.body);
    }
    let _ = decode_inspect(data);
    let _ = decode_list(data);
});
