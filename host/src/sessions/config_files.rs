//! Files that session configs may name (a sandbox fixture, say), read for
//! engines by the host under one rule.
//!
//! A session config comes from an API client, so a path in it is untrusted:
//! it could name `/etc/shadow`, `/dev/zero` or a FIFO. Engines therefore
//! never open such paths themselves; they ask the host
//! ([`wharf_engine_api::Host::read_config_file`]), which reads only:
//!
//! - from the directory the operator chose (`--config-files-dir`); with
//!   none, no file at all;
//! - a name inside it: relative, without `..`, not leading out through a
//!   symbolic link;
//! - a regular file (not a device, FIFO or socket), opened without
//!   blocking, of at most [`MAX_FILE_SIZE`] bytes.
//!
//! Errors name the config field and the name as given, never the file's
//! content, and a name outside the directory gets the same answer whether
//! or not it exists there.

use std::{
    fs::File,
    io::{self, Read},
    path::{Component, Path, PathBuf},
};

use wharf_engine_api::EngineError;

/// The largest file a config may name: fixtures and certificates are far
/// smaller, and the whole file is held in memory.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// The directory session configs may name files in, if the operator chose one.
#[derive(Debug, Clone, Default)]
pub struct ConfigFiles {
    /// Canonical, so that a resolved name can be checked to stay inside.
    dir: Option<PathBuf>,
}

impl ConfigFiles {
    /// No directory: a config that names a file is refused.
    pub fn none() -> Self {
        Self::default()
    }

    /// Files under `dir`, which must be an existing directory.
    pub fn in_dir(dir: &Path) -> io::Result<Self> {
        let canonical = dir.canonicalize()?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(Self {
            dir: Some(canonical),
        })
    }

    /// The content of the file named `name` in the config's `field`.
    pub fn read(&self, field: &str, name: &str) -> Result<Vec<u8>, EngineError> {
        let refuse =
            |problem: String| EngineError::invalid_input(format!("config.{field}: {problem}"));
        let Some(dir) = &self.dir else {
            return Err(refuse(
                "this host reads no files named in session configs; its operator can allow a \
                 directory of them with --config-files-dir (WHARF_CONFIG_FILES_DIR)"
                    .into(),
            ));
        };
        let outside = || {
            refuse(format!(
                "{name:?} must name a file inside the host's config files directory \
                 (a relative name, without '..')"
            ))
        };
        if !is_plain_relative(name) {
            return Err(outside());
        }
        let path = match dir.join(name).canonicalize() {
            Ok(path) if path.starts_with(dir) => path,
            Ok(_) => return Err(outside()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(refuse(format!(
                    "no file {name:?} in the host's config files directory"
                )));
            }
            Err(_) => return Err(refuse(format!("{name:?} cannot be read"))),
        };
        read_regular_file(&path, MAX_FILE_SIZE)
            .map_err(|problem| refuse(format!("{name:?} {problem}")))
    }
}

/// Whether `name` is a relative path of ordinary components only.
fn is_plain_relative(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\0')
        && Path::new(name)
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// Reads `path` if it is a regular file of at most `limit` bytes. Opening
/// does not block (a FIFO would wait for a writer) and does not follow a
/// symbolic link swapped in after the path was checked.
fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = open_without_blocking(path).map_err(|_| "cannot be read".to_owned())?;
    let metadata = file.metadata().map_err(|_| "cannot be read".to_owned())?;
    if !metadata.is_file() {
        return Err("is not a regular file".into());
    }
    if metadata.len() > limit {
        return Err(format!("is larger than {limit} bytes"));
    }
    let mut content = Vec::with_capacity(metadata.len() as usize);
    // One byte over the limit tells a file that grew since it was checked.
    file.take(limit + 1)
        .read_to_end(&mut content)
        .map_err(|_| "cannot be read".to_owned())?;
    if content.len() as u64 > limit {
        return Err(format!("is larger than {limit} bytes"));
    }
    Ok(content)
}

#[cfg(unix)]
fn open_without_blocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<Vec<u8>, EngineError>) -> String {
        result.unwrap_err().message.into_string()
    }

    #[test]
    fn without_a_directory_no_file_is_read() {
        let files = ConfigFiles::none();
        let refused = message(files.read("fixture", "/etc/passwd"));
        assert!(
            refused.starts_with("config.fixture: this host reads no files"),
            "{refused}"
        );
    }

    #[test]
    fn only_regular_files_inside_the_directory_are_read() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::write(allowed.join("book.json"), b"{}").unwrap();
        std::fs::write(allowed.join("sub/other.json"), b"[]").unwrap();
        std::fs::write(root.path().join("secret.txt"), b"TOPSECRET").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.path().join("secret.txt"), allowed.join("link.json"))
            .unwrap();
        let files = ConfigFiles::in_dir(&allowed).unwrap();

        assert_eq!(files.read("fixture", "book.json").unwrap(), b"{}");
        assert_eq!(files.read("fixture", "sub/other.json").unwrap(), b"[]");
        for escape in [
            "../secret.txt",
            "/etc/shadow",
            "sub/../../secret.txt",
            "",
            "./book.json",
            "link.json",
        ] {
            let refused = message(files.read("fixture", escape));
            assert!(
                refused.contains("must name a file inside"),
                "{escape}: {refused}"
            );
            assert!(!refused.contains("TOPSECRET"));
        }
        let missing = message(files.read("fixture", "nope.json"));
        assert_eq!(
            missing,
            "config.fixture: no file \"nope.json\" in the host's config files directory"
        );
        let directory = message(files.read("fixture", "sub"));
        assert!(directory.ends_with("is not a regular file"), "{directory}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        let fifo = root.path().join("pipe.json");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        std::os::unix::fs::symlink("/dev/zero", root.path().join("zero.json")).unwrap();
        let files = ConfigFiles::in_dir(root.path()).unwrap();
        assert!(message(files.read("fixture", "pipe.json")).ends_with("is not a regular file"));
        // A link out of the directory, to a device: refused before opening.
        assert!(message(files.read("fixture", "zero.json")).contains("must name a file inside"));
        assert_eq!(
            read_regular_file(Path::new("/dev/zero"), 10),
            Err("is not a regular file".into())
        );
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let big = root.path().join("big.json");
        std::fs::write(&big, vec![b' '; 11]).unwrap();
        assert_eq!(
            read_regular_file(&big, 10),
            Err("is larger than 10 bytes".into())
        );
        assert_eq!(read_regular_file(&big, 11).unwrap().len(), 11);
    }
}
