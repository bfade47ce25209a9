//! Reading and writing every format sysallow handles. One place decides what a file is.

use crate::{Profile, Recording};

/// A file sysallow was given: a Recording, or a Profile in some format.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    Recording(Recording),
    Profile(Profile),
}

/// A file that could not be read as any format sysallow knows.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not valid JSON: line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
    #[error("not a seccomp profile: line {line}, column {column}: {message}")]
    Profile {
        line: usize,
        column: usize,
        message: String,
    },
}

/// Read a Recording or a Docker-format profile from text.
pub fn read(text: &str) -> Result<Document, FormatError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| FormatError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    if value.get("format").is_some() {
        return Ok(Document::Recording(Recording::from_json(text)?));
    }
    serde_json::from_str::<Profile>(text)
        .map(Document::Profile)
        .map_err(|e| FormatError::Profile {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
}
