//! How the host loads an engine library without ever risking its own life
//! on the file.
//!
//! 1. The file is copied to a private copy, and the copy is used only if
//!    the file kept its [`Fingerprint`] across the copy and the copy got all
//!    of it: a file still being written, or rewritten in place, is rejected
//!    for now and tried again when it next changes. The copy is read-only
//!    and synced; only the host writes the copies directory, so it cannot
//!    change from here on, whatever happens to the engines directory.
//! 2. A short-lived child process loads the copy with every check the host
//!    makes ([`super::probe`]). A library that crashes, hangs or fails a
//!    check is rejected with the reason.
//! 3. Only then does the host load the same copy itself, and unlink it (the
//!    mapping outlives the name).
//!
//! A changed file thereby loads as new code even at the same path, which
//! the dynamic loader would otherwise answer from its cache of loaded paths.

use std::{
    fs::{self, File, OpenOptions},
    io,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use tempfile::TempDir;

use super::{
    library::{Fingerprint, LoadError, LoadedEngine, RejectedLibrary, load_library},
    probe::Probe,
};

/// Loads libraries as the module documentation says.
pub struct Loader {
    copies: PrivateCopies,
    probe: Probe,
}

impl Loader {
    pub fn new(copies: PrivateCopies, probe: Probe) -> Self {
        Self { copies, probe }
    }

    /// For a command that loads libraries once and exits: copies in a
    /// temporary directory, checked by this very binary.
    pub fn for_tool() -> io::Result<Self> {
        Ok(Self::new(
            PrivateCopies::temporary()?,
            Probe::this_binary()?,
        ))
    }

    /// Loads `file` as it is now.
    pub fn load(&self, file: &Path) -> Result<LoadedEngine, RejectedLibrary> {
        match Fingerprint::of(file) {
            Ok(fingerprint) => self.load_as_of(file, &fingerprint),
            Err(err) => Err(RejectedLibrary {
                file: file.to_owned(),
                reason: format!("cannot read the library: {err}"),
                manifest: None,
            }),
        }
    }

    /// Loads `file` if it still has `fingerprint`, the one a scan recorded:
    /// what is loaded is then exactly what the scan saw.
    pub fn load_as_of(
        &self,
        file: &Path,
        fingerprint: &Fingerprint,
    ) -> Result<LoadedEngine, RejectedLibrary> {
        self.try_load(file, fingerprint)
            .map_err(|(reason, manifest)| RejectedLibrary {
                file: file.to_owned(),
                reason,
                manifest,
            })
    }

    fn try_load(&self, file: &Path, fingerprint: &Fingerprint) -> Result<LoadedEngine, LoadError> {
        let copy = self
            .copies
            .copy(file, fingerprint)
            .map_err(|reason| (reason, None))?;
        self.probe.check(copy.path())?;
        load_library(copy.path(), file)
    }
}

/// The directory private copies are made in.
#[derive(Debug)]
pub struct PrivateCopies {
    dir: PathBuf,
    /// Removes a temporary directory when the copies are no longer needed.
    _temporary: Option<TempDir>,
}

impl PrivateCopies {
    /// Uses `dir`, emptied first: copies left by a crashed host are stale.
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        fs::create_dir_all(&dir)?;
        Ok(Self {
            // Absolute, so that the dynamic loader takes the copy's path as
            // a path, and the child process finds it from any directory.
            dir: std::path::absolute(&dir)?,
            _temporary: None,
        })
    }

    /// A new temporary directory, removed when this is dropped.
    pub fn temporary() -> io::Result<Self> {
        let temporary = tempfile::Builder::new()
            .prefix("wharf-engine-copies-")
            .tempdir()?;
        Ok(Self {
            dir: std::path::absolute(temporary.path())?,
            _temporary: Some(temporary),
        })
    }

    /// Copies `file`, which must have `expected` as its fingerprint before
    /// and after the copy.
    fn copy(&self, file: &Path, expected: &Fingerprint) -> Result<PrivateCopy, String> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let changed = || {
            "the file changed while it was being copied (is it still being written?); \
             it is tried again once it changes"
                .to_owned()
        };
        let mut source =
            File::open(file).map_err(|err| format!("cannot read the library: {err}"))?;
        let fingerprint_now = |source: &File| {
            source
                .metadata()
                .map(|metadata| Fingerprint::from_metadata(&metadata))
                .map_err(|err| format!("cannot read the library: {err}"))
        };
        if fingerprint_now(&source)? != *expected {
            return Err(changed());
        }
        let name = file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = PrivateCopy(self.dir.join(format!(
            "{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )));
        let cannot =
            |err: io::Error| format!("cannot copy the library to {}: {err}", self.dir.display());
        let mut target = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(copy.path())
            .map_err(cannot)?;
        let copied = io::copy(&mut source, &mut target).map_err(cannot)?;
        // A write the file system could not keep (a full disk) shows here,
        // not as a hole in a mapped library.
        target.sync_all().map_err(cannot)?;
        let mut permissions = target.metadata().map_err(cannot)?.permissions();
        permissions.set_readonly(true);
        target.set_permissions(permissions).map_err(cannot)?;
        if copied != expected.len() || fingerprint_now(&source)? != *expected {
            return Err(changed());
        }
        Ok(copy)
    }
}

/// A private copy of a library, unlinked when dropped: once the library is
/// loaded (or rejected) the name is no longer needed.
struct PrivateCopy(PathBuf);

impl PrivateCopy {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::probe::testing::{LOADABLE, stand_in};

    #[test]
    fn files_that_are_not_engines_are_rejected_and_their_copies_removed() {
        let dir = tempfile::tempdir().unwrap();
        // The child passes it, so the host's own checks reject it.
        let junk = dir.path().join("junk.so");
        fs::write(&junk, LOADABLE).unwrap();
        let copies = PrivateCopies::new(dir.path().join("copies")).unwrap();
        let loader = Loader::new(copies, stand_in());
        let rejected = loader.load(&junk).err().unwrap();
        assert_eq!(rejected.file, junk);
        assert!(
            rejected.reason.starts_with("cannot load the library"),
            "{}",
            rejected.reason
        );
        assert_eq!(fs::read_dir(dir.path().join("copies")).unwrap().count(), 0);
    }

    #[test]
    fn a_file_that_changed_since_it_was_scanned_is_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("engine.so");
        fs::write(&file, "v1").unwrap();
        let scanned = Fingerprint::of(&file).unwrap();
        fs::write(&file, "v2, longer").unwrap();
        let copies = PrivateCopies::new(dir.path().join("copies")).unwrap();
        let reason = copies.copy(&file, &scanned).err().unwrap();
        assert!(reason.starts_with("the file changed while"), "{reason}");
        assert_eq!(fs::read_dir(dir.path().join("copies")).unwrap().count(), 0);
    }

    #[test]
    fn a_copy_is_whole_read_only_and_removed_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("engine.so");
        fs::write(&file, "the library").unwrap();
        let copies = PrivateCopies::new(dir.path().join("copies")).unwrap();
        let copy = copies
            .copy(&file, &Fingerprint::of(&file).unwrap())
            .unwrap();
        assert!(copy.path().is_absolute());
        assert_eq!(fs::read(copy.path()).unwrap(), b"the library");
        assert!(fs::metadata(copy.path()).unwrap().permissions().readonly());
        let path = copy.path().to_owned();
        drop(copy);
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_file_is_rejected_with_the_reason() {
        let loader = Loader::new(PrivateCopies::temporary().unwrap(), stand_in());
        let rejected = loader
            .load(Path::new("/nonexistent/engine.so"))
            .err()
            .unwrap();
        assert!(
            rejected.reason.starts_with("cannot read the library"),
            "{}",
            rejected.reason
        );
    }
}
