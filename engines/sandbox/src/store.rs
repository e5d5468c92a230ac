//! Where a session's book is kept: `book.json` in the session's data
//! directory, replaced atomically so a crash mid-write never loses the book.

use std::{io, path::PathBuf};

use wharf_engine_api::{EngineError, support::write_atomically};

use crate::Book;

const FILE_NAME: &str = "book.json";

pub struct BookStore {
    dir: PathBuf,
}

impl BookStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The saved book, or `None` for a session that has none yet. A saved
    /// book that does not parse is an error, never silently replaced.
    pub async fn load(&self) -> Result<Option<Book>, EngineError> {
        let path = self.path();
        match tokio::fs::read_to_string(&path).await {
            Ok(json) => Book::parse(&json, &path.display().to_string()).map(Some),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(EngineError::internal(format!(
                "cannot read {}: {err}",
                path.display()
            ))),
        }
    }

    pub async fn save(&self, book: &Book) -> Result<(), EngineError> {
        let dir = self.dir.clone();
        let json = book.to_json();
        let path = self.path();
        tokio::task::spawn_blocking(move || write_atomically(&dir, FILE_NAME, json.as_bytes()))
            .await
            .map_err(|err| EngineError::internal(format!("saving the book: {err}")))?
            .map_err(|err| EngineError::internal(format!("cannot save {}: {err}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saved_book_loads_back_and_corrupt_book_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = BookStore::new(dir.path().join("session"));
        assert!(store.load().await.unwrap().is_none());
        let book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        store.save(&book).await.unwrap();
        assert_eq!(store.load().await.unwrap().unwrap(), book);

        std::fs::write(dir.path().join("session").join(FILE_NAME), "{ not json").unwrap();
        let err = store.load().await.unwrap_err();
        assert!(err.message.contains("book.json"), "{err}");
    }
}
