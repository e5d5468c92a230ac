//! Helpers that engines share. Not part of the boundary: plain Rust that
//! saves engine authors from writing the same careful code again.

mod contact_book;
mod contact_changes;
mod memory_store;

pub use contact_book::ContactBook;
pub use contact_changes::contact_changes;
pub use memory_store::MemoryStore;

use std::{
    ffi::OsStr,
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

/// Writes `bytes` to the file `name` in `dir` so that a crash at any moment
/// leaves either the old file or the new one, never a mix: the bytes go to a
/// new temporary file beside the target, which is synced and renamed over
/// it; then the directory is synced so the rename is durable.
///
/// - **Directory**: `dir` is created if missing, private to the user
///   ([`create_private_dir_all`]).
/// - **Permissions**: a new file is private to the user (mode 0600 on Unix),
///   never readable by others. A file that already exists keeps its
///   permission bits (0640 stays 0640). If it belongs to a group the new
///   file cannot be given, the group bits are dropped rather than granted to
///   another group. Set-id and sticky bits are not carried over, and the
///   new file belongs to the user who writes it.
/// - **Symbolic links**: when `dir/name` is a symbolic link, the link is
///   followed (through any chain of links) and the file it points to is
///   replaced, atomically, in that file's own directory; the link itself is
///   left as it is, so an operator who linked the file elsewhere keeps the
///   link. A link whose target does not exist is an error that names the
///   link and its target: the file is not created behind it.
/// - **Concurrent writers**: each write has its own temporary file (a unique
///   name, `.NAME.XXXXXX.tmp`, created exclusively), so writers of the same
///   file never collide; the last rename wins, and a reader always sees one
///   whole version. A failed write removes its temporary file; only a crash
///   in the middle of a write can leave one behind, which is never read.
///
/// `name` must be a plain file name (no directory part): anything else is
/// [`io::ErrorKind::InvalidInput`].
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    if Path::new(name).file_name() != Some(OsStr::new(name)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name"),
        ));
    }
    create_private_dir_all(dir)?;
    let target = resolve_links(&dir.join(name))?;
    // `resolve_links` gives a path with a file name, hence a parent; the
    // fallback only keeps this total.
    let target_dir = target.parent().unwrap_or(dir);
    let existing = match fs::metadata(&target) {
        Ok(metadata) => Some(metadata),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    // tempfile creates the file exclusively (O_EXCL) under a random name,
    // mode 0600, and removes it again if anything below fails.
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(target_dir)?;
    if let Some(existing) = &existing {
        keep_permissions(temporary.as_file(), existing)?;
    }
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    temporary.persist(&target).map_err(|err| err.error)?;
    sync_dir(target_dir)
}

/// Creates `dir` and any missing parents, each private to the user (mode
/// 0700 on Unix, less whatever the process umask removes). Directories that
/// already exist are left as they are.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty file at `path`, private to the user (mode 0600 on
/// Unix), unless something is already there: an existing file (or link) is
/// left as it is.
///
/// For files that another library creates and fills: SQLite, for one,
/// makes a new database readable by everyone (0644, less the umask), but
/// takes an existing empty file as an empty database and gives its `-wal`,
/// `-shm` and journal files the database file's mode. So
/// `create_private_file(&path)` before opening `path` keeps the whole
/// database private.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    // create_new: never truncates, and never follows a link at `path`.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// The file `path` stands for: `path` itself, or, when it is a symbolic
/// link, the file at the end of its chain of links. A link that leads
/// nowhere is an error naming it.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|err| {
                // Best effort: the link may have changed since it was read.
                let target = fs::read_link(path)
                    .map(|target| target.display().to_string())
                    .unwrap_or_else(|_| "?".to_owned());
                io::Error::new(
                    err.kind(),
                    format!(
                        "{} is a symbolic link to {target}, which cannot be followed: {err}",
                        path.display()
                    ),
                )
            })
        }
        Ok(_) => Ok(path.to_owned()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
        Err(err) => Err(err),
    }
}

