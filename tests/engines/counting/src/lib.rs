//! A test engine that records every call it receives, one line per call in
//! `calls.log` in the session's data directory, so tests can prove which
//! operations reached it. It declares `contacts.about` and `contacts.upsert`
//! unsupported but implements them anyway: if the host ever routed them
//! here, the log would show it.
//!
//! Config: `{"delayMs": N}` makes every operation take N milliseconds;
//! `{"pairing": true}` starts the session waiting for pairing, with a QR code
//! `counting-qr:<session>`, until a pairing code is requested;
//! `{"openDelayMs": N}` makes opening the session take N milliseconds;
//! `{"failAfterOpen": true}` opens the session, then reports it FAILED, as
//! an engine whose connection broke does; `{"logoutFails": true}` makes
//! logout answer that WhatsApp could not be told, as an engine without a
//! connection does.
//!
//! Every engine session it opens and closes is also written to
//! `engine-sessions.log` beside the session directories (`open <session>
//! <id>`, `close <session> <id>`): that file outlives a deleted session's
//! directory, so tests can find engine sessions the host never closed.

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use wharf_engine_api::{
    Contact, ContactName, Engine, EngineError, Host, ListQuery, Manifest, NumberExists, RString,
    Session, SessionContext, SessionStatus, features,
};

#[derive(Default)]
pub struct CountingEngine;

#[derive(Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CountingConfig {
    delay_ms: u64,
    open_delay_ms: u64,
    pairing: bool,
    fail_after_open: bool,
    logout_fails: bool,
}

/// Numbers the engine sessions of this library, for the ledger.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

const LEDGER: &str = "engine-sessions.log";

pub struct CountingSession {
    id: u64,
    name: String,
    log: PathBuf,
    ledger: Option<PathBuf>,
    delay: Duration,
    logout_fails: bool,
    host: Host,
}

/// Appends one line with a single write, so lines written by concurrent
/// sessions never interleave.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

impl CountingSession {
    fn append(&self, operation: &str, argument: &str) -> std::io::Result<()> {
        append_line(&self.log, &format!("{operation} {argument}"))
    }

    fn record_in_ledger(&self, event: &str) -> Result<(), EngineError> {
        match &self.ledger {
            Some(ledger) => append_line(ledger, &format!("{event} {} {}", self.name, self.id))
                .map_err(|err| EngineError::internal(format!("{LEDGER}: {err}"))),
            None => Ok(()),
        }
    }

    async fn record(&self, operation: &str, argument: &str) -> Result<(), EngineError> {
        tokio::time::sleep(self.delay).await;
        self.append(operation, argument)
            .map_err(|err| EngineError::internal(format!("calls.log: {err}")))
    }

    fn contact(id: &str) -> Contact {
        Contact {
            id: id.into(),
            number: id.strip_suffix("@c.us").map(RString::from).into(),
            is_wa_contact: true,
            ..Contact::default()
        }
    }
}

impl Engine for CountingEngine {
    type Session = CountingSession;

    fn manifest(&self) -> Manifest {
        Manifest::new(
            "counting",
            "0.1.0",
            "Records the calls it receives, for tests",
        )
        .supports_all(&[
            features::CONTACTS_LIST,
            features::CONTACTS_GET,
            features::CONTACTS_CHECK_EXISTS,
            features::CONTACTS_PROFILE_PICTURE,
            features::CONTACTS_BLOCK,
            features::CONTACTS_UNBLOCK,
            features::AUTH_QR,
            features::AUTH_CODE,
        ])
        .unsupported(
            features::CONTACTS_ABOUT,
            "the counting engine keeps no about texts",
        )
        .unsupported(
            features::CONTACTS_UPSERT,
            "like WhatsApp Web, the counting engine cannot add contacts",
        )
    }

    async fn open_session(&self, context: SessionContext) -> Result<CountingSession, EngineError> {
        let config: CountingConfig = context.config()?;
        tokio::time::sleep(Duration::from_millis(config.open_delay_ms)).await;
        let host = context.host();
        if config.fail_after_open {
            host.status(
                SessionStatus::FAILED,
                Some("counting: failing as configured"),
            );
        } else if config.pairing {
            host.status(SessionStatus::SCAN_QR_CODE, None);
            host.qr(&format!("counting-qr:{}", context.session));
        } else {
            host.status(SessionStatus::WORKING, None);
        }
        let data_dir = context.data_dir();
        let session = CountingSession {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: context.session.to_string(),
            log: data_dir.join("calls.log"),
            ledger: data_dir.parent().map(|sessions| sessions.join(LEDGER)),
            delay: Duration::from_millis(config.delay_ms),
            logout_fails: config.logout_fails,
            host,
        };
        session.record_in_ledger("open")?;
        Ok(session)
    }
}

impl Session for CountingSession {
    async fn list_contacts(&self, query: ListQuery) -> Result<Vec<Contact>, EngineError> {
        self.record("list", "").await?;
        Ok(query.apply(vec![Self::contact("10000000001@c.us")]))
    }

    async fn get_contact(&self, contact_id: String) -> Result<Contact, EngineError> {
        self.record("get", &contact_id).await?;
        Ok(Self::contact(&contact_id))
    }

    async fn check_exists(&self, phone: String) -> Result<NumberExists, EngineError> {
        self.record("check_exists", &phone).await?;
        Ok(NumberExists {
            number_exists: true,
            chat_id: Some(RString::from(format!("{phone}@c.us"))).into(),
        })
    }

    async fn about(&self, contact_id: String) -> Result<Option<String>, EngineError> {
        self.record("about", &contact_id).await?;
        Ok(Some("should never be asked".into()))
    }

    async fn profile_picture(
        &self,
        contact_id: String,
        refresh: bool,
    ) -> Result<Option<String>, EngineError> {
        self.record(
            "profile_picture",
            &format!("{contact_id} refresh={refresh}"),
        )
        .await?;
        Ok(Some(format!("https://pictures.invalid/{contact_id}.jpg")))
    }

    async fn block(&self, contact_id: String) -> Result<(), EngineError> {
        self.record("block", &contact_id).await
    }

    async fn unblock(&self, contact_id: String) -> Result<(), EngineError> {
        self.record("unblock", &contact_id).await
    }

    async fn request_pairing_code(&self, phone: String) -> Result<String, EngineError> {
        self.record("request_pairing_code", &phone).await?;
        // As if the user typed the code on the phone at once.
        self.host.status(SessionStatus::WORKING, None);
        Ok("WHRF-4321".into())
    }

    async fn upsert_contact(
        &self,
        contact_id: String,
        _name: ContactName,
    ) -> Result<(), EngineError> {
        self.record("upsert", &contact_id).await
    }

    async fn logout(&self) -> Result<(), EngineError> {
        self.record("logout", "").await?;
        if self.logout_fails {
            return Err(EngineError::unavailable(
                "counting: not connected, so WhatsApp was not told",
            ));
        }
        Ok(())
    }

    async fn close(&self) {
        // Recorded without the operation delay: closing must not wait. A
        // failed write has nowhere to go; the test that reads it will fail.
        let _ = self.append("close", "");
        let _ = self.record_in_ledger("close");
    }
}

wharf_engine_api::export_engine!(CountingEngine);
