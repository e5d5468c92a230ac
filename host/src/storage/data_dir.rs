//! The host's data directory: made private to the user, and locked while a
//! host runs on it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use wharf_engine_api::support::{create_private_dir_all, create_private_file};

/// What wharf keeps in the data directory, which earlier versions left
/// readable by everyone (directories 0755, files 0644, under the usual
/// umask): the database and its companions, the sessions' data (engine
/// credentials, contact books), the engines' private copies, and the lock.
const HOST_ENTRIES: [&str; 7] = [
    LOCK_FILE,
    "wharf.db",
    "wharf.db-wal",
    "wharf.db-shm",
    "wharf.db-journal",
    "sessions",
    "engine-copies",
];

/// How many changed paths [`prepare_data_dir`] names in the log before it
/// only counts them.
const LOGGED_CHANGES: usize = 20;

/// Prepares the data directory `dir` for a host: creates it private to the
/// user (0700) if missing; if it exists, takes group and other access away
/// from it and from what the host keeps in it ([`HOST_ENTRIES`], the
/// sessions' data all the way down), as earlier versions left them
/// readable by everyone. Each change is logged.
///
/// Symbolic links inside are neither changed nor followed: what they point
/// to is not the host's. Other files the operator put in the directory are
/// left as they are (the directory itself is private). An entry that
/// cannot be changed (one another user owns) is logged and left: the host
/// still starts.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    create_private_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        let mut changes = permissions::Changes::default();
        // The directory itself may be an operator's link to another disk:
        // that is the directory meant, so it is followed.
        changes.tighten(dir, true);
        for name in HOST_ENTRIES {
            changes.tighten_tree(&dir.join(name));
        }
        changes.log(dir);
    }
    Ok(())
}

/// The lock a host holds on its data directory while it runs.
///
/// Two hosts on one directory would overwrite each other's sessions: one
/// deletes a session the other goes on writing to, and acknowledged
/// changes are lost. The easy way there is starting a new host while the
/// old one is still stopping. The operating system releases the lock when
/// the process ends, however it ends, so a crash never leaves it behind.
#[must_use = "the data directory is locked only while this is held"]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// The file in the data directory whose lock [`lock_data_dir`] takes.
const LOCK_FILE: &str = "wharf.lock";

