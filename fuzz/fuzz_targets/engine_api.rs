//! What an engine's API socket answers (Docker's and Podman's compatible API): the raw HTTP
//! response, then its body as an inspect answer (Docker's and Podman's libpod one) and as a
//! container list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysallow::target::Engine;
use sysallow::target::engine::{decode_inspect, decode_list, parse_response};

fuzz_target!(|data: &[u8]| {
    let decode = |body: &[u8]| {
        let _ = decode_inspect(Engine::Docker, body);
        let _ = decode_inspect(Engine::Podman, body);
        let _ = decode_list(body);
    };
    if let Ok(response) = parse_response(data) {
        decode(&response.body);
    }
    decode(data);
});
