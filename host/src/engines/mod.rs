//! The engine registry: the engine libraries of one directory, loaded through
//! the stable ABI, and rescanned on demand without stopping anything.
//!
//! Each scan produces a [`Snapshot`]: every library file with what became of
//! it (loaded, or rejected with the reason), and the loaded engines by name,
//! newest version first. New sessions resolve their engine in the current
//! snapshot; a running session holds its own [`LoadedEngine`], so a rescan
//! that drops or replaces that engine does not touch it until it restarts.
//!
//! Libraries are never unloaded: an engine's threads, sessions and statics
//! may outlive any handle the host holds, so unloading is never safe. A
//! library that changes on disk is loaded again beside the old one.
//!
//! No library file can bring the host down: each is copied privately and
//! proven loadable in a child process before the host maps it ([`Loader`]).

pub mod call;
mod engine_ref;
mod library;
mod loader;
mod operation;
mod probe;
pub mod reload;

use std::{
    collections::BTreeMap,
    env::consts::DLL_EXTENSION,
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock, Weak},
};

pub use engine_ref::{ENGINE_REF_PATTERN, EngineRef};
pub use library::{Feature, Fingerprint, LoadedEngine, RejectedLibrary};
pub use loader::{Loader, PrivateCopies};
pub use operation::{Group, Operation};
#[cfg(test)]
pub(crate) use probe::testing;
pub use probe::{PROBE_COMMAND, Probe, run as probe_engine};

/// What became of one library file: loaded, or rejected with the reason.
#[derive(Clone)]
pub enum LibraryFile {
    Loaded(Arc<LoadedEngine>),
    Rejected(Arc<RejectedLibrary>),
}

impl LibraryFile {
    pub fn status(&self) -> LibraryStatus {
        match self {
            Self::Loaded(_) => LibraryStatus::Loaded,
            Self::Rejected(_) => LibraryStatus::Rejected,
        }
    }
}

/// What became of an engine library, as the API and `/metrics` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LibraryStatus {
    /// Offered to new sessions.
    Loaded,
    /// Not used, for the reason given.
    Rejected,
    /// No longer offered to new sessions (its file was removed or
    /// replaced) but still running sessions that started on it, until they
    /// restart.
    Retired,
}

impl LibraryStatus {
    /// The status's name, as its JSON has it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Loaded => "loaded",
            Self::Rejected => "rejected",
            Self::Retired => "retired",
        }
    }
}

/// One library file as scanned.
struct ScannedFile {
    fingerprint: Fingerprint,
    /// What loading the file gave, kept so an unchanged file is not loaded
    /// again.
    load_outcome: LibraryFile,
    /// Its standing in this scan: a file that loaded is still rejected when
    /// another file already gave the same name and version.
    standing: LibraryFile,
}

/// The engines directory as of one scan.
#[derive(Default)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, ScannedFile>,
    /// Loaded engines by name, newest version first.
    by_name: BTreeMap<String, Vec<Arc<LoadedEngine>>>,
}

impl Snapshot {
    /// The engine a session naming `reference` runs on: the newest version
    /// of the name, or exactly the version it pins.
    pub fn resolve(&self, reference: &EngineRef) -> Option<Arc<LoadedEngine>> {
        let versions = self.by_name.get(&reference.name)?;
        match &reference.version {
            None => versions.first().cloned(),
            Some(version) => versions
                .iter()
                .find(|engine| engine.version() == version)
                .cloned(),
        }
    }

    /// Every loaded engine, by name, newest version first.
    pub fn engines(&self) -> impl Iterator<Item = &Arc<LoadedEngine>> {
        self.by_name.values().flatten()
    }

    /// Every library file, in file-name order.
    pub fn libraries(&self) -> impl Iterator<Item = &LibraryFile> {
        self.files.values().map(|scanned| &scanned.standing)
    }

    pub fn rejected(&self) -> impl Iterator<Item = &RejectedLibrary> {
        self.libraries().filter_map(|library| match library {
            LibraryFile::Rejected(rejected) => Some(rejected.as_ref()),
            LibraryFile::Loaded(_) => None,
        })
    }

    /// The engines that support `operation`, as a session would name them:
    /// `name` when the newest version does, `name@version` for an older one.
    pub fn supporting(&self, operation: Operation) -> Vec<String> {
        self.by_name
            .values()
            .flat_map(|versions| {
                versions
                    .iter()
                    .enumerate()
                    .filter(|(_, engine)| engine.feature(operation) == Feature::Supported)
                    .map(|(index, engine)| {
                        if index == 0 {
                            engine.name().to_owned()
                        } else {
                            engine.label()
                        }
                    })
            })
            .collect()
    }

