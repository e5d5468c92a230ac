//! What a session is defined as: its engine and config, as stored.

use std::{fmt, sync::Arc};

use serde_json::Value;

use crate::engines::{EngineRef, LoadedEngine, Snapshot};

/// What a session is: its engine and config.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub(super) engine: DefinedEngine,
    pub(super) config: Value,
}

/// The engine a session is defined to run on, parsed once: when a client
/// names it, or when the host reads it back from storage.
#[derive(Debug, Clone)]
pub(super) enum DefinedEngine {
    /// `name` (the newest loaded version) or `name@version`.
    Ref(EngineRef),
    /// A stored reference that does not parse (the database was changed by
    /// hand). Kept as it was, since nothing stored is lost, and given as the
    /// reason the session cannot start until an update names an engine.
    Unparsable { text: String, problem: String },
}

impl DefinedEngine {
    /// The engine a stored session names.
    pub(super) fn stored(text: String) -> Self {
        match EngineRef::parse(&text) {
            Ok(reference) => Self::Ref(reference),
            Err(problem) => Self::Unparsable { text, problem },
        }
    }

    /// The loaded engine in `snapshot` the session would run on.
    pub(super) fn resolve(&self, snapshot: &Snapshot) -> Option<Arc<LoadedEngine>> {
        match self {
            Self::Ref(reference) => snapshot.resolve(reference),
            Self::Unparsable { .. } => None,
        }
    }

    /// Why [`DefinedEngine::resolve`] finds nothing in `snapshot`, for
    /// `session`.
    pub(super) fn why_unavailable(&self, session: &str, snapshot: &Snapshot) -> String {
        match self {
            Self::Ref(reference) => format!(
                "engine '{reference}' is not loaded; loaded engines: [{}]",
                snapshot.labels().join(", ")
            ),
            Self::Unparsable { text, problem } => format!(
                "the stored engine '{text}' is not an engine reference ({problem}); \
                 give the session an engine with PUT /api/sessions/{session}"
            ),
        }
    }
}

/// As stored and shown: `name`, `name@version`, or the unparsable text.
impl fmt::Display for DefinedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ref(reference) => reference.fmt(f),
            Self::Unparsable { text, .. } => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_reference_is_parsed_once_and_kept_as_written_when_it_cannot_be() {
        let stored = DefinedEngine::stored("Sandbox@1.2.0".to_owned());
        assert!(matches!(&stored, DefinedEngine::Ref(r) if r.name == "sandbox"));
        assert_eq!(stored.to_string(), "sandbox@1.2.0");

        let edited = DefinedEngine::stored("sand box!".to_owned());
        assert_eq!(edited.to_string(), "sand box!");
        let snapshot = Snapshot::default();
        assert!(edited.resolve(&snapshot).is_none());
        let why = edited.why_unavailable("s", &snapshot);
        assert!(
            why.starts_with("the stored engine 'sand box!' is not an engine reference (")
                && why.ends_with("give the session an engine with PUT /api/sessions/s"),
            "{why}"
        );
        assert_eq!(
            stored.why_unavailable("s", &snapshot),
            "engine 'sandbox@1.2.0' is not loaded; loaded engines: []"
        );
    }
}
