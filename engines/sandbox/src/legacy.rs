//! Where a session's book is kept: an SQLite database in the session's data
//! directory, one row per contact.
//!
//! A change writes one row in one transaction, so its cost does not grow
//! with the book (the book used to be one JSON file, rewritten and synced
//! whole on every change). Commits are durable (WAL, `synchronous=FULL`):
//! a change the session acknowledged survives a crash. A `book.json` left
//! by an earlier version is imported once, then removed.
//!
//! The database is open only while it is read or written: a host runs
//! thousands of sessions, and a connection kept by each (the database, its
//! WAL and its shared memory: three files) would run the process out of
//! file descriptors. Changes are made by people, one at a time; opening the
//! database for each costs less than the sync each already makes.

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use wharf_engine_api::{
    EngineError,
    support::{create_private_dir_all, create_private_file},
};

use crate::{Book, book::Entry};

const DATABASE: &str = "book.sqlite3";
/// The file earlier versions kept the whole book in.
const LEGACY_JSON: &str = "book.json";

/// What the book holds besides its contacts, stored as one JSON value.
#[derive(Serialize, Deserialize)]
struct Header {
    description: String,
    registered: Vec<String>,
}

#[derive(Clone)]
pub(crate) struct BookStore {
    /// The database; opened by each read or write, closed after it.
    path: PathBuf,
}

impl BookStore {
    /// Opens (or creates) the store in `dir`; returns it with the saved
    /// book, or `None` for a session that has none yet.
    pub(crate) async fn open(dir: PathBuf) -> Result<(Self, Option<Book>), EngineError> {
        blocking(move || {
            // Private to the user (0700 and 0600), whatever the process's
            // umask: SQLite would make the database readable by everyone,
            // and gives its -wal and -shm files the database's mode.
            create_private_dir_all(&dir).map_err(|err| cannot("create", &dir, err))?;
            let path = dir.join(DATABASE);
            create_private_file(&path).map_err(|err| cannot("create", &path, err))?;
            let store = Self { path };
            let connection = store.connect()?;
            let book = match store.read(&connection)? {
                Some(book) => Some(book),
                None => store.import_legacy(&connection, &dir)?,
            };
            // Imported or not, a leftover JSON book is stale once a database
            // book exists (a crash may have come between import and removal).
            if book.is_some() {
                remove_if_present(&dir.join(LEGACY_JSON))?;
            }
            Ok((store, book))
        })
        .await
    }

    /// Whether `dir` holds a saved book (or one an earlier version saved).
    /// One look at the directory, made in place: a session that has none
    /// opens without a file and without a trip to the blocking pool.
    pub(crate) fn exists(dir: &Path) -> bool {
        dir.join(DATABASE).exists() || dir.join(LEGACY_JSON).exists()
    }

    /// Saves a whole new book, in one transaction. The book is shared with
    /// the blocking pool rather than copied.
    pub(crate) async fn create(&self, book: Arc<Book>) -> Result<(), EngineError> {
        let store = self.clone();
        blocking(move || write_book(&store.connect()?, &store.path, &book)).await
    }

    /// Saves one entry: a new contact is added after the others, a known
    /// one keeps its place.
    pub(crate) async fn save(&self, entry: &Entry) -> Result<(), EngineError> {
        let id = entry.contact.id.to_string();
        let json = encode(entry)?;
        let store = self.clone();
        blocking(move || {
            store
                .connect()?
                .execute(
                    "INSERT INTO contacts (id, entry) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET entry = excluded.entry",
                    params![id, json],
                )
                .map(drop)
                .map_err(|err| cannot("save", &store.path, err))
        })
        .await
    }

    /// The database, open until the connection is dropped.
    fn connect(&self) -> Result<Connection, EngineError> {
        let path = &self.path;
        let connection = Connection::open(path).map_err(|err| cannot("open", path, err))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS header (
                     only INTEGER PRIMARY KEY CHECK (only = 1),
                     book TEXT NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS contacts (
                     position INTEGER PRIMARY KEY,
                     id TEXT NOT NULL UNIQUE,
                     entry TEXT NOT NULL
                 );",
            )
            .map_err(|err| cannot("prepare", path, err))?;
        Ok(connection)
    }