    /// Every loaded engine as `name@version`, for error messages.
    pub fn labels(&self) -> Vec<String> {
        self.engines().map(|engine| engine.label()).collect()
    }

    /// Places a loaded library among the engines, unless another file of
    /// this scan already gave the same name and version.
    fn admit(&mut self, file: &Path, load_outcome: &LibraryFile) -> LibraryFile {
        let LibraryFile::Loaded(engine) = load_outcome else {
            return load_outcome.clone();
        };
        let versions = self.by_name.entry(engine.name().to_owned()).or_default();
        if let Some(existing) = versions.iter().find(|e| e.version() == engine.version()) {
            return LibraryFile::Rejected(Arc::new(RejectedLibrary {
                file: file.to_owned(),
                reason: format!(
                    "{} is already loaded from {}",
                    engine.label(),
                    existing.file().display()
                ),
                manifest: Some(Box::new(engine.manifest().clone())),
            }));
        }
        versions.push(Arc::clone(engine));
        load_outcome.clone()
    }
}

/// What a rescan changed.
#[derive(Debug, Default, Clone)]
pub struct ReloadReport {
    /// Engines loaded by this scan, as `name@version`.
    pub added: Vec<String>,
    /// Engines no longer offered to new sessions, as `name@version`.
    pub removed: Vec<String>,
    /// Library files rejected by this scan (new or changed ones).
    pub rejected: Vec<RejectedLibrary>,
}

/// The engines of one directory, rescanned on demand.
pub struct Registry {
    dir: PathBuf,
    loader: Loader,
    current: RwLock<Arc<Snapshot>>,
    /// Engines dropped by a rescan; alive while a session still runs on one.
    retired: Mutex<Vec<Weak<LoadedEngine>>>,
    /// One rescan at a time.
    rescanning: Mutex<()>,
}

impl Registry {
    /// Loads every library in `dir` with `loader`. A missing or unreadable
    /// directory gives an empty registry: the host still serves, and
    /// `GET /api/server/engines` shows that nothing is loaded.
    pub fn load(dir: &Path, loader: Loader) -> Self {
        let registry = Self::empty(dir, loader);
        if let Err(err) = registry.rescan() {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot read the engines directory; no engine is loaded");
        }
        registry
    }

    /// Like [`Registry::load`], but a directory that cannot be read is an
    /// error, for tools that have nothing to do without it.
    pub fn try_load(dir: &Path, loader: Loader) -> std::io::Result<Self> {
        let registry = Self::empty(dir, loader);
        registry.rescan()?;
        Ok(registry)
    }

    fn empty(dir: &Path, loader: Loader) -> Self {
        Self {
            dir: dir.to_owned(),
            loader,
            current: RwLock::default(),
            retired: Mutex::default(),
            rescanning: Mutex::default(),
        }
    }

    /// The engines directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current scan.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Engines a rescan dropped that sessions still run on.
    pub fn retired(&self) -> Vec<Arc<LoadedEngine>> {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|engine| engine.strong_count() > 0);
        retired.iter().filter_map(Weak::upgrade).collect()
    }

    /// The library files of the directory and their fingerprints, to tell
    /// whether it changed since the last scan.
    pub fn listing(&self) -> std::io::Result<Vec<(PathBuf, Fingerprint)>> {
        library_files(&self.dir)?
            .into_iter()
            .map(|file| Fingerprint::of(&file).map(|fingerprint| (file, fingerprint)))
            .collect()
    }

    /// Whether the directory holds exactly what the current scan saw.
    pub fn is_current(&self, listing: &[(PathBuf, Fingerprint)]) -> bool {
        let snapshot = self.snapshot();
        snapshot.files.len() == listing.len()
            && listing.iter().all(|(file, fingerprint)| {
                snapshot
                    .files
                    .get(file)
                    .is_some_and(|scanned| &scanned.fingerprint == fingerprint)
            })
    }

    /// Rescans the directory: new and changed libraries are loaded (see
    /// [`Loader`]), unchanged ones kept as they are, and removed ones no
    /// longer offered to new sessions. Blocks while libraries load.
    ///
    /// When the directory cannot be read the current scan stays in place.
    pub fn rescan(&self) -> std::io::Result<ReloadReport> {
        let _one_at_a_time = self
            .rescanning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        let mut next = Snapshot::default();
        let mut report = ReloadReport::default();
        for file in library_files(&self.dir)? {
            let fingerprint = match Fingerprint::of(&file) {
                Ok(fingerprint) => fingerprint,
                // Removed between listing and reading: as if never listed.
                Err(_) => continue,
            };
            let unchanged = old
                .files
                .get(&file)
                .filter(|scanned| scanned.fingerprint == fingerprint);
            let load_outcome = match unchanged {
                Some(scanned) => scanned.load_outcome.clone(),
                None => match self.loader.load_as_of(&file, &fingerprint) {
                    Ok(engine) => LibraryFile::Loaded(Arc::new(engine)),
                    Err(rejected) => LibraryFile::Rejected(Arc::new(rejected)),
                },
            };
            let standing = next.admit(&file, &load_outcome);
            // A new or changed file's rejection is news, whether loading it
            // failed or it repeats an engine another file gave.
            if let (None, LibraryFile::Rejected(rejected)) = (unchanged, &standing) {
                report.rejected.push(RejectedLibrary::clone(rejected));
            }
            next.files.insert(
                file,
                ScannedFile {
                    fingerprint,
                    load_outcome,
                    standing,
                },
            );
        }
        for versions in next.by_name.values_mut() {
            versions.sort_by(|a, b| b.version().cmp(a.version()));
        }

        let contains = |snapshot: &Snapshot, engine: &Arc<LoadedEngine>| {
            snapshot.engines().any(|other| Arc::ptr_eq(other, engine))
        };
        for engine in next.engines().filter(|engine| !contains(&old, engine)) {
            tracing::info!(engine = engine.name(), version = %engine.version(), file = %engine.file().display(), "engine loaded");
            report.added.push(engine.label());
        }
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        for engine in old.engines().filter(|engine| !contains(&next, engine)) {
            tracing::info!(engine = engine.name(), version = %engine.version(), "engine no longer offered to new sessions");
            report.removed.push(engine.label());
            retired.push(Arc::downgrade(engine));
        }
        for rejected in &report.rejected {
            tracing::warn!(file = %rejected.file.display(), reason = %rejected.reason, "engine library rejected");
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(report)
    }
}

