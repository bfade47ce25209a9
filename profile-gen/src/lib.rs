//! sysallow's data side. Pure data: no root, no kernel, no I/O beyond what callers pass in, so
//! every part can be unit-tested as an ordinary user and run in unprivileged CI.

pub mod abi;
pub mod profile;
pub mod recording;

pub use abi::Abi;
pub use profile::Profile;
pub use recording::Recording;