    fn read(&self, connection: &Connection) -> Result<Option<Book>, EngineError> {
        let corrupt = |err: &dyn std::fmt::Display| {
            EngineError::internal(format!(
                "{} holds a book that cannot be read ({err}); delete the session's data to start again",
                self.path.display()
            ))
        };
        let header: Option<String> = connection
            .query_row("SELECT book FROM header", [], |row| row.get(0))
            .optional()
            .map_err(|err| corrupt(&err))?;
        let Some(header) = header else {
            return Ok(None);
        };
        let header: Header = serde_json::from_str(&header).map_err(|err| corrupt(&err))?;
        let mut query = connection
            .prepare("SELECT entry FROM contacts ORDER BY position")
            .map_err(|err| corrupt(&err))?;
        let mut entries = decoded(&mut query, &corrupt)?;
        // Each contact straight into the index, as a fixture's: a large
        // book is not also held as a list of contacts.
        let mut unreadable = None;
        let read = std::iter::from_fn(|| match entries.next()? {
            Ok(entry) => Some(entry),
            Err(err) => {
                unreadable = Some(err);
                None
            }
        });
        let book = Book::from_entries(header.description.clone(), read, header.registered.clone());
        if let Some(err) = unreadable {
            return Err(err);
        }
        if let Some(book) = book {
            return Ok(Some(book));
        }
        // A book with a problem: read again as one list, whose check names it.
        drop(entries);
        let contacts = decoded(&mut query, &corrupt)?.collect::<Result<Vec<_>, _>>()?;
        Book::new(header.description, contacts, header.registered)
            .map_err(|problem| corrupt(&problem))
            .map(Some)
    }

    /// Moves a book that an earlier version saved as JSON into the database.
    fn import_legacy(
        &self,
        connection: &Connection,
        dir: &Path,
    ) -> Result<Option<Book>, EngineError> {
        let legacy = dir.join(LEGACY_JSON);
        let json = match std::fs::read_to_string(&legacy) {
            Ok(json) => json,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(cannot("read", &legacy, err)),
        };
        let book = Book::parse(&json, &legacy.display().to_string())?;
        write_book(connection, &self.path, &book)?;
        Ok(Some(book))
    }
}

/// The entries `query` selects, each decoded; `corrupt` words an error.
fn decoded<'q>(
    query: &'q mut rusqlite::Statement<'_>,
    corrupt: &'q impl Fn(&dyn std::fmt::Display) -> EngineError,
) -> Result<impl Iterator<Item = Result<Entry, EngineError>> + 'q, EngineError> {
    let rows = query
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|err| corrupt(&err))?;
    Ok(rows.map(|json| {
        let json = json.map_err(|err| corrupt(&err))?;
        serde_json::from_str::<Entry>(&json).map_err(|err| corrupt(&err))
    }))
}

/// Replaces whatever `connection` holds with `book`, in one transaction,
/// encoding one row at a time: a large book is never held twice, once
/// as contacts and once as JSON.
fn write_book(connection: &Connection, path: &Path, book: &Book) -> Result<(), EngineError> {
    let header = serde_json::to_string(&Header {
        description: book.description.clone(),
        registered: book.registered.clone(),
    })
    .map_err(|err| EngineError::internal(format!("encoding the book: {err}")))?;
    let failed = |err: rusqlite::Error| cannot("save", path, err);
    // Dropped before its commit, the transaction rolls back.
    let transaction = connection.unchecked_transaction().map_err(failed)?;
    transaction
        .execute("DELETE FROM contacts", [])
        .map_err(failed)?;
    transaction
        .execute(
            "INSERT OR REPLACE INTO header (only, book) VALUES (1, ?1)",
            params![header],
        )
        .map_err(failed)?;
    {
        let mut insert = transaction
            .prepare("INSERT INTO contacts (id, entry) VALUES (?1, ?2)")
            .map_err(failed)?;
        for entry in book.entries() {
            let json = encode(&entry)?;
            insert
                .execute(params![entry.contact.id.as_str(), json])
                .map_err(failed)?;
        }
    }
    transaction.commit().map_err(failed)
}

