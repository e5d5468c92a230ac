//! The engine registry: finds engine libraries in a directory, loads each one
//! through the stable ABI, and keeps the ones it rejected with their reasons.
//!
//! A library is loaded with `libloading`, its abi_stable header is checked
//! (abi_stable's own ABI, then our module's version and type layout), and its
//! manifest is read and validated. Any failure rejects that file only; the
//! host keeps running with the others.

use std::{
    collections::BTreeMap,
    env::consts::DLL_EXTENSION,
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use abi_stable::{
    library::{AbiHeaderRef, LibraryError, ROOT_MODULE_LOADER_NAME_WITH_NUL},
    std_types::RResult,
};
use libloading::Library;
use wharf_engine_api::{
    ABI_VERSION, EngineError, Manifest, SessionContext, Support,
    ffi::{EngineModuleRef, FfiResult, SessionBox},
};

/// Whether an engine may be asked to do one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature<'a> {
    Supported,
    Unsupported { reason: &'a str },
}

/// An engine library that loaded and passed every check.
pub struct LoadedEngine {
    manifest: Manifest,
    file: PathBuf,
    module: EngineModuleRef,
}

impl LoadedEngine {
    pub fn name(&self) -> &str {
        self.manifest.name.as_str()
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The feature matrix, read the way the contract says: a key the engine
    /// does not list is unsupported.
    pub fn feature(&self, key: &str) -> Feature<'_> {
        match self.manifest.support(key) {
            Some(Support::Supported) => Feature::Supported,
            Some(Support::Unsupported { reason }) => Feature::Unsupported {
                reason: reason.as_str(),
            },
            None => Feature::Unsupported {
                reason: "the engine does not declare this feature",
            },
        }
    }

    /// Opens a session on this engine.
    pub fn open_session(&self, context: SessionContext) -> FfiResult<SessionBox> {
        (self.module.open_session())(context)
    }
}

/// A library file the registry would not use, and why.
#[derive(Debug, Clone)]
pub struct RejectedLibrary {
    pub file: PathBuf,
    pub reason: String,
    /// The manifest, when the library got far enough to give one.
    pub manifest: Option<Box<Manifest>>,
}

/// Every engine library found in the engines directory.
#[derive(Default)]
pub struct Registry {
    engines: BTreeMap<String, Arc<LoadedEngine>>,
    rejected: Vec<RejectedLibrary>,
}

impl Registry {
    /// Loads every shared library in `dir`, in file-name order. A missing
    /// directory gives an empty registry: the host still serves, and
    /// `GET /api/server/engines` shows nothing is loaded.
    pub fn load_dir(dir: &Path) -> Self {
        let mut registry = Registry::default();
        let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_file() && path.extension() == Some(DLL_EXTENSION.as_ref()))
                .collect(),
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot read the engines directory; no engine is loaded");
                return registry;
            }
        };
        files.sort();
        for file in files {
            registry.add(file);
        }
        registry
    }

    fn add(&mut self, file: PathBuf) {
        match load_library(&file) {
            Ok(engine) => {
                if let Some(existing) = self.engines.get(engine.name()) {
                    let reason = format!(
                        "an engine named '{}' is already loaded from {}",
                        engine.name(),
                        existing.file.display()
                    );
                    self.reject(file, reason, Some(Box::new(engine.manifest)));
                    return;
                }
                tracing::info!(
                    engine = engine.name(),
                    version = engine.manifest.version.as_str(),
                    file = %file.display(),
                    "engine loaded"
                );
                self.engines
                    .insert(engine.name().to_owned(), Arc::new(engine));
            }
            Err((reason, manifest)) => self.reject(file, reason, manifest),
        }
    }

    fn reject(&mut self, file: PathBuf, reason: String, manifest: Option<Box<Manifest>>) {
        tracing::warn!(file = %file.display(), %reason, "engine library rejected");
        self.rejected.push(RejectedLibrary {
            file,
            reason,
            manifest,
        });
    }

    pub fn engine(&self, name: &str) -> Option<Arc<LoadedEngine>> {
        self.engines.get(name).cloned()
    }

    pub fn engines(&self) -> impl Iterator<Item = &Arc<LoadedEngine>> {
        self.engines.values()
    }

    pub fn rejected(&self) -> &[RejectedLibrary] {
        &self.rejected
    }

    /// Names of loaded engines that support `feature`, for 501 answers.
    pub fn supporting(&self, feature: &str) -> Vec<String> {
        self.engines
            .values()
            .filter(|engine| engine.feature(feature) == Feature::Supported)
            .map(|engine| engine.name().to_owned())
            .collect()
    }

    /// Names of every loaded engine.
    pub fn names(&self) -> Vec<String> {
        self.engines.keys().cloned().collect()
    }
}

type LoadError = (String, Option<Box<Manifest>>);

