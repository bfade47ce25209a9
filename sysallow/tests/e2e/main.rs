//! The end-to-end tests of `sysallow`: one test binary (as ripgrep's `tests/integration.rs`),
//! one module per area, each running the binary cargo built for this test run
//! (`CARGO_BIN_EXE_sysallow`, so a stale binary is never tested).
//!
//! `cargo test -p sysallow --test e2e` runs them; `-- record::` runs one area. Tests that need
//! root, Docker, Podman, containerd or a program say so with `require!` (`macros.rs`): they skip
//! visibly, or fail under `SYSALLOW_REQUIRE_PRIVILEGED_TESTS=1` (CI). Shared helpers are in
//! `common/`; the C workloads and the container image's probe are in `../workloads/` and
//! `../images/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and their harness: a panic is a test's failure, with its message"
)]

#[macro_use]
mod macros;

mod common;

// Unprivileged: run everywhere.
mod bundle_cli;
mod compose_fragment;
mod diff_cli;
mod enforce;
mod explain_cli;
mod generate_cli;
mod help;
mod hostile_inputs;

// Root: eBPF recordings.
mod agent_tracer;
mod args;
mod capabilities;
mod concurrency;
mod convergence;
mod faults;
mod imports;
mod kernel_memory;
mod least_privilege;
mod no_new_privileges;
mod plain_record;
mod record;
mod record_then_run;
mod targets;
mod unseen_paths;

// Root and a container engine.
mod agent_node;
mod agent_scale;
mod containerd;
mod containers;
mod containers_crun;
mod cri_harness;
mod docker_harness;
mod image;
mod kubernetes;
mod podman;
mod prove;