fn encode(entry: &Entry) -> Result<String, EngineError> {
    serde_json::to_string(entry)
        .map_err(|err| EngineError::internal(format!("encoding a contact: {err}")))
}

fn remove_if_present(file: &Path) -> Result<(), EngineError> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(cannot("remove", file, err)),
    }
}

fn cannot(what: &str, path: &Path, err: impl std::fmt::Display) -> EngineError {
    EngineError::internal(format!("cannot {what} {}: {err}", path.display()))
}

/// Runs `work` on tokio's blocking pool: SQLite and the file system block.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| EngineError::internal(format!("the book store failed: {err}")))?
}

#[cfg(test)]
mod tests {
    use wharf_engine_api::ContactName;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_saved_book_and_its_changes_load_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("session");
        let (store, saved) = BookStore::open(session.clone()).await.unwrap();
        assert!(saved.is_none());
        let mut book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        store.create(Arc::new(book.clone())).await.unwrap();

        let name = ContactName {
            first_name: "New".into(),
            last_name: "Person".into(),
        };
        let added = book.renamed("14155550140@c.us", &name).unwrap();
        store.save(&added).await.unwrap();
        book.put(added).unwrap();
        let blocked = book.blocked("14155550100@c.us", true).unwrap();
        store.save(&blocked).await.unwrap();
        book.put(blocked).unwrap();
        drop(store);

        let (_, loaded) = BookStore::open(session).await.unwrap();
        assert_eq!(loaded.unwrap(), book);
    }

    /// Whatever the umask of the process (tests run under the caller's),
    /// the book is private to the user.
    /// The files of this process open under `dir`.
    #[cfg(target_os = "linux")]
    fn open_files_under(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir))
            .collect()
    }

    /// Thousands of sessions each keeping their database open would run
    /// the host out of file descriptors: a store holds none between its
    /// reads and writes.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_keeps_no_file_open_between_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = BookStore::open(dir.path().join("session")).await.unwrap();
        assert_eq!(open_files_under(dir.path()), Vec::<PathBuf>::new());
        let mut book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        store.create(Arc::new(book.clone())).await.unwrap();
        let blocked = book.blocked("14155550100@c.us", true).unwrap();
        store.save(&blocked).await.unwrap();
        book.put(blocked).unwrap();
        assert_eq!(open_files_under(dir.path()), Vec::<PathBuf>::new());
        let (_, loaded) = BookStore::open(dir.path().join("session")).await.unwrap();
        assert_eq!(loaded.unwrap(), book, "what was saved is there");
    }

    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread")]
    async fn the_book_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("sessions").join("s1");
        let (store, _) = BookStore::open(session.clone()).await.unwrap();
        let book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        store.create(Arc::new(book)).await.unwrap();
        assert_eq!(mode(&dir.path().join("sessions")), 0o700);
        assert_eq!(mode(&session), 0o700);
        // The WAL and shared-memory files are there while the database is open.
        let open = store.connect().unwrap();
        open.query_row("SELECT count(*) FROM contacts", [], |_| Ok(()))
            .unwrap();
        for file in [DATABASE, "book.sqlite3-wal", "book.sqlite3-shm"] {
            assert_eq!(mode(&session.join(file)), 0o600, "{file}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_json_book_from_an_earlier_version_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        let blocked = book.blocked("14155550100@c.us", true).unwrap();
        book.put(blocked).unwrap();
        std::fs::write(dir.path().join(LEGACY_JSON), book.to_json()).unwrap();

        let (_, imported) = BookStore::open(dir.path().to_owned()).await.unwrap();
        assert_eq!(imported.unwrap(), book);
        assert!(!dir.path().join(LEGACY_JSON).exists());
        let (_, reopened) = BookStore::open(dir.path().to_owned()).await.unwrap();
        assert_eq!(reopened.unwrap(), book);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_corrupt_book_is_an_error_never_silently_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEGACY_JSON), "{ not json").unwrap();
        let err = BookStore::open(dir.path().to_owned()).await.err().unwrap();
        assert!(err.message.contains("book.json"), "{err}");
        assert!(dir.path().join(LEGACY_JSON).exists());
    }
}
