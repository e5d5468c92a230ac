//! What a page of contacts costs as the book grows, and what a book costs
//! to keep and to load.
//!
//! For books of 1k to 1M contacts, a 100-row page at the first, middle and
//! last offset, by id and by name, in both orders: the indexed
//! [`ContactBook`] next to the path it replaced (`ListQuery::apply` over a
//! copy of every contact, as the sandbox answered each page), with their
//! ratio. The book's times should stay flat as the book grows. Then the
//! memory a book of 100k contacts takes, and the time to open a sandbox
//! session over a 100k-contact fixture.
//!
//! Run with `cargo xtask bench contacts`.

mod common;

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use serde::{Serialize, Serializer};
use wharf_engine_api::{
    Contact, ListQuery, RSome, RString, Session, SortBy, SortOrder, support::ContactBook,
};

const BOOK_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
const PAGE: u32 = 100;
/// Pages timed per query on the book.
const BOOK_RUNS: usize = 1_000;
const LOADED: usize = 100_000;

/// Times of the old path per query: it sorts the whole book each time,
/// so the largest books get fewer (at least 2).
fn sort_runs(size: usize) -> usize {
    (2_000_000 / size).clamp(2, 200)
}

const FIRST: [&str; 16] = [
    "Ana", "ana", "Ángel", "Émile", "emil", "Zoë", "Øystein", "Oscar", "bob", "Chloé", "Dmitri",
    "Ñuño", "Yusuf", "İlkay", "Łukasz", "Mei",
];
const LAST: [&str; 12] = [
    "Silva", "da Costa", "Müller", "O'Neil", "Åberg", "van Dijk", "Nakamura", "smith", "Šimek",
    "Ölçer", "Nguyễn", "Dubois",
];

/// Contact number `index` of a generated book: ids in no particular
/// order (a bijection of the index), names from a few first and last
/// names with accents and case, so that many tie and are ordered by id;
/// one in ten without a name, one in fifty with a blank one, one in
/// three with a LID.
fn person(index: usize) -> Contact {
    let scrambled = (index as u64).wrapping_mul(2_654_435_761) % (1 << 32);
    let number = 10_000_000_000 + scrambled;
    let first = FIRST[index % FIRST.len()];
    let name = match scrambled % 50 {
        0..=4 => None,
        5 => Some(" ".to_owned()),
        n => Some(format!("{first} {}", LAST[n as usize % LAST.len()])),
    };
    Contact {
        id: format!("{number}@c.us").into(),
        number: RSome(number.to_string().into()),
        is_my_contact: name.is_some(),
        name: name.map(RString::from).into(),
        pushname: RSome(first.into()),
        short_name: RSome(first.into()),
        is_wa_contact: true,
        lid: index
            .is_multiple_of(3)
            .then(|| RString::from(format!("{}@lid", 100_000_000_000_000 + index)))
            .into(),
        ..Contact::default()
    }
}

/// A fixture of `size` generated contacts, written one contact at a
/// time so that building it leaves no garbage behind.
fn fixture(size: usize) -> Vec<u8> {
    struct Contacts(usize);
    impl Serialize for Contacts {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq((0..self.0).map(person))
        }
    }
    #[derive(Serialize)]
    struct Fixture {
        contacts: Contacts,
    }
    serde_json::to_vec(&Fixture {
        contacts: Contacts(size),
    })
    .expect("a fixture")
}

/// The process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = (status.lines())
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

/// Median and 99th percentile of `times`.
fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let at = |fraction: f64| times[((times.len() - 1) as f64 * fraction).round() as usize];
    (at(0.5), at(0.99))
}

/// The times of `runs` calls of `page`.
fn time(runs: usize, mut page: impl FnMut() -> Vec<Contact>) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(page());
            started.elapsed()
        })
        .collect()
}

/// The worst p99 of the book's pages at one book size.
struct Worst {
    size: usize,
    p99: Duration,
}