/// Gives the new file `file` the permissions of the file it replaces.
#[cfg(unix)]
fn keep_permissions(file: &fs::File, existing: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    // The read, write and execute bits only: set-id bits on a file that now
    // belongs to whoever wrote it would be a new power, not a kept one.
    let mut mode = existing.mode() & 0o777;
    let group = existing.gid();
    if file.metadata()?.gid() != group
        && std::os::unix::fs::fchown(file, None, Some(group)).is_err()
    {
        // The writer is not in the file's group: the group bits would
        // otherwise let the writer's own group read what another could.
        mode &= !0o070;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn keep_permissions(file: &fs::File, existing: &fs::Metadata) -> io::Result<()> {
    file.set_permissions(existing.permissions())
}

/// Makes the entries of `dir` durable: the rename that replaced a file.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory to sync it: the rename is as durable as
/// the file system makes it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The numbers WhatsApp may know `phone` (digits, country code first)
/// under, the given one first. Brazilian mobile numbers gained a 9th digit
/// in 2012, but accounts registered before then are still known without
/// it, so for them both forms are returned.
pub fn whatsapp_variants(phone: &str) -> Vec<String> {
    let mut variants = vec![phone.to_owned()];
    if let Some(national) = phone.strip_prefix("55") {
        let (area, subscriber) = national.split_at(national.len().min(2));
        match subscriber.len() {
            9 if subscriber.starts_with('9') => {
                variants.push(format!("55{area}{}", &subscriber[1..]))
            }
            8 => variants.push(format!("55{area}9{subscriber}")),
            _ => {}
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brazilian_mobiles_are_tried_with_and_without_the_ninth_digit() {
        assert_eq!(
            whatsapp_variants("5511987654321"),
            ["5511987654321", "551187654321"]
        );
        assert_eq!(
            whatsapp_variants("551187654321"),
            ["551187654321", "5511987654321"]
        );
        assert_eq!(whatsapp_variants("14155550100"), ["14155550100"]);
        // A Brazilian landline (8 digits not after a 9) has one form.
        assert_eq!(whatsapp_variants("55113456789"), ["55113456789"]);
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn atomic_writes_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        write_atomically(dir.path(), "f.json", b"one").unwrap();
        write_atomically(dir.path(), "f.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("f.json")).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["f.json"], "no temporary file is left");
    }

    #[test]
    fn the_directory_is_created_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("b");
        write_atomically(&dir, "f.json", b"one").unwrap();
        #[cfg(unix)]
        for dir in [root.path().join("a"), dir] {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", dir.display());
        }
    }

    #[test]
    fn a_name_with_a_directory_part_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", ".", "..", "a/b", "../f.json", "/etc/passwd"] {
            let err = write_atomically(dir.path(), name, b"x").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name:?}: {err}");
        }
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn concurrent_writers_never_collide_and_readers_see_whole_files() {
        use std::sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        };

        const WRITES: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        // Two payloads of different lengths and bytes: a mix of the two, or
        // a partly written one, is neither.
        let payloads: Arc<[Vec<u8>; 2]> = Arc::new([vec![b'a'; 64 * 1024], vec![b'b'; 100_000]]);
        write_atomically(dir.path(), "f.json", &payloads[0]).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, payloads, done) = (
                dir.path().join("f.json"),
                Arc::clone(&payloads),
                Arc::clone(&done),
            );
            std::thread::spawn(move || {
                let mut reads = 0_usize;
                while !done.load(Ordering::Relaxed) {
                    let seen = fs::read(&path).unwrap();
                    assert!(
                        payloads.contains(&seen),
                        "read {} bytes that are not one whole payload",
                        seen.len()
                    );
                    reads += 1;
                }
                reads
            })
        };
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                let (dir, payloads) = (dir.path().to_owned(), Arc::clone(&payloads));
                std::thread::spawn(move || {
                    for _ in 0..WRITES {
                        write_atomically(&dir, "f.json", &payloads[writer]).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert!(payloads.contains(&fs::read(dir.path().join("f.json")).unwrap()));
        assert_eq!(names(dir.path()), ["f.json"], "no temporary file is left");
    }

    #[cfg(unix)]
    mod unix {
        use std::os::unix::fs::{PermissionsExt, symlink};

        use super::*;

        fn mode(path: &Path) -> u32 {
            fs::metadata(path).unwrap().permissions().mode() & 0o7777
        }

        #[test]
        fn create_private_file_makes_a_private_file_and_leaves_an_existing_one() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db");
            create_private_file(&path).unwrap();
            assert_eq!(mode(&path), 0o600);
            assert_eq!(fs::read(&path).unwrap(), b"");

            fs::write(&path, b"data").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            create_private_file(&path).unwrap();
            assert_eq!(mode(&path), 0o640);
            assert_eq!(fs::read(&path).unwrap(), b"data");

            let link = dir.path().join("link");
            symlink(dir.path().join("missing"), &link).unwrap();
            create_private_file(&link).unwrap();
            assert!(
                !dir.path().join("missing").exists(),
                "a link is not followed"
            );
        }

        #[test]
        fn a_new_file_is_private() {
            let dir = tempfile::tempdir().unwrap();
            write_atomically(dir.path(), "creds.json", b"secret").unwrap();
            assert_eq!(mode(&dir.path().join("creds.json")), 0o600);
        }

        #[test]
        fn an_existing_file_keeps_its_permissions() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.json");
            for kept in [0o640, 0o600, 0o644, 0o400, 0o750] {
                fs::write(&path, b"old").unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(kept)).unwrap();
                write_atomically(dir.path(), "f.json", b"new").unwrap();
                assert_eq!(mode(&path), kept, "{kept:o}");
                assert_eq!(fs::read(&path).unwrap(), b"new");
            }
        }

        #[test]
        fn set_id_bits_are_not_carried_over() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.json");
            fs::write(&path, b"old").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o4750)).unwrap();
            write_atomically(dir.path(), "f.json", b"new").unwrap();
            assert_eq!(mode(&path), 0o750);
        }

        #[test]
        fn a_symlink_is_followed_and_the_file_it_points_to_replaced() {
            let root = tempfile::tempdir().unwrap();
            let (dir, elsewhere) = (root.path().join("data"), root.path().join("elsewhere"));
            fs::create_dir_all(&dir).unwrap();
            fs::create_dir_all(&elsewhere).unwrap();
            let real = elsewhere.join("real.json");
            fs::write(&real, b"old").unwrap();
            fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
            // A chain of links, relative and absolute.
            symlink("../elsewhere/real.json", elsewhere.join("hop.json")).unwrap();
            symlink(elsewhere.join("hop.json"), dir.join("f.json")).unwrap();

            write_atomically(&dir, "f.json", b"new").unwrap();

            assert_eq!(
                fs::read_link(dir.join("f.json")).unwrap(),
                elsewhere.join("hop.json"),
                "the link is kept"
            );
            assert_eq!(
                fs::read_link(elsewhere.join("hop.json")).unwrap(),
                Path::new("../elsewhere/real.json")
            );
            assert_eq!(fs::read(&real).unwrap(), b"new");
            assert_eq!(mode(&real), 0o640);
            assert_eq!(names(&dir), ["f.json"]);
            assert_eq!(
                names(&elsewhere),
                ["hop.json", "real.json"],
                "no temporary file is left"
            );
        }

        #[test]
        fn a_dangling_symlink_is_an_error_naming_it() {
            let dir = tempfile::tempdir().unwrap();
            let missing = dir.path().join("gone").join("real.json");
            symlink(&missing, dir.path().join("f.json")).unwrap();

            let err = write_atomically(dir.path(), "f.json", b"new").unwrap_err();

            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            let message = err.to_string();
            assert!(
                message.contains(&dir.path().join("f.json").display().to_string()),
                "{message}"
            );
            assert!(
                message.contains(&missing.display().to_string()),
                "{message}"
            );
            assert!(!missing.exists(), "nothing is created behind the link");
            assert_eq!(fs::read_link(dir.path().join("f.json")).unwrap(), missing);
            assert_eq!(names(dir.path()), ["f.json"]);
        }
    }
}