fn load_library(file: &Path) -> Result<LoadedEngine, LoadError> {
    // SAFETY: loading runs the library's initialisers. The engines directory
    // is trusted by the operator to hold code for this host; what the
    // library exports is checked below before anything in it is called.
    let library = unsafe { Library::new(file) }.map_err(|err| {
        (
            format!("cannot load the library: {}", error_chain(&err)),
            None,
        )
    })?;
    // SAFETY: the symbol abi_stable exports is a static `LibHeader`, which
    // starts with an `AbiHeader`; `AbiHeaderRef` is a reference to it.
    let header: AbiHeaderRef = unsafe {
        match library.get::<AbiHeaderRef>(ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes()) {
            Ok(symbol) => *symbol,
            Err(_) => {
                return Err((
                    "not a wharf engine: the library exports no abi_stable root module".into(),
                    None,
                ));
            }
        }
    };
    let header = header.upgrade().map_err(|err| {
        (
            format!("built with an incompatible abi_stable: {err}"),
            None,
        )
    })?;
    let module = header
        .init_root_module::<EngineModuleRef>()
        .map_err(|err| (describe_incompatibility(&err), None))?;
    // Engines are never unloaded: sessions, threads and 'static data of the
    // library may outlive any handle we hold, so unloading is never safe.
    std::mem::forget(library);

    let manifest = match (module.manifest())() {
        RResult::ROk(manifest) => manifest,
        RResult::RErr(EngineError { message, .. }) => {
            return Err((format!("the engine's manifest failed: {message}"), None));
        }
    };
    if let Err(problem) = validate_manifest(&manifest) {
        return Err((
            format!("invalid manifest: {problem}"),
            Some(Box::new(manifest)),
        ));
    }
    Ok(LoadedEngine {
        manifest,
        file: file.to_owned(),
        module,
    })
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Says why abi_stable refused the root module, in one or two lines an
/// operator can act on.
fn describe_incompatibility(err: &LibraryError) -> String {
    let prefix = format!("incompatible engine ABI (this host speaks {ABI_VERSION})");
    match err {
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            format!("{prefix}: the library was built for ABI {actual_version}")
        }
        LibraryError::AbiInstability(_) => {
            format!("{prefix}: {}", summarize_layout_error(&err.to_string()))
        }
        other => format!("{prefix}: {other}"),
    }
}

/// abi_stable's layout report dumps both layouts in full, then ends with
/// the `Error:` that says what differs; that ending is the useful part.
fn summarize_layout_error(report: &str) -> String {
    let lines: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.iter().rposition(|line| line.starts_with("Error:")) {
        Some(start) => lines[start..].join(" "),
        None => lines.iter().take(3).copied().collect::<Vec<_>>().join(" "),
    }
}

fn validate_manifest(manifest: &Manifest) -> Result<(), String> {
    let name = manifest.name.as_str();
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(format!(
            "name: '{name}' must be 1 to 64 characters of a-z, 0-9, '-' or '_'"
        ));
    }
    if manifest.version.trim().is_empty() {
        return Err("version: must not be empty".into());
    }
    let host_major = ABI_VERSION.split('.').next();
    if manifest.abi_version.split('.').next() != host_major {
        return Err(format!(
            "abiVersion: the engine says {} but this host speaks {ABI_VERSION}",
            manifest.abi_version
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_must_be_usable_in_urls_and_configs() {
        let ok = Manifest::new("web-md_2", "1.0.0", "");
        assert!(validate_manifest(&ok).is_ok());
        for bad in ["", "Web", "a b", "../x"] {
            let manifest = Manifest::new(bad, "1.0.0", "");
            assert!(
                validate_manifest(&manifest)
                    .unwrap_err()
                    .starts_with("name")
            );
        }
        let mut other_abi = Manifest::new("x", "1.0.0", "");
        other_abi.abi_version = "2.0.0".into();
        assert!(
            validate_manifest(&other_abi)
                .unwrap_err()
                .starts_with("abiVersion")
        );
    }

    #[test]
    fn layout_reports_are_summarized_by_their_final_error() {
        let report = "Compared <this>:\n  --- Type Layout ---\n  type:X\n\nError:mismatched package\nExpected:\n    wharf-engine-api\nFound:\n    other\n";
        assert_eq!(
            summarize_layout_error(report),
            "Error:mismatched package Expected: wharf-engine-api Found: other"
        );
        assert_eq!(summarize_layout_error("a\nb\nc\nd"), "a b c");
    }

    #[test]
    fn files_that_are_not_engines_are_rejected_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(format!("junk.{DLL_EXTENSION}")),
            b"not a library",
        )
        .unwrap();
        fs::write(dir.path().join("notes.txt"), b"ignored: not a library file").unwrap();
        let registry = Registry::load_dir(dir.path());
        assert_eq!(registry.engines().count(), 0);
        assert_eq!(registry.rejected().len(), 1);
        assert!(
            registry.rejected()[0]
                .reason
                .starts_with("cannot load the library")
        );
    }

    #[test]
    fn a_missing_directory_loads_nothing() {
        let registry = Registry::load_dir(Path::new("/nonexistent/wharf/engines"));
        assert_eq!(registry.engines().count(), 0);
        assert!(registry.rejected().is_empty());
    }
}
