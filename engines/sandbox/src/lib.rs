//! The sandbox engine: an offline, deterministic WhatsApp over a JSON contact
//! book. It supports every contacts and LID feature, so bot developers and
//! tests get a WhatsApp-shaped API without a phone.
//!
//! As on WhatsApp, some people are known by a LID (`…@lid`): a contact
//! whose number the book has carries its LID in `lid` and is found by
//! either id; a contact known only by LID has the LID as its id.
//!
//! Session config (all optional):
//!
//! ```json
//! { "fixture": "book.json" }
//! ```
//!
//! A fixture is a file in the directory the host's operator allows
//! (`wharf serve --config-files-dir`), read through the host, which keeps
//! API clients from naming any other file.
//!
//! The book starts from the fixture (the bundled one by default) and is then
//! kept in the host's session store (one key per contact; it needs a host
//! of ABI 2.3 or later): block, unblock and upsert survive host restarts,
//! and follow the session to whichever host runs it. Once a session has a
//! saved book, that book wins over the fixture; log the session out to
//! start again from a fixture.
//!
//! A book from a named fixture is saved when the session opens, so the
//! session keeps it whatever becomes of the file. The bundled book is
//! part of the engine: sessions that have not changed it share one copy
//! and save nothing until their first change, so an idle session costs a
//! few hundred bytes and nothing stored, and a host holds thousands of
//! them.

mod book;
mod legacy;
mod store;

use std::{
    path::Path,
    sync::{Arc, OnceLock, PoisonError, RwLock},
};

use serde::Deserialize;
use tokio::sync::Mutex;
use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, Host, LidMapping, ListQuery, Manifest, NumberExists,
    Session, SessionContext, SessionStatus, features, support::contact_changes,
};

pub use book::Book;
use book::Details;
use store::BookStore;

/// The bundled contact book.
pub const DEFAULT_FIXTURE: &str = include_str!("../fixtures/default.json");

/// The bundled book, parsed once and shared by every session that has not
/// changed it (a change copies it first).
fn bundled_book() -> Arc<Book> {
    static BUNDLED: OnceLock<Arc<Book>> = OnceLock::new();
    Arc::clone(BUNDLED.get_or_init(|| {
        let book = Book::parse(DEFAULT_FIXTURE, "bundled fixture");
        // Compiled in and checked by the tests: it cannot be refused.
        Arc::new(book.expect("the bundled fixture is a valid book"))
    }))
}

/// The sandbox engine.
#[derive(Default)]
pub struct SandboxEngine;

/// The sandbox's part of a session config. WAHA clients put other keys in
/// the same object (`webhooks`, `metadata`, …); the sandbox ignores them.
#[derive(Debug, Default, Deserialize)]
struct SandboxConfig {
    /// A fixture to start the book from instead of the bundled one: a file
    /// name in the host's config files directory.
    fixture: Option<String>,
}

impl Engine for SandboxEngine {
    type Session = SandboxSession;

    fn manifest(&self) -> Manifest {
        Manifest::new(
            "sandbox",
            env!("CARGO_PKG_VERSION"),
            "Offline, deterministic WhatsApp over a JSON contact book",
        )
        .supports_all(&[
            // Named one by one, not `features::CONTACTS`: that list grows
            // with the contract, and this engine implements these.
            features::CONTACTS_LIST,
            features::CONTACTS_GET,
            features::CONTACTS_CHECK_EXISTS,
            features::CONTACTS_ABOUT,
            features::CONTACTS_PROFILE_PICTURE,
            features::CONTACTS_BLOCK,
            features::CONTACTS_UNBLOCK,
            features::CONTACTS_UPSERT,
            features::LIDS_LIST,
            features::LIDS_COUNT,
            features::LIDS_FIND_PN,
            features::LIDS_FIND_LID,
        ])
        .unsupported(
            features::AUTH_QR,
            "sandbox sessions need no pairing: they start WORKING",
        )
        .unsupported(
            features::AUTH_CODE,
            "sandbox sessions need no pairing: they start WORKING",
        )
    }

    async fn open_session(&self, context: SessionContext) -> Result<SandboxSession, EngineError> {
        let host = context.host();
        let config: SandboxConfig = context.config()?;
        let shelf = Shelf::open(&host, &context.data_dir(), config).await?;
        host.info(&format!(
            "contact book ready with {} contacts",
            shelf.book.contact_count()
        ));
        if let Some(me) = shelf.book.me() {
            let push_name = me.pushname.as_ref().map(|name| name.as_str());
            host.account(me.id.as_str(), push_name.into_option());
        }
        host.status(SessionStatus::WORKING, None);
        Ok(SandboxSession {
            book: RwLock::new(shelf.book),
            store: Mutex::new(shelf.store),
            host,
        })
    }
}

