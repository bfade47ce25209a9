//! One module per subcommand. Each has `Args` (its flags, with the `--help` text) and
//! `run(Args) -> anyhow::Result<u8>` returning the process exit status.

pub mod agent;
pub mod bundle;
pub mod diff;
pub mod explain;
pub mod generate;
pub mod io;
pub mod merge;
pub mod prove;
pub mod record;
pub mod run;
pub mod verify;

/// An error that a subcommand wants reported with a specific exit status (e.g. 127 for a
/// command that does not exist, 2 for bad input to `diff`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    pub status: u8,
    pub message: String,
}

/// The exit status for an error: the one it carries, else 1.
pub fn error_status(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<StatusError>())
        .map_or(1, |e| e.status)
}

/// Writing to a closed pipe (`sysallow explain x | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