/// Takes the lock on the data directory `dir`, or says which file another
/// host holds it through.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = dir.join(LOCK_FILE);
    create_private_file(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is in use by another wharf (it holds the lock on {}): two hosts on one data \
             directory would overwrite each other's sessions; stop the other host or give \
             this one its own --data-dir",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(unix)]
mod permissions {
    use std::{fs, io, os::unix::fs::PermissionsExt, path::Path};

    use super::{LOGGED_CHANGES, PathBuf};

    /// The group and other permission bits.
    const NOT_PRIVATE: u32 = 0o077;

    /// What was changed, and what could not be.
    #[derive(Default)]
    pub(super) struct Changes {
        changed: Vec<(PathBuf, u32, u32)>,
        failed: Vec<(PathBuf, io::Error)>,
    }

    impl Changes {
        /// Takes group and other access away from `path` and, if it is a
        /// directory, from everything under it; links are skipped.
        pub(super) fn tighten_tree(&mut self, path: &Path) {
            let mut pending = vec![path.to_owned()];
            while let Some(path) = pending.pop() {
                if !self.tighten(&path, false) {
                    continue;
                }
                match fs::read_dir(&path) {
                    Ok(entries) => {
                        for entry in entries {
                            match entry {
                                Ok(entry) => pending.push(entry.path()),
                                Err(err) => self.failed.push((path.clone(), err)),
                            }
                        }
                    }
                    Err(err) => self.failed.push((path.clone(), err)),
                }
            }
        }

        /// Takes group and other access away from `path` itself; returns
        /// whether it is a directory to look into. A missing `path` is not
        /// an error (an earlier version may not have made it); a link is
        /// left alone unless `follow`.
        pub(super) fn tighten(&mut self, path: &Path, follow: bool) -> bool {
            let metadata = if follow {
                fs::metadata(path)
            } else {
                fs::symlink_metadata(path)
            };
            let metadata = match metadata {
                Ok(metadata) => metadata,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return false,
                Err(err) => {
                    self.failed.push((path.to_owned(), err));
                    return false;
                }
            };
            if metadata.file_type().is_symlink() {
                return false;
            }
            let mode = metadata.permissions().mode() & 0o7777;
            if mode & NOT_PRIVATE != 0 {
                let private = mode & !NOT_PRIVATE;
                match fs::set_permissions(path, fs::Permissions::from_mode(private)) {
                    Ok(()) => self.changed.push((path.to_owned(), mode, private)),
                    Err(err) => self.failed.push((path.to_owned(), err)),
                }
            }
            metadata.is_dir()
        }

        /// Logs each change (the first [`LOGGED_CHANGES`], then a count)
        /// and each failure.
        pub(super) fn log(self, dir: &Path) {
            for (path, was, now) in self.changed.iter().take(LOGGED_CHANGES) {
                tracing::warn!(
                    path = %path.display(),
                    was = format_args!("{was:o}"),
                    now = format_args!("{now:o}"),
                    "made private: it was open to other users"
                );
            }
            if let Some(more) = self.changed.len().checked_sub(LOGGED_CHANGES)
                && more > 0
            {
                tracing::warn!(
                    dir = %dir.display(),
                    more,
                    "made {more} more files and directories private"
                );
            }
            for (path, err) in self.failed.iter().take(LOGGED_CHANGES) {
                tracing::warn!(
                    path = %path.display(),
                    error = %err,
                    "cannot make private: it may be open to other users"
                );
            }
            if let Some(more) = self.failed.len().checked_sub(LOGGED_CHANGES)
                && more > 0
            {
                tracing::warn!(
                    dir = %dir.display(),
                    more,
                    "cannot make {more} more files and directories private"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    use crate::storage::tests::mode;

    #[cfg(unix)]
    #[test]
    fn an_open_data_directory_is_made_private() {
        use std::{
            fs,
            os::unix::fs::{PermissionsExt, symlink},
        };
        let set = |path: &Path, mode: u32| {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap()
        };
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let session = data.join("sessions").join("s1");
        fs::create_dir_all(&session).unwrap();
        fs::create_dir_all(data.join("engine-copies")).unwrap();
        for file in [data.join("wharf.db"), session.join("whatsapp.db")] {
            fs::write(&file, b"").unwrap();
            set(&file, 0o644);
        }
        fs::write(data.join("notes.txt"), b"the operator's").unwrap();
        set(&data.join("notes.txt"), 0o644);
        let outside = root.path().join("outside.json");
        fs::write(&outside, b"{}").unwrap();
        set(&outside, 0o644);
        symlink(&outside, session.join("link.json")).unwrap();
        for dir in [
            &data,
            &data.join("sessions"),
            &session,
            &data.join("engine-copies"),
        ] {
            set(dir, 0o755);
        }
        set(&session.join("whatsapp.db"), 0o4764);

        prepare_data_dir(&data).unwrap();

        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("sessions")), 0o700);
        assert_eq!(mode(&session), 0o700);
        assert_eq!(mode(&data.join("engine-copies")), 0o700);
        assert_eq!(mode(&data.join("wharf.db")), 0o600);
        assert_eq!(
            mode(&session.join("whatsapp.db")),
            0o4700,
            "only group and other bits go"
        );
        assert_eq!(mode(&data.join("notes.txt")), 0o644, "not the host's");
        assert_eq!(mode(&outside), 0o644, "links are not followed");
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_data_directory_is_created_private() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("a").join("data");
        prepare_data_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
    }
}