/// A session's book and the store that keeps it.
struct Shelf {
    book: Arc<Book>,
    store: BookStore,
}

impl Shelf {
    /// The book of the session: the saved one (or one an earlier version
    /// left in `dir`), else one from the config's fixture (saved at once),
    /// else the bundled one.
    async fn open(host: &Host, dir: &Path, config: SandboxConfig) -> Result<Self, EngineError> {
        let (mut store, saved) = BookStore::open(host, dir).await?;
        if let Some(book) = saved {
            return Ok(Self { book, store });
        }
        // The fixture is read only for a new book: a session whose book
        // is saved keeps working whatever became of its fixture.
        let Some(name) = config.fixture else {
            return Ok(Self {
                book: bundled_book(),
                store,
            });
        };
        let (json, origin) = read_fixture(host, name).await?;
        let book = Arc::new(Book::parse(&json, &origin)?);
        // Gone before the book is saved: a large fixture is not held twice.
        drop(json);
        store.create(&book).await?;
        Ok(Self { book, store })
    }
}

/// The fixture named `name`, read through the host (which decides which
/// files a config may name), with its origin for error messages.
async fn read_fixture(host: &Host, name: String) -> Result<(String, String), EngineError> {
    let reader = host.clone();
    let origin = format!("config.fixture {name:?}");
    let bytes = tokio::task::spawn_blocking(move || reader.read_config_file("fixture", &name))
        .await
        .map_err(|err| EngineError::internal(format!("reading the fixture: {err}")))??;
    let json = String::from_utf8(bytes)
        .map_err(|_| EngineError::invalid_input(format!("{origin}: is not UTF-8 text")))?;
    Ok((json, origin))
}

/// One sandbox session: its book, and where the book is kept.
///
/// Reads take the book under a short lock and never wait for the store:
/// a change is computed, saved, and only then put in the book, under its
/// own lock, which also keeps changes one at a time.
pub struct SandboxSession {
    book: RwLock<Arc<Book>>,
    /// Held for the whole of a change.
    store: Mutex<BookStore>,
    host: Host,
}

impl SandboxSession {
    /// Computes the entry `change` makes, checks that the book takes it,
    /// saves it, and only then puts it in the book: a failed save leaves
    /// the session as it was. The first change of the bundled book saves
    /// the book first, then the change, and copies the shared book. Then
    /// tells the host what changed about the contact, if anything.
    async fn change(
        &self,
        change: impl FnOnce(&Book) -> Result<book::Entry, EngineError>,
    ) -> Result<(), EngineError> {
        let mut store = self.store.lock().await;
        // Changes are one at a time, so this stays the book until this
        // change is put in it.
        let book = Arc::clone(&self.book.read().unwrap_or_else(PoisonError::into_inner));
        let entry = change(&book)?;
        book.admits(&entry)?;
        let before = book.entry(&entry.contact.id).map(|entry| entry.contact);
        let after = entry.contact.clone();
        if !store.holds_book() {
            store.create(&book).await?;
        }
        store.save(&entry).await?;
        // Not a second holder of the book, which would make the change
        // below copy it.
        drop(book);
        let mut book = self.book.write().unwrap_or_else(PoisonError::into_inner);
        Arc::make_mut(&mut book).put(entry)?;
        drop(book);
        for change in contact_changes(before.as_ref(), &after) {
            self.host.contact_changed(change, &after);
        }
        Ok(())
    }

