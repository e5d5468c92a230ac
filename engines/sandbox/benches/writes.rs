//! What one change to a sandbox book costs as the book grows: upserts
//! (each saved durably before it is acknowledged) on books of several
//! sizes, side by side. The ratio to the smallest book should stay near 1.
//!
//! Run with `cargo xtask bench book`.

use std::time::{Duration, Instant};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, RResult, RStr, RVec},
};
use wharf_engine_api::{
    ContactName, Engine, EngineError, HostServices, HostServices_TO, LogLevel, Session,
    SessionContext, SessionEvent,
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
    fn emit(&self, _event: SessionEvent) {}
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

/// Median time of one upsert on a book of `size` contacts.
async fn upsert_time(size: usize, dir: &std::path::Path) -> Duration {
    let host = FixtureHost {
        fixture: RArc::new(fixture(size)),
    };
    let session = SandboxEngine
        .open_session(SessionContext {
            session: "bench".into(),
            config: r#"{"fixture": "book.json"}"#.into(),
            data_dir: dir.join(size.to_string()).to_string_lossy().as_ref().into(),
            host: HostServices_TO::from_ptr(RArc::new(host), TD_Opaque),
        })
        .await
        .expect("a session");
    let mut times = Vec::with_capacity(WRITES);
    for write in 0..WRITES {
        let name = ContactName {
            first_name: format!("Renamed {write}").into(),
            last_name: "Bench".into(),
        };
        // Half renames in the middle of the book, half new contacts.
        let id = if write % 2 == 0 {
            format!("{}@c.us", 10_000_000_000u64 + (size / 2) as u64)
        } else {
            format!("{}@c.us", 20_000_000_000u64 + write as u64)
        };
        let started = Instant::now();
        session.upsert_contact(id, name).await.expect("an upsert");
        times.push(started.elapsed());
    }
    times.sort();
    times[WRITES / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!("sandbox book writes: median of {WRITES} durable upserts per book size");
    let base = runtime.block_on(upsert_time(BOOK_SIZES[0], dir.path()));
    for size in BOOK_SIZES {
        let time = if size == BOOK_SIZES[0] {
            base
        } else {
            runtime.block_on(upsert_time(size, dir.path()))
        };
        println!(
            "book of {size:>7} contacts   upsert {:>9.3} ms   ratio to {} contacts {:>6.2}x",
            time.as_secs_f64() * 1e3,
            BOOK_SIZES[0],
            time.as_secs_f64() / base.as_secs_f64()
        );
    }
}
