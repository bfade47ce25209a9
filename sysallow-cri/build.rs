//! Compile the vendored CRI `api.proto` (see proto/README.md) into prost messages and a tonic
//! client, with protox (pure Rust): no `protoc` is needed on the building machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/runtime/v1/api.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        // The client's `connect(url)` needs tonic's TCP transport; the agent connects over a
        // unix socket with its own connector instead.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
