//! Where a session's book is kept: the host's session store (ABI 2.3), one
//! key per contact, so the book follows the session to whichever host runs
//! it and goes with the session when it is deleted.
//!
//! - `book/header`: the description and the registered numbers, as JSON.
//!   A book is saved when its header is: it is written last, so a book
//!   half saved when the host went down reads as no book.
//! - `book/c/<id>`: one contact, as JSON.
//!
//! A change writes one key, so its cost does not grow with the book, and
//! is durable when the host acknowledges it. A book that an earlier
//! version kept in the session's data directory is imported once, then
//! removed (see [`crate::legacy`]).

use std::{path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use wharf_engine_api::{EngineError, ErrorKind, Host, KvWrite};

use crate::{Book, book::Entry, legacy};

const HEADER: &str = "book/header";
const CONTACTS: &str = "book/c/";
/// Everything the store keeps.
const BOOK: &str = "book/";
/// Contacts read per call, and the most bytes written per call when a
/// whole book is saved.
const READ_PAGE: u32 = 1000;
const WRITE_CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// What the book holds besides its contacts.
#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) description: String,
    pub(crate) registered: Vec<String>,
}

pub(crate) struct BookStore {
    host: Host,
    /// Whether the store holds a book: not while a session reads the
    /// bundled book unchanged.
    holds_book: bool,
}

impl BookStore {
    /// The store of the session `host` serves, with its saved book, or
    /// `None` for a session that has none yet. A book an earlier version
    /// left in `dir` is moved into the store first.
    pub(crate) async fn open(
        host: &Host,
        dir: &Path,
    ) -> Result<(Self, Option<Arc<Book>>), EngineError> {
        let mut store = Self {
            host: host.clone(),
            holds_book: false,
        };
        let book = match store.read().await.map_err(needs_store)? {
            Some(book) => Some(Arc::new(book)),
            None => match legacy::read(dir.to_owned()).await? {
                Some(book) => {
                    let book = Arc::new(book);
                    store.create(&book).await?;
                    Some(book)
                }
                None => None,
            },
        };
        // Imported now or before (a crash may have come between import
        // and removal), a book left on disk is stale once the store has one.
        if book.is_some() {
            legacy::remove(dir.to_owned()).await?;
            store.holds_book = true;
        }
        Ok((store, book))
    }

    /// Whether the store holds a book.
    pub(crate) fn holds_book(&self) -> bool {
        self.holds_book
    }

    /// Saves a whole new book in place of any other.
    pub(crate) async fn create(&mut self, book: &Book) -> Result<(), EngineError> {
        let header = serde_json::to_vec(&Header {
            description: book.description.clone(),
            registered: book.registered.clone(),
        })
        .map_err(|err| EngineError::internal(format!("encoding the book: {err}")))?;
        // The old book's header goes in the first write and the new one's
        // comes in the last: until then, there is no book.
        let mut batch = vec![KvWrite::delete_prefix(BOOK)];
        let mut size = 0;
        for entry in book.entries() {
            let write = contact_write(&entry)?;
            size += write.size();
            batch.push(write);
            if size >= WRITE_CHUNK_BYTES {
                self.host.kv_write(std::mem::take(&mut batch)).await?;
                size = 0;
            }
        }
        batch.push(KvWrite::put(HEADER, header));
        self.host.kv_write(batch).await?;
        self.holds_book = true;
        Ok(())
    }

    /// Saves one contact.
    pub(crate) async fn save(&self, entry: &Entry) -> Result<(), EngineError> {
        self.host.kv_write(vec![contact_write(entry)?]).await
    }

    async fn read(&self) -> Result<Option<Book>, EngineError> {
        let corrupt = |err: &dyn std::fmt::Display| {
            EngineError::internal(format!(
                "the session store holds a book that cannot be read ({err}); \
                 log the session out to start again"
            ))
        };
        let Some(header) = self.host.kv_get(HEADER).await? else {
            return Ok(None);
        };
        let header: Header = serde_json::from_slice(&header).map_err(|err| corrupt(&err))?;
        // Decoded a page at a time: a large book is never held twice, once
        // as JSON and once as contacts.
        let mut entries: Vec<Entry> = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.host.kv_scan(CONTACTS, &after, READ_PAGE).await?;
            let complete = page.len() < READ_PAGE as usize;
            for stored in &page {
                let entry = serde_json::from_slice(&stored.value)
                    .map_err(|err| corrupt(&format_args!("{}: {err}", stored.key)))?;
                entries.push(entry);
            }
            match page.last() {
                Some(last) if !complete => after = last.key.to_string(),
                _ => break,
            }
        }
        Book::new(header.description, entries, header.registered)
            .map_err(|problem| corrupt(&problem))
            .map(Some)
    }
}

