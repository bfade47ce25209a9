//! `sysallow merge` (not implemented yet).

/// (Not implemented yet.)
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`sysallow merge` is not implemented yet")
}
