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
//! kept in the session's data directory (an SQLite database, one row per
//! contact): block, unblock and upsert survive
//! host restarts. Once a session has a saved book, that book wins over the
//! fixture; delete the session's data to start again from a fixture.

mod book;
mod store;

use serde::Deserialize;
use tokio::sync::Mutex;
use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, Host, LidMapping, ListQuery, Manifest, NumberExists,
    Session, SessionContext, SessionStatus, features,
};

pub use book::Book;
use book::Details;
use store::BookStore;

/// The bundled contact book.
pub const DEFAULT_FIXTURE: &str = include_str!("../fixtures/default.json");

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
        let (store, saved) = BookStore::open(context.data_dir()).await?;
        let book = match saved {
            Some(saved) => saved,
            // The fixture is read only for a new book: a session whose book
            // is saved keeps working whatever became of its fixture.
            None => {
                let (json, origin) = match config.fixture {
                    Some(name) => read_fixture(&host, name).await?,
                    None => (DEFAULT_FIXTURE.to_owned(), "bundled fixture".into()),
                };
                store.create(Book::parse(&json, &origin)?).await?
            }
        };
        host.info(&format!(
            "contact book ready with {} contacts",
            book.contact_count()
        ));
        if let Some(me) = book.me() {
            let push_name = me.pushname.as_ref().map(|name| name.as_str());
            host.account(me.id.as_str(), push_name.into_option());
        }
        host.status(SessionStatus::WORKING, None);
        Ok(SandboxSession {
            book: Mutex::new(book),
            store,
            host,
        })
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
pub struct SandboxSession {
    book: Mutex<Book>,
    store: BookStore,
    host: Host,
}

impl SandboxSession {
    /// Computes the entry `change` makes, checks that the book takes it,
    /// saves it, and only then puts it in the book: a failed save leaves
    /// the session as it was.
    async fn change(
        &self,
        change: impl FnOnce(&Book) -> Result<book::Entry, EngineError>,
    ) -> Result<(), EngineError> {
        let mut book = self.book.lock().await;
        let entry = change(&book)?;
        book.admits(&entry)?;
        self.store.save(&entry).await?;
        book.put(entry)
    }
}

impl Session for SandboxSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        Ok(self.book.lock().await.page(&query))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.book.lock().await.contact(&contact_id)
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        Ok(self.book.lock().await.check_exists(&phone))
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        self.book.lock().await.detail(&contact_id, Details::about)
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        _refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.book
            .lock()
            .await
            .detail(&contact_id, Details::profile_picture_url)
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        self.change(|book| book.blocked(&contact_id, true)).await?;
        self.host.info(&format!("blocked {contact_id}"));
        Ok(())
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
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
        Ok(self.book.lock().await.lids(offset, limit))
    }

    async fn count_lids(&self) -> Result<u64, EngineError> {
        Ok(self.book.lock().await.lid_count())
    }

    async fn find_pn_by_lid(&self, lid: String) -> Result<LidMapping, EngineError> {
        Ok(self.book.lock().await.pn_of(&lid))
    }

    async fn find_lid_by_pn(&self, phone: String) -> Result<LidMapping, EngineError> {
        Ok(self.book.lock().await.lid_of(&phone))
    }

    async fn close(&self) {
        self.host.status(SessionStatus::STOPPED, None);
    }
}

wharf_engine_api::export_engine!(SandboxEngine);
