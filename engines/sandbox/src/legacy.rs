//! Books that earlier versions kept in the session's data directory: an
//! SQLite database (`book.sqlite3`, one row per contact) and, before it,
//! one JSON file (`book.json`). [`crate::store`] imports one once, into the
//! host's session store, then removes them.

use std::{
    io,
    path::{Path, PathBuf},
};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use wharf_engine_api::EngineError;

use crate::{Book, book::Entry, store::Header};

const DATABASE: &str = "book.sqlite3";
/// What SQLite keeps beside the database, removed with it.
const DATABASE_COMPANIONS: [&str; 2] = ["book.sqlite3-wal", "book.sqlite3-shm"];
const JSON: &str = "book.json";

/// The book an earlier version left in `dir`, if any: the database's, else
/// the JSON file's. A database without a book (a crash came before its
/// first save) is none.
pub(crate) async fn read(dir: PathBuf) -> Result<Option<Book>, EngineError> {
    blocking(move || {
        let database = dir.join(DATABASE);
        if database.exists()
            && let Some(book) = read_database(&database)?
        {
            return Ok(Some(book));
        }
        let json = dir.join(JSON);
        match std::fs::read_to_string(&json) {
            Ok(text) => Book::parse(&text, &json.display().to_string()).map(Some),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(cannot("read", &json, err)),
        }
    })
    .await
}

/// Removes what an earlier version left in `dir`, once imported.
pub(crate) async fn remove(dir: PathBuf) -> Result<(), EngineError> {
    blocking(move || {
        for name in [DATABASE, JSON].into_iter().chain(DATABASE_COMPANIONS) {
            let file = dir.join(name);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(cannot("remove", &file, err)),
            }
        }
        Ok(())
    })
    .await
}

fn read_database(path: &Path) -> Result<Option<Book>, EngineError> {
    let corrupt = |err: &dyn std::fmt::Display| {
        EngineError::internal(format!(
            "{} holds a book that cannot be read ({err}); delete the session's data to start again",
            path.display()
        ))
    };
    // Never created here: only read, if an earlier version made it.
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|err| cannot("open", path, err))?;
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
    let entries = query
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|err| corrupt(&err))?
        .map(|json| {
            let json = json.map_err(|err| corrupt(&err))?;
            serde_json::from_str::<Entry>(&json).map_err(|err| corrupt(&err))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Book::new(header.description, entries, header.registered)
        .map_err(|problem| corrupt(&problem))
        .map(Some)
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
        .map_err(|err| EngineError::internal(format!("reading an earlier book failed: {err}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as the previous version wrote it.
    fn write_database(dir: &Path, book: &Book) {
        let connection = Connection::open(dir.join(DATABASE)).unwrap();
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE header (only INTEGER PRIMARY KEY CHECK (only = 1), book TEXT NOT NULL);
                 CREATE TABLE contacts (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                                        entry TEXT NOT NULL);",
            )
            .unwrap();
        let header = serde_json::to_string(&Header {
            description: book.description.clone(),
            registered: book.registered.clone(),
        })
        .unwrap();
        connection
            .execute("INSERT INTO header (only, book) VALUES (1, ?1)", [header])
            .unwrap();
        for entry in book.entries() {
            connection
                .execute(
                    "INSERT INTO contacts (id, entry) VALUES (?1, ?2)",
                    [
                        entry.contact.id.to_string(),
                        serde_json::to_string(&entry).unwrap(),
                    ],
                )
                .unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_database_book_is_read_and_then_removed_with_its_companions() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        let blocked = book.blocked("14155550100@c.us", true).unwrap();
        book.put(blocked).unwrap();
        write_database(dir.path(), &book);
        // As a crash leaves them.
        for companion in DATABASE_COMPANIONS {
            std::fs::write(dir.path().join(companion), b"").unwrap();
        }

        let read = read(dir.path().to_owned()).await.unwrap().unwrap();
        assert_eq!(read.entries().len(), book.entries().len());
        assert!(read.entry("14155550100@c.us").unwrap().contact.is_blocked);
        remove(dir.path().to_owned()).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(read_none(dir.path()).await);
    }

    async fn read_none(dir: &Path) -> bool {
        read(dir.to_owned()).await.unwrap().is_none()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_corrupt_json_book_is_an_error_never_silently_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JSON), "{ not json").unwrap();
        let err = read(dir.path().to_owned()).await.err().unwrap();
        assert!(err.message.contains("book.json"), "{err}");
        assert!(dir.path().join(JSON).exists());
    }
}