    /// Reads the book, holding it for the read: a change being saved does
    /// not hold it up (the change is not in the book until it is saved),
    /// and the book is never copied because a read still holds it.
    async fn read<T>(&self, read: impl FnOnce(&Book) -> T) -> T {
        read(&self.book.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Session for SandboxSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(self.read(|book| book.page(&query)).await)
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.read(|book| book.contact(&contact_id)).await
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        Ok(self.read(|book| book.check_exists(&phone)).await)
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        self.read(|book| book.detail(&contact_id, Details::about))
            .await
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.read(|book| book.detail(&contact_id, Details::profile_picture_url))
            .await
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        self.change(|book| book.blocked(&contact_id, true)).await?;
        self.host.info(&format!("blocked {contact_id}"));
        Ok(())
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        // A number outside the book was never blocked (a block puts it in
        // the book): there is nothing to change, and nothing to save.
        let outside_the_book = self
            .read(|book| {
                let unblocked = book.blocked(&contact_id, false)?;
                Ok::<_, EngineError>(book.entry(&unblocked.contact.id).is_none())
            })
            .await?;
        if outside_the_book {
            return Ok(());
        }
        self.change(|book| book.blocked(&contact_id, false)).await?;
        self.host.info(&format!("unblocked {contact_id}"));
        Ok(())
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        name: ContactName,
    ) -> Result<(), EngineError> {
        self.change(|book| book.renamed(&contact_id, &name)).await?;
        // The id only: a name is personal data, and logs travel further.
        self.host
            .info(&format!("saved {contact_id} in the address book"));
        Ok(())
    }

    async fn list_lids(&self, offset: u32, limit: u32) -> Result<Vec<LidMapping>, EngineError> {
        Ok(self.read(|book| book.lids(offset, limit)).await)
    }

    async fn count_lids(&self) -> Result<u64, EngineError> {
        Ok(self.read(Book::lid_count).await)
    }

    async fn find_pn_by_lid(&self, lid: String) -> Result<LidMapping, EngineError> {
        Ok(self.read(|book| book.pn_of(&lid)).await)
    }

    async fn find_lid_by_pn(&self, phone: String) -> Result<LidMapping, EngineError> {
        Ok(self.read(|book| book.lid_of(&phone)).await)
    }

    async fn close(&self) {
        self.host.status(SessionStatus::STOPPED, None);
    }
}

wharf_engine_api::export_engine!(SandboxEngine);

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex as SyncMutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    };

    use async_ffi::FutureExt;

    use abi_stable::{
        sabi_trait::TD_Opaque,
        std_types::{RArc, ROption, RResult, RStr, RString, RVec},
    };
    use wharf_engine_api::{
        ContactChange, HostServices, HostServices_TO, KvEntry, KvWrite, LogLevel, ffi::FfiResult,
        support::MemoryStore,
    };

    use super::*;

    /// A host of one session that names no files, keeps the session's
    /// store in memory, and keeps the contact changes it is told of, each
    /// with the contact's id and whether it is blocked.
    #[derive(Clone, Default)]
    pub(crate) struct TestHost {
        changes: Arc<SyncMutex<Vec<(ContactChange, String, bool)>>>,
        pub(crate) store: MemoryStore,
        writes: Arc<AtomicUsize>,
        /// Refuses writes, as the host does once it has ended the run.
        fenced: Arc<AtomicBool>,
    }

    impl TestHost {
        fn told(&self) -> Vec<(ContactChange, String, bool)> {
            std::mem::take(&mut self.changes.lock().unwrap())
        }

        /// How many batches the session wrote.
        pub(crate) fn writes(&self) -> usize {
            self.writes.load(Ordering::SeqCst)
        }

        /// The handle an engine gets.
        pub(crate) fn host(&self) -> Host {
            self.context("{}").host()
        }

        fn context(&self, config: &str) -> SessionContext {
            SessionContext {
                session: "s".into(),
                config: config.into(),
                data_dir: "/nonexistent/s".into(),
                host: HostServices_TO::from_ptr(RArc::new(self.clone()), TD_Opaque),
            }
        }
    }

    impl HostServices for TestHost {
        fn log(&self, _level: LogLevel, _message: RStr<'_>) {}
        fn status(&self, _status: SessionStatus, _reason: ROption<RStr<'_>>) {}
        fn qr(&self, _value: RStr<'_>) {}
        fn account(&self, _id: RStr<'_>, _push_name: ROption<RStr<'_>>) {}
        fn read_config_file(
            &self,
            field: RStr<'_>,
            _name: RStr<'_>,
        ) -> RResult<RVec<u8>, EngineError> {
            RResult::RErr(EngineError::invalid_input(format!("{field}: no files")))
        }
        fn contact_changed(&self, change: ContactChange, contact: &Contact) {
            let told = (change, contact.id.to_string(), contact.is_blocked);
            self.changes.lock().unwrap().push(told);
        }
        fn kv_get(&self, keys: RVec<RString>) -> FfiResult<RVec<ROption<RVec<u8>>>> {
            self.store.kv_get(keys)
        }
        fn kv_scan(&self, prefix: RString, after: RString, limit: u32) -> FfiResult<RVec<KvEntry>> {
            self.store.kv_scan(prefix, after, limit)
        }
        fn kv_write(&self, batch: RVec<KvWrite>) -> FfiResult<()> {
            if self.fenced.load(Ordering::SeqCst) {
                let ended = EngineError::unavailable("the run has ended");
                return async move { RResult::RErr(ended) }.into_ffi();
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.store.kv_write(batch)
        }
    }

    async fn open(host: &TestHost) -> SandboxSession {
        SandboxEngine
            .open_session(host.context("{}"))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_change_to_a_contact_is_told_once_and_a_repeat_is_not() {
        let host = TestHost::default();
        let session = open(&host).await;
        let (known, new) = ("14155550100@c.us", "19995550123@c.us");
        let name = |first: &str| ContactName {
            first_name: first.into(),
            last_name: "Doe".into(),
        };
        session
            .upsert_contact(new.into(), name("Jo"))
            .await
            .unwrap();
        session
            .upsert_contact(new.into(), name("Jo"))
            .await
            .unwrap();
        session
            .upsert_contact(new.into(), name("Joan"))
            .await
            .unwrap();
        session.block(known.into()).await.unwrap();
        session.block(known.into()).await.unwrap();
        session.unblock(known.into()).await.unwrap();
        session.unblock(known.into()).await.unwrap();
        assert_eq!(
            host.told(),
            [
                (ContactChange::ADDED, new.to_owned(), false),
                (ContactChange::RENAMED, new.to_owned(), false),
                (ContactChange::BLOCKED, known.to_owned(), true),
                (ContactChange::UNBLOCKED, known.to_owned(), false),
            ]
        );
        let refused = session
            .upsert_contact("123@g.us".into(), name("Group"))
            .await;
        assert!(refused.is_err());
        assert_eq!(host.told(), [], "a refused change tells nothing");

        // On WhatsApp but not in the book, and never blocked.
        let stranger = "5511976543210@c.us";
        let count = session.read(Book::contact_count).await;
        session.unblock(stranger.into()).await.unwrap();
        assert_eq!(
            host.told(),
            [],
            "unblocking who was not blocked changes nothing"
        );
        assert_eq!(session.read(Book::contact_count).await, count);
    }

    async fn is_blocked(session: &SandboxSession) -> bool {
        let id = "14155550100@c.us".to_owned();
        session.get_contact(id).await.unwrap().is_blocked
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_bundled_book_is_saved_at_the_first_change_and_stays_shared() {
        let (host, other) = (TestHost::default(), TestHost::default());
        let session = open(&host).await;
        assert!(host.store.is_empty(), "nothing saved before a change");
        session.block("14155550100@c.us".into()).await.unwrap();
        assert!(is_blocked(&session).await);
        drop(session);

        let reopened = open(&host).await;
        assert!(is_blocked(&reopened).await, "the change was saved");
        let count = reopened.read(Book::contact_count).await;
        assert_eq!(count, bundled_book().contact_count(), "with the whole book");
        assert!(
            !is_blocked(&open(&other).await).await,
            "the shared book is unchanged"
        );
    }

    /// A crash while a book was being saved leaves contacts without the
    /// book's header; the next change still saves the whole book.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_book_cut_short_gets_the_whole_book_at_the_first_change() {
        let host = TestHost::default();
        let cut_short = vec![KvWrite::put("book/c/14155550100@c.us", b"{}".to_vec())];
        host.store.kv_write(cut_short.into()).await.unwrap();
        let session = open(&host).await;
        session.block("14155550100@c.us".into()).await.unwrap();
        drop(session);

        let reopened = open(&host).await;
        assert!(is_blocked(&reopened).await);
        let count = reopened.read(Book::contact_count).await;
        assert_eq!(count, bundled_book().contact_count());
    }

    /// A session the host has ended (stopped, or taken over elsewhere)
    /// cannot save: the change fails, the book stays as it was, and no
    /// one is told of it.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_change_the_host_refuses_to_store_is_not_made() {
        let host = TestHost::default();
        let session = open(&host).await;
        session.block("14155550101@c.us".into()).await.unwrap();
        host.told();
        host.fenced.store(true, Ordering::SeqCst);
        let refused = session.block("14155550100@c.us".into()).await.unwrap_err();
        assert_eq!(refused.kind, wharf_engine_api::ErrorKind::UNAVAILABLE);
        assert!(!is_blocked(&session).await);
        assert_eq!(host.told(), []);
    }
}
