//! Errors are data: an engine never panics across the boundary, it returns an
//! [`EngineError`] and the host maps its [`ErrorKind`] to an HTTP status.

use std::fmt;

use abi_stable::{StableAbi, std_types::RString};

/// What went wrong, in terms the host can turn into an HTTP status.
///
/// An open set: the kinds below are the ones this version of the contract
/// names, and a later version may name more. That is why this is a number
/// and not a Rust `enum`: an engine built against a later contract may
/// return a kind this host does not know, and the host answers it as
/// [`ErrorKind::INTERNAL`] with the engine's message (see the crate docs,
/// "Evolving the contract"). Match on the constants with a `_` arm.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKind(u8);

impl ErrorKind {
    /// The contact, chat or resource does not exist (HTTP 404).
    pub const NOT_FOUND: Self = Self(1);
    /// The request was understood but its input is wrong (HTTP 400).
    pub const INVALID_INPUT: Self = Self(2);
    /// The engine cannot do this at all (HTTP 501). Prefer declaring the
    /// feature unsupported in the manifest, so the host never calls.
    pub const UNSUPPORTED: Self = Self(3);
    /// WhatsApp or the upstream API asked to slow down (HTTP 429).
    pub const RATE_LIMITED: Self = Self(4);
    /// The engine is not connected or the upstream is down (HTTP 503).
    pub const UNAVAILABLE: Self = Self(5);
    /// A bug or an unexpected failure inside the engine (HTTP 500).
    pub const INTERNAL: Self = Self(6);

    /// Every kind this version of the contract names (later versions add
    /// more).
    pub const ALL: &'static [Self] = &[
        Self::NOT_FOUND,
        Self::INVALID_INPUT,
        Self::UNSUPPORTED,
        Self::RATE_LIMITED,
        Self::UNAVAILABLE,
        Self::INTERNAL,
    ];

    /// A stable lower-case name, used in logs and JSON bodies; `None` for
    /// a kind a later version of the contract added.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NOT_FOUND => "not_found",
            Self::INVALID_INPUT => "invalid_input",
            Self::UNSUPPORTED => "unsupported",
            Self::RATE_LIMITED => "rate_limited",
            Self::UNAVAILABLE => "unavailable",
            Self::INTERNAL => "internal",
            _ => return None,
        })
    }

    /// The kind a host acts on: a kind it does not know is an internal
    /// error.
    pub const fn known(self) -> Self {
        match self.name() {
            Some(_) => self,
            None => Self::INTERNAL,
        }
    }

    /// The number that crosses the boundary, for logs about kinds this
    /// version does not know.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The kind whose number is `code`, known or not: what an engine built
    /// against a later contract may send. Engines use the constants.
    pub const fn from_code(code: u8) -> Self {
        Self(code)
    }
}

impl fmt::Debug for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorKind({})", self.0),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
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

    /// See [`ErrorKind::NOT_FOUND`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NOT_FOUND, message)
    }

    /// See [`ErrorKind::INVALID_INPUT`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INVALID_INPUT, message)
    }

    /// See [`ErrorKind::UNSUPPORTED`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNSUPPORTED, message)
    }

    /// See [`ErrorKind::RATE_LIMITED`].
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RATE_LIMITED, message)
    }

    /// See [`ErrorKind::UNAVAILABLE`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNAVAILABLE, message)
    }

    /// See [`ErrorKind::INTERNAL`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INTERNAL, message)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for EngineError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_from_a_later_contract_is_an_internal_error_here() {
        let later = ErrorKind::from_code(42);
        assert_eq!(later.name(), None);
        assert_eq!(later.known(), ErrorKind::INTERNAL);
        assert_eq!(format!("{later:?}"), "ErrorKind(42)");
        for &kind in ErrorKind::ALL {
            assert_eq!(kind.known(), kind);
            assert!(kind.name().is_some());
        }
    }
}
