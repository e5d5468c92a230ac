//! What the session manager refuses or fails at, in its own terms. The
//! HTTP edge gives each its WAHA answer (`http::errors`); start-up and the
//! tools print them as they are.

use std::fmt;

use crate::storage::StorageError;

/// Why a session operation did not happen.
#[derive(Debug)]
pub enum SessionError {
    /// No session has this name (or it was deleted meanwhile).
    NotFound { session: String },
    /// A session with this name exists already.
    Exists { session: String },
    /// A value the caller gave cannot be used; `field` names it.
    Invalid { field: String, problem: String },
    /// The host's store of sessions failed.
    Storage(StorageError),
    /// The session's data directory could not be removed.
    DataNotRemoved(String),
}

impl SessionError {
    pub(super) fn invalid(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            problem: problem.to_string(),
        }
    }
}

impl From<StorageError> for SessionError {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { session } => write!(f, "session '{session}' does not exist"),
            Self::Exists { session } => write!(f, "session '{session}' already exists"),
            Self::Invalid { field, problem } => write!(f, "{field}: {problem}"),
            Self::Storage(error) => write!(f, "{error}"),
            Self::DataNotRemoved(problem) => write!(f, "{problem}"),
        }
    }
}

impl std::error::Error for SessionError {}
