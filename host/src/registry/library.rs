//! Loading one engine library through the stable ABI, with every check.
//!
//! A library is loaded with `libloading`, its abi_stable header is checked
//! (abi_stable's own ABI, then our module's version and type layout), and its
//! manifest is read and validated. Any failure rejects that file only, with
//! a reason an operator can act on.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

use abi_stable::{
    library::{AbiHeaderRef, LibraryError, ROOT_MODULE_LOADER_NAME_WITH_NUL},
    std_types::RResult,
};
use libloading::Library;
use semver::Version;
use wharf_engine_api::{
    ABI_VERSION, EngineError, Manifest, SessionContext, Support, features,
    ffi::{EngineModuleRef, FfiResult, SessionBox},
};

use super::engine_ref::validate_name;

/// Whether an engine may be asked to do one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature<'a> {
    Supported,
    Unsupported { reason: &'a str },
}

/// What a library file looked like when it was loaded: a file replaced or
/// rewritten since has another fingerprint and is loaded afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: a file replaced by a rename keeps neither.
    #[cfg(unix)]
    identity: (u64, u64),
}

impl Fingerprint {
    pub fn of(file: &Path) -> std::io::Result<Self> {
        let metadata = fs::metadata(file)?;
        Ok(Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            identity: {
                use std::os::unix::fs::MetadataExt;
                (metadata.dev(), metadata.ino())
            },
        })
    }
}

/// An engine library that loaded and passed every check.
pub struct LoadedEngine {
    manifest: Manifest,
    version: Version,
    file: PathBuf,
    module: EngineModuleRef,
}

impl LoadedEngine {
    pub fn name(&self) -> &str {
        self.manifest.name.as_str()
    }

    pub fn version(&self) -> &Version {
        &self.version
    }

    /// `name@version`: this exact engine, as a session can name it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name(), self.version)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The file in the engines directory this engine was loaded from.
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

    /// Every feature key this host knows, in documentation order, with
    /// whether this engine supports it.
    pub fn feature_matrix(&self) -> impl Iterator<Item = (&'static str, Feature<'_>)> {
        features::ALL
            .into_iter()
            .map(|key| (key, self.feature(key)))
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

/// Where libraries are loaded from, so that the engines directory stays the
/// operator's: each library is copied to a private file first, loaded from
/// there, and the copy unlinked (the mapping outlives the name). The file in
/// the engines directory can then be replaced or rewritten at any time, and
/// a changed file loads as new code even at the same path, which the
/// dynamic loader would otherwise answer from its cache of loaded paths.
#[derive(Debug, Clone)]
pub struct PrivateCopies {
    dir: PathBuf,
}

impl PrivateCopies {
    /// Uses `dir`, emptied first: copies left by a crashed host are stale.
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn copy(&self, file: &Path) -> Result<PathBuf, String> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let name = file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = self.dir.join(format!(
            "{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::copy(file, &copy)
            .map_err(|err| format!("cannot copy the library to {}: {err}", self.dir.display()))?;
        Ok(copy)
    }
}

/// Loads `file` (from a private copy when `copies` is given) and checks it.
pub fn load(file: &Path, copies: Option<&PrivateCopies>) -> Result<LoadedEngine, RejectedLibrary> {
    let loaded = match copies {
        Some(copies) => copies
            .copy(file)
            .map_err(|reason| (reason, None))
            .and_then(|copy| {
                let loaded = load_library(&copy, file);
                // Loaded or not, the name is no longer needed.
                let _ = fs::remove_file(&copy);
                loaded
            }),
        None => load_library(file, file),
    };
    loaded.map_err(|(reason, manifest)| RejectedLibrary {
        file: file.to_owned(),
        reason,
        manifest,
    })
}

type LoadError = (String, Option<Box<Manifest>>);

/// Loads the library at `path`; `file` is the one it stands for.
fn load_library(path: &Path, file: &Path) -> Result<LoadedEngine, LoadError> {
    // SAFETY: loading runs the library's initialisers. The engines directory
    // is trusted by the operator to hold code for this host; what the
    // library exports is checked below before anything in it is called.
    let library = unsafe { Library::new(path) }.map_err(|err| {
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
    let version = match validate_manifest(&manifest) {
        Ok(version) => version,
        Err(problem) => {
            return Err((
                format!("invalid manifest: {problem}"),
                Some(Box::new(manifest)),
            ));
        }
    };
    Ok(LoadedEngine {
        manifest,
        version,
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

/// Checks what the host relies on in a manifest; returns the parsed version.
fn validate_manifest(manifest: &Manifest) -> Result<Version, String> {
    validate_name(manifest.name.as_str()).map_err(|problem| format!("name: {problem}"))?;
    // Versions order side-by-side engines and appear in `name@version`.
    let version = Version::parse(manifest.version.as_str()).map_err(|err| {
        format!(
            "version: '{}' is not a semantic version like 1.2.0 ({err})",
            manifest.version
        )
    })?;
    let host_major = ABI_VERSION.split('.').next();
    if manifest.abi_version.split('.').next() != host_major {
        return Err(format!(
            "abiVersion: the engine says {} but this host speaks {ABI_VERSION}",
            manifest.abi_version
        ));
    }
    Ok(version)
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
        for bad in ["", "1", "one", "1.0"] {
            let manifest = Manifest::new("x", bad, "");
            let problem = validate_manifest(&manifest).unwrap_err();
            assert!(problem.starts_with("version"), "{problem}");
        }
        assert_eq!(
            validate_manifest(&Manifest::new("x", "2.1.0-beta.1", "")).unwrap(),
            Version::parse("2.1.0-beta.1").unwrap()
        );
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
    fn files_that_are_not_engines_are_rejected_and_their_copies_removed() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.so");
        fs::write(&junk, b"not a library").unwrap();
        let copies = PrivateCopies::new(dir.path().join("copies")).unwrap();
        let rejected = load(&junk, Some(&copies)).err().unwrap();
        assert_eq!(rejected.file, junk);
        assert!(
            rejected.reason.starts_with("cannot load the library"),
            "{}",
            rejected.reason
        );
        assert_eq!(fs::read_dir(dir.path().join("copies")).unwrap().count(), 0);
    }

    #[test]
    fn a_rewritten_file_has_another_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("engine.so");
        fs::write(&file, b"v1").unwrap();
        let before = Fingerprint::of(&file).unwrap();
        assert_eq!(Fingerprint::of(&file).unwrap(), before);
        let staged = dir.path().join("engine.so.partial");
        fs::write(&staged, b"v2").unwrap();
        fs::rename(&staged, &file).unwrap();
        assert_ne!(Fingerprint::of(&file).unwrap(), before);
    }
}
