//! What one change to a sandbox book costs the engine as the book grows:
//! upserts (each saved to the session store before it is acknowledged) on
//! books of several sizes, side by side. The ratio to the smallest book
//! should stay near 1. The store is kept in memory here, so this measures
//! the engine's work; what the host's durable store adds is the same one
//! key per change whatever the book's size.
//!
//! Run with `cargo xtask bench book`.

mod common;

use std::time::{Duration, Instant};

use wharf_engine_api::{ContactName, Session};

const BOOK_SIZES: [usize; 3] = [100, 10_000, 100_000];
const WRITES: usize = 200;

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
    common::open_session(fixture(size), dir, &size.to_string()).await
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
