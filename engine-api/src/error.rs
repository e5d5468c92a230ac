//! Errors are data: an engine never panics across the boundary, it returns an
//! [`EngineError`] and the host maps its [`ErrorKind`] to an HTTP status.

use std::fmt;

use abi_stable::{StableAbi, std_types::RString};

/// What went wrong, in terms the host can turn into an HTTP status.
///
/// Adding a variant changes the layout and therefore needs a new ABI version,
/// which is why the set is small and general.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The contact, chat or resource does not exist (HTTP 404).
    NotFound,
    /// The request was understood but its input is wrong (HTTP 400).
    InvalidInput,
    /// The engine cannot do this at all (HTTP 501). Prefer declaring the
    /// feature unsupported in the manifest, so the host never calls.
    Unsupported,
    /// WhatsApp or the upstream API asked to slow down (HTTP 429).
    RateLimited,
    /// The engine is not connected or the upstream is down (HTTP 503).
    Unavailable,
    /// A bug or an unexpected failure inside the engine (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// A stable lower-case name, used in logs and JSON bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error returned by an engine operation.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// The category, which decides the HTTP status.
    pub kind: ErrorKind,
    /// A message for the REST user: say what failed and, when possible, what to do.
    pub message: RString,
}

impl EngineError {
    /// An error of any kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: RString::from(message.into()),
        }
    }

    /// See [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// See [`ErrorKind::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// See [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// See [`ErrorKind::RateLimited`].
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RateLimited, message)
    }

    /// See [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// See [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for EngineError {}