fn contact_write(entry: &Entry) -> Result<KvWrite, EngineError> {
    let json = serde_json::to_vec(entry)
        .map_err(|err| EngineError::internal(format!("encoding a contact: {err}")))?;
    Ok(KvWrite::put(
        format!("{CONTACTS}{}", entry.contact.id),
        json,
    ))
}

/// What an engine of this version says on a host that keeps no store.
fn needs_store(err: EngineError) -> EngineError {
    if err.kind == ErrorKind::UNSUPPORTED {
        EngineError::unsupported(format!(
            "this sandbox keeps its book in the host's session store, which hosts offer \
             since ABI 2.3: {}",
            err.message
        ))
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use wharf_engine_api::ContactName;

    use super::*;
    use crate::tests::TestHost;

    /// What a book holds, whatever order its contacts were added in: the
    /// store keeps them by id.
    fn contents(book: &Book) -> (String, Vec<String>, Vec<Entry>) {
        let mut entries: Vec<Entry> = book.entries().collect();
        entries.sort_by(|a, b| a.contact.id.cmp(&b.contact.id));
        (book.description.clone(), book.registered.clone(), entries)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_saved_book_and_its_changes_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let host = TestHost::default();
        let (mut store, saved) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        assert!(saved.is_none());
        let mut book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        store.create(&book).await.unwrap();

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

        let (_, loaded) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        assert_eq!(contents(&loaded.unwrap()), contents(&book));
        assert!(
            !dir.path().join("book.sqlite3").exists(),
            "nothing is kept on disk"
        );
    }

    /// A book bigger than one write: its header is written last, so a book
    /// cut short reads as none, and a whole one reads back whole.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_large_book_is_saved_in_chunks_header_last() {
        let dir = tempfile::tempdir().unwrap();
        let host = TestHost::default();
        let (mut store, _) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        let about = "x".repeat(1000);
        let contacts: Vec<String> = (0..10_000)
            .map(|n| format!(r#"{{"id": "1{n:010}@c.us", "about": "{about}"}}"#))
            .collect();
        let json = format!(r#"{{"contacts": [{}]}}"#, contacts.join(","));
        let book = Book::parse(&json, "large").unwrap();
        store.create(&book).await.unwrap();
        assert!(host.writes() > 1, "written in {} batches", host.writes());
        let (_, loaded) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        assert_eq!(contents(&loaded.unwrap()), contents(&book));

        host.store
            .kv_write(vec![KvWrite::delete(HEADER)].into())
            .await
            .unwrap();
        let (_, cut_short) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        assert!(cut_short.is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_book_an_earlier_version_left_on_disk_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = Book::parse(crate::DEFAULT_FIXTURE, "default").unwrap();
        let blocked = book.blocked("14155550100@c.us", true).unwrap();
        book.put(blocked).unwrap();
        std::fs::write(dir.path().join("book.json"), book.to_json()).unwrap();

        let host = TestHost::default();
        let (_, imported) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        assert_eq!(contents(&imported.unwrap()), contents(&book));
        assert!(!dir.path().join("book.json").exists());
        let (_, reopened) = BookStore::open(&host.host(), dir.path()).await.unwrap();
        assert_eq!(contents(&reopened.unwrap()), contents(&book));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_corrupt_book_is_an_error_never_silently_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let host = TestHost::default();
        let corrupt = vec![
            KvWrite::put(HEADER, br#"{"description": "", "registered": []}"#.to_vec()),
            KvWrite::put("book/c/1@c.us", b"{ not json".to_vec()),
        ];
        host.store.kv_write(corrupt.into()).await.unwrap();
        let err = BookStore::open(&host.host(), dir.path())
            .await
            .err()
            .unwrap();
        assert!(err.message.contains("book/c/1@c.us"), "{err}");
        assert_eq!(host.store.len(), 2, "nothing was replaced");
    }
}
