//! What one change to a sandbox book costs as the book grows: upserts
//! (each saved durably before it is acknowledged) on books of several
//! sizes, side by side. The ratio to the smallest book should stay near 1.
//!
//! Run with `cargo xtask bench book`.

use std::time::{Duration, Instant};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RVec},
};
use wharf_engine_api::{
    ContactName, Engine, EngineError, HostServices, HostServices_TO, LogLevel, Session,
    SessionContext, SessionStatus,
};
use wharf_sandbox::SandboxEngine;

const BOOK_SIZES: [usize; 3] = [100, 10_000, 100_000];
const WRITES: usize = 200;

/// A host that serves one generated fixture.
#[derive(Clone)]
struct FixtureHost {
    fixture: RArc<Vec<u8>>,
}

impl HostServices for FixtureHost {
    fn log(&self, _level: LogLevel, _message: RStr<'_>) {}
    fn status(&self, _status: SessionStatus, _reason: ROption<RStr<'_>>) {}
    fn qr(&self, _value: RStr<'_>) {}
    fn account(&self, _id: RStr<'_>, _push_name: ROption<RStr<'_>>) {}
    fn read_config_file(
        &self,
        _field: RStr<'_>,
        _name: RStr<'_>,
    ) -> RResult<RVec<u8>, EngineError> {
        RResult::ROk(RVec::from(self.fixture.as_slice()))
    }
}

/// A book of `size` named contacts.
fn fixture(size: usize) -> Vec<u8> {
    let contacts: Vec<_> = (0..size)
        .map(|index| {
            let number = 10_000_000_000u64 + index as u64;
            serde_json::json!({
                "id": format!("{number}@c.us"),
                "number": number.to_string(),
                "name": format!("Contact {index}"),
                "isWAContact": true,
                "isMyContact": true
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "contacts": contacts })).expect("a fixture")
}

/// A sandbox session over a book of `size` contacts.
async fn session_over(size: usize, dir: &std::path::Path) -> impl Session {
    let host = FixtureHost {
        fixture: RArc::new(fixture(size)),
    };
    SandboxEngine
        .open_session(SessionContext {
            session: "bench".into(),
            config: r#"{"fixture": "book.json"}"#.into(),
            data_dir: dir.join(size.to_string()).to_string_lossy().as_ref().into(),
            host: HostServices_TO::from_ptr(RArc::new(host), TD_Opaque),
        })
        .await
        .expect("a session")
}

/// The time of write number `write` on a book of `size`: even writes
/// rename a contact in the middle of the book, odd ones add a contact.
async fn timed_upsert(session: &impl Session, size: usize, write: usize) -> Duration {
    let name = ContactName {
        first_name: format!("Renamed {write}").into(),
        last_name: "Bench".into(),
    };
    let id = if write.is_multiple_of(2) {
        format!("{}@c.us", 10_000_000_000u64 + (size / 2) as u64)
    } else {
        format!("{}@c.us", 20_000_000_000u64 + write as u64)
    };
    let started = Instant::now();
    session.upsert_contact(id, name).await.expect("an upsert");
    started.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "sandbox book writes: median of {WRITES} durable upserts per book size, \
         taken in turns so that disk noise falls on every size alike"
    );
    let medians = runtime.block_on(async {
        let mut sessions = Vec::new();
        for size in BOOK_SIZES {
            sessions.push(session_over(size, dir.path()).await);
        }
        let mut times = vec![Vec::with_capacity(WRITES); BOOK_SIZES.len()];
        for write in 0..WRITES {
            for (index, (session, size)) in sessions.iter().zip(BOOK_SIZES).enumerate() {
                times[index].push(timed_upsert(session, size, write).await);
            }
        }
        times
            .into_iter()
            .map(|mut times| {
                times.sort();
                times[WRITES / 2]
            })
            .collect::<Vec<_>>()
    });
    for (size, time) in BOOK_SIZES.into_iter().zip(&medians) {
        println!(
            "book of {size:>7} contacts   upsert {:>9.3} ms   ratio to {} contacts {:>6.2}x",
            time.as_secs_f64() * 1e3,
            BOOK_SIZES[0],
            time.as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}
