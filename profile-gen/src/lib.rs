//! sysallow's data side. Pure data: no root, no kernel, no I/O beyond what callers pass in, so
//! every part can be unit-tested as an ordinary user and run in unprivileged CI.

pub mod abi;
pub mod args;
pub mod ceiling;
pub mod diff;
pub mod discovery;
pub mod explain;
pub mod fix;
pub mod formats;
pub mod generate;
pub mod imports;
pub mod merge;
pub mod profile;
pub mod recording;
pub mod risk;
pub mod runtime;

pub use abi::Abi;
pub use profile::Profile;
pub use recording::Recording;