/// The shared libraries in `dir`, in file-name order.
fn library_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension() == Some(DLL_EXTENSION.as_ref()))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::{
        probe::testing::{LOADABLE, stand_in},
        *,
    };

    fn loader() -> Loader {
        Loader::new(PrivateCopies::temporary().unwrap(), stand_in())
    }

    #[test]
    fn files_that_are_not_engines_are_rejected_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        // The child passes it, so the host's own checks reject it.
        fs::write(dir.path().join(format!("junk.{DLL_EXTENSION}")), LOADABLE).unwrap();
        fs::write(dir.path().join("notes.txt"), b"ignored: not a library file").unwrap();
        let registry = Registry::load(dir.path(), loader());
        let snapshot = registry.snapshot();
        assert_eq!(snapshot.engines().count(), 0);
        let rejected: Vec<_> = snapshot.rejected().collect();
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].reason.starts_with("cannot load the library"));
    }

    #[test]
    fn a_library_that_crashes_the_loader_is_rejected_and_the_scan_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(format!("a.{DLL_EXTENSION}")),
            "kill -BUS $$",
        )
        .unwrap();
        fs::write(dir.path().join(format!("b.{DLL_EXTENSION}")), LOADABLE).unwrap();
        let registry = Registry::load(dir.path(), loader());
        let snapshot = registry.snapshot();
        let reasons: Vec<&str> = snapshot.rejected().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2);
        assert!(
            reasons[0].starts_with("the library crashed the loader (SIGBUS)"),
            "{}",
            reasons[0]
        );
        // The scan went on to the next file, which the host's checks reject.
        assert!(
            reasons[1].starts_with("cannot load the library"),
            "{}",
            reasons[1]
        );
    }

    #[test]
    fn an_unchanged_file_is_not_loaded_again_and_a_changed_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("junk.{DLL_EXTENSION}"));
        fs::write(&file, "exit 1").unwrap();
        let registry = Registry::load(dir.path(), loader());
        let listing = registry.listing().unwrap();
        assert!(registry.is_current(&listing));
        let report = registry.rescan().unwrap();
        assert!(report.added.is_empty() && report.removed.is_empty());
        assert!(
            report.rejected.is_empty(),
            "an unchanged file is not loaded again"
        );

        let staged = dir.path().join("staged");
        fs::write(&staged, "exit 2").unwrap();
        fs::rename(&staged, &file).unwrap();
        assert!(!registry.is_current(&registry.listing().unwrap()));
        let report = registry.rescan().unwrap();
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].file, file);
    }

    #[test]
    fn a_missing_directory_loads_nothing_and_a_failed_rescan_keeps_the_scan() {
        let registry = Registry::load(Path::new("/nonexistent/wharf/engines"), loader());
        assert_eq!(registry.snapshot().engines().count(), 0);
        assert_eq!(registry.snapshot().libraries().count(), 0);
        assert!(registry.rescan().is_err());
    }
}
