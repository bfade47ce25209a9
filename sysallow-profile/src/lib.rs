//! sysallow's data side. Pure data: no root, no kernel, no I/O beyond what callers pass in, so
//! every part can be unit-tested as an ordinary user and run in unprivileged CI.

pub mod abi;
pub mod args;
pub mod baseline;
pub mod caps;
pub mod ceiling;
pub mod check;
pub mod container;
pub mod diff;
pub mod discovery;
pub mod errno;
pub mod explain;
pub mod fix;
pub mod formats;
pub mod generate;
pub mod hardening;
pub mod imports;
pub mod kubernetes;
pub mod local_libseccomp;
pub mod merge;
pub mod pod;
pub mod policy;
pub mod privileges;
pub mod profile;
pub mod recording;
pub mod risk;
pub mod runtime;
pub mod style;
pub mod timing;
pub mod why;

/// An error and its causes on one line, `what: why: root cause`. Error types here (as in aya)
/// name only their own context in their message and keep the cause as their `source`, so each
/// cause is printed once; call this wherever an error is shown without anyhow's `{:#}`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub use abi::Abi;
pub use profile::Profile;
pub use recording::Recording;