fn pages(size: usize) -> Worst {
    let book = {
        let mut book = ContactBook::<()>::new();
        book.extend_with((0..size).map(|index| (person(index), ())))
            .expect("a generated book has each person once");
        book
    };
    let all: Vec<Contact> = (0..size).map(person).collect();
    let runs = sort_runs(size);
    println!(
        "\nbook of {size} contacts: 100-row pages, book p50/p99 over {BOOK_RUNS} pages, \
         sort-all p50/p99 over {runs}"
    );
    let mut worst = Duration::ZERO;
    for sort_by in [SortBy::Id, SortBy::Name] {
        for sort_order in [SortOrder::Asc, SortOrder::Desc] {
            for (place, offset) in [("first", 0), ("middle", size / 2), ("last", size - 100)] {
                let query = ListQuery {
                    limit: RSome(PAGE),
                    offset: offset as u32,
                    sort_by,
                    sort_order,
                };
                // The old path's first answer, timed as one of its runs,
                // is what the book must answer.
                let started = Instant::now();
                let sorted = query.apply(all.clone());
                let mut sort_times = vec![started.elapsed()];
                assert_eq!(book.page(&query), sorted, "{query:?}");
                sort_times.extend(time(runs - 1, || query.apply(all.clone())));
                let (sort_p50, sort_p99) = percentiles(sort_times);
                let (book_p50, book_p99) = percentiles(time(BOOK_RUNS, || book.page(&query)));
                worst = worst.max(book_p99);
                println!(
                    "  {:<4} {:<4} {place:<6} offset {offset:>7}   book {:>7.3} / {:>7.3} ms   \
                     sort-all {:>9.2} / {:>9.2} ms   p50 ratio {:>8.0}x",
                    format!("{sort_by:?}").to_lowercase(),
                    format!("{sort_order:?}").to_lowercase(),
                    ms(book_p50),
                    ms(book_p99),
                    ms(sort_p50),
                    ms(sort_p99),
                    sort_p50.as_secs_f64() / book_p50.as_secs_f64(),
                );
            }
        }
    }
    Worst { size, p99: worst }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Memory first, while the process is clean: freed memory that the
    // allocator keeps would hide part of what a book takes.
    let fixture = fixture(LOADED);
    let before = rss();
    let mut book = ContactBook::<()>::new();
    book.extend_with((0..LOADED).map(|index| (person(index), ())))
        .expect("a generated book has each person once");
    let book_growth = rss().saturating_sub(before);
    let before = rss();
    let started = Instant::now();
    let session = runtime.block_on(common::open_session(fixture, dir.path(), "loaded"));
    let load = started.elapsed();
    let session_growth = rss().saturating_sub(before);
    let query = ListQuery {
        limit: RSome(PAGE),
        offset: LOADED as u32 / 2,
        sort_by: SortBy::Name,
        sort_order: SortOrder::Asc,
    };
    let (session_p50, session_p99) = percentiles(time(BOOK_RUNS, || {
        runtime
            .block_on(session.list_contacts(query))
            .expect("a page")
    }));
    assert_eq!(
        runtime
            .block_on(session.list_contacts(query))
            .expect("a page"),
        book.page(&query)
    );
    drop((session, book));

    println!("contacts: what a page costs as the book grows, side by side in one run");
    println!(
        "memory: ContactBook of {LOADED} contacts          RSS +{:>6.1} MiB",
        mib(book_growth)
    );
    println!(
        "load:   sandbox session over a {LOADED}-contact fixture (parse, index, save to SQLite) \
         {:>7.1} ms, RSS +{:>6.1} MiB",
        ms(load),
        mib(session_growth)
    );
    println!(
        "page:   that session's list_contacts, by name, offset {}    {:>7.3} / {:>7.3} ms (p50 / p99)",
        LOADED / 2,
        ms(session_p50),
        ms(session_p99)
    );
    let worst: Vec<Worst> = BOOK_SIZES.into_iter().map(pages).collect();
    println!("\nworst book p99 over all 12 pages, by book size:");
    for Worst { size, p99 } in &worst {
        println!(
            "  {size:>9} contacts   {:>7.3} ms   ratio to {} contacts {:>5.2}x",
            ms(*p99),
            worst[0].size,
            p99.as_secs_f64() / worst[0].p99.as_secs_f64()
        );
    }
}
