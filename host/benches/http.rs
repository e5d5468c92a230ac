//! wharf's HTTP path against a bare axum server, side by side in one run.
//!
//! The release `wharf` binary serves the sandbox engine with an API key
//! set, as in production. A bare axum server (this benchmark, run again
//! as a child process) answers the same routes with the same JSON bytes,
//! which it asked wharf for first, from memory and without a key check:
//! what serving these answers costs with nothing of wharf's in the way.
//! Both run as separate processes with the same runtime settings; the
//! same load generator drives each in turn, several times, over loopback
//! keep-alive connections, and the median rate of each is compared, with
//! the CPU time each server spent per request in its windows (from Linux's
//! `/proc`). `/ping` runs the same way: it passes the API-key check and
//! the router but calls no engine, so it shows what the server around the
//! routes costs, apart from the contact routes' own work.
//!
//! Then a second session over a generated book of [`BIG_BOOK`] contacts:
//! the latency of one 100-row page at a time over HTTP, at the first,
//! middle and last offsets, by id and by name (p50 and p99).
//!
//! Run with `cargo xtask bench http`.

mod common;

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, http::header, routing::get};
use common::{API_KEY, connect, free_port, send, wait_until_up};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
const CONNECTIONS: usize = 32;
const WINDOW: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;
/// Set in the child that serves the bare answers: `port;route=file;…`.
const BARE_ENV: &str = "WHARF_BENCH_BARE";
/// The size of the book whose pages are timed.
const BIG_BOOK: usize = 100_000;
/// Pages timed per offset and order.
const PAGES: usize = 500;

/// The operations compared, as a REST user calls them.
const OPERATIONS: [(&str, &str); 4] = [
    (
        "contacts.get",
        "/api/contacts?contactId=14155550100&session=default",
    ),
    (
        "contacts.list (100)",
        "/api/default/contacts/all?limit=100&sortBy=name",
    ),
    (
        "contacts.check_exists",
        "/api/contacts/check-exists?phone=14155550100&session=default",
    ),
    ("ping (no engine call)", "/ping"),
];

/// One keep-alive connection's requests, as fast as answers come.
async fn drive(
    address: SocketAddr,
    path: &'static str,
    key: bool,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    let mut sender = connect(address).await;
    while !stop.load(Ordering::Relaxed) {
        let mut request = Request::get(path).header(header::HOST, "127.0.0.1");
        if key {
            request = request.header("x-api-key", API_KEY);
        }
        let request = request.body(Empty::<Bytes>::new()).expect("a request");
        // The connection takes the next request once it has finished the last.
        sender.ready().await.expect("the connection stays open");
        let response = sender.send_request(request).await.expect("an answer");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.into_body().collect().await.expect("a body");
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one window of load on a server measured.
struct Window {
    requests: u64,
    elapsed: Duration,
    /// The server's CPU time (user and system, every thread) meanwhile.
    cpu: Option<Duration>,
}

/// The CPU time process `pid` has used so far, from Linux's `/proc`.
fn cpu_time(pid: u32) -> Option<Duration> {
    /// `/proc` counts CPU time in these ticks on every Linux architecture.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may
    // hold spaces: utime and stime are the 12th and 13th of them.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let mut ticks = || fields.next()?.parse::<u64>().ok();
    let total = ticks()? + ticks()?;
    Some(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}

/// One window of [`CONNECTIONS`] driving `path` on the server `pid` as fast
/// as it answers.
async fn window(address: SocketAddr, pid: u32, path: &'static str, key: bool) -> Window {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            tokio::spawn(drive(
                address,
                path,
                key,
                Arc::clone(&stop),
                Arc::clone(&done),
            ))
        })
        .collect();
    // A moment for every connection to be up before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (started, before, cpu_before) =
        (Instant::now(), done.load(Ordering::Relaxed), cpu_time(pid));
    tokio::time::sleep(WINDOW).await;
    let requests = done.load(Ordering::Relaxed) - before;
    let cpu = cpu_time(pid)
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client");
    }
    Window {
        requests,
        elapsed,
        cpu,
    }
}

/// The median rate of `windows` and the CPU time per request over all of
/// them, when known.
fn summary(windows: &[Window]) -> (f64, Option<Duration>) {
    let rates = windows
        .iter()
        .map(|window| window.requests as f64 / window.elapsed.as_secs_f64())
        .collect();
    let requests: u64 = windows.iter().map(|window| window.requests).sum();
    let cpu: Option<Duration> = windows.iter().map(|window| window.cpu).sum();
    let per_request = cpu.and_then(|cpu| cpu.checked_div(u32::try_from(requests).ok()?));
    (median(rates), per_request)
}

fn show_cpu(per_request: Option<Duration>) -> String {
    per_request.map_or_else(
        || "CPU/req  n/a".to_owned(),
        |cpu| format!("CPU/req {:>5.1} µs", cpu.as_secs_f64() * 1e6),
    )
}

/// The child: serves each route's bytes, nothing else.
async fn serve_bare(spec: &str) {
    let mut parts = spec.split(';');
    let port: u16 = parts.next().and_then(|p| p.parse().ok()).expect("a port");
    let mut router = Router::new();
    for part in parts {
        let (route, file) = part.split_once('=').expect("route=file");
        let body = Bytes::from(std::fs::read(file).expect("a body file"));
        router = router.route(
            route,
            get(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, router).await.expect("serve");
}

/// A fixture of `size` contacts with names from a few first and last
/// names (so many tie), one in ten without one, ids in no order.
fn big_book(size: usize) -> Vec<u8> {
    const FIRST: [&str; 6] = ["Ana", "Émile", "bob", "Zoë", "Øystein", "Carol"];
    const LAST: [&str; 5] = ["Silva", "Müller", "o'Brien", "Nguyễn", "Smith"];
    let contacts: Vec<_> = (0..size)
        .map(|index| {
            let scrambled = (index as u64).wrapping_mul(2_654_435_761) % (1 << 32);
            let number = 10_000_000_000 + scrambled;
            let name = (!scrambled.is_multiple_of(10)).then(|| {
                let first = FIRST[index % FIRST.len()];
                format!("{first} {}", LAST[scrambled as usize % LAST.len()])
            });
            serde_json::json!({
                "id": format!("{number}@c.us"),
                "number": number.to_string(),
                "name": name,
                "isWAContact": true,
                "isMyContact": name.is_some(),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "contacts": contacts })).expect("a fixture")
}

/// Creates a session over the big book, waits until it works, and times
/// pages of it one at a time.
async fn time_big_book_pages(address: SocketAddr) {
    let mut sender = connect(address).await;
    let create = r#"{"name": "big", "engine": "sandbox", "config": {"fixture": "big.json"}}"#;
    let (status, body) = send(&mut sender, "POST", "/api/sessions", Some(create)).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let loading = Instant::now();
    loop {
        let (_, body) = send(&mut sender, "GET", "/api/sessions/big", None).await;
        let info: serde_json::Value = serde_json::from_slice(&body).expect("a session");
        match info["status"].as_str() {
            Some("WORKING") => break,
            Some("STARTING") => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => panic!("the big session did not start: {info}"),
        }
    }
    println!(
        "a session over a {BIG_BOOK}-contact book works {:.2} s after it was created; \
         one 100-row page at a time over HTTP, {PAGES} pages each:",
        loading.elapsed().as_secs_f64()
    );
    let last = BIG_BOOK - 100;
    for sort_by in ["id", "name"] {
        for (place, offset) in [("first", 0), ("middle", BIG_BOOK / 2), ("last", last)] {
            let path = format!("/api/big/contacts/all?limit=100&offset={offset}&sortBy={sort_by}");
            let mut times = Vec::with_capacity(PAGES);
            for _ in 0..PAGES {
                let started = Instant::now();
                let (status, _) = send(&mut sender, "GET", &path, None).await;
                times.push(started.elapsed());
                assert_eq!(status, 200, "{path}");
            }
            times.sort();
            let ms = |at: usize| times[at].as_secs_f64() * 1e3;
            println!(
                "  by {sort_by:<4} at the {place:<6} page   p50 {:>6.3} ms   p99 {:>6.3} ms",
                ms(PAGES / 2),
                ms(PAGES * 99 / 100)
            );
        }
    }
}

fn start_wharf(dir: &Path, port: u16) -> Child {
    let engines = common::sandbox_engines_dir(dir, "http");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("config files directory");
    std::fs::write(files.join("big.json"), big_book(BIG_BOOK)).expect("the big book");
    common::wharf_serve(port, &engines, &dir.join("data"))
        .args(["--start-session", "default", "--config-files-dir"])
        .arg(&files)
        .spawn()
        .expect("start wharf")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    if let Ok(spec) = std::env::var(BARE_ENV) {
        runtime.block_on(serve_bare(&spec));
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (wharf_port, bare_port) = (free_port(), free_port());
    let wharf_address = SocketAddr::from(([127, 0, 0, 1], wharf_port));
    let bare_address = SocketAddr::from(([127, 0, 0, 1], bare_port));
    let mut wharf = start_wharf(dir.path(), wharf_port);
    runtime.block_on(async {
        wait_until_up(wharf_address, &mut wharf).await;
        let mut spec = bare_port.to_string();
        for (index, (_, path)) in OPERATIONS.iter().enumerate() {
            let body = fetch_when_working(wharf_address, path).await;
            let file = dir.path().join(format!("body-{index}.json"));
            std::fs::write(&file, body).expect("a body file");
            let route = path.split('?').next().unwrap_or(path);
            spec.push_str(&format!(";{route}={}", file.display()));
        }
        let mut bare = Command::new(std::env::current_exe().expect("this benchmark"))
            .env(BARE_ENV, spec)
            .spawn()
            .expect("start the bare server");
        wait_until_up(bare_address, &mut bare).await;

        println!(
            "wharf HTTP benchmark: {CONNECTIONS} keep-alive connections, median of {ROUNDS} windows of {WINDOW:?} each, wharf (sandbox, API key on) and bare axum (same bytes, no key) in turns; each server's CPU time per request over its windows"
        );
        for (operation, path) in OPERATIONS {
            let (mut wharf_windows, mut bare_windows) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                wharf_windows.push(window(wharf_address, wharf.id(), path, true).await);
                bare_windows.push(window(bare_address, bare.id(), path, false).await);
            }
            let (wharf_rate, wharf_cpu) = summary(&wharf_windows);
            let (bare_rate, bare_cpu) = summary(&bare_windows);
            println!(
                "{operation:<24} wharf {wharf_rate:>7.0} req/s, {}   bare axum {bare_rate:>7.0} req/s, {}   wharf/bare {:>5.2}x",
                show_cpu(wharf_cpu),
                show_cpu(bare_cpu),
                wharf_rate / bare_rate
            );
        }
        let _ = bare.kill();
        let _ = bare.wait();
        println!();
        time_big_book_pages(wharf_address).await;
    });
    let _ = wharf.kill();
    let _ = wharf.wait();
}

/// The answer to `path` once the session serves it (it starts with the host).
async fn fetch_when_working(address: SocketAddr, path: &str) -> Vec<u8> {
    for _ in 0..600 {
        let mut sender = connect(address).await;
        let request = Request::get(path)
            .header(header::HOST, "127.0.0.1")
            .header("x-api-key", API_KEY)
            .body(Empty::<Bytes>::new())
            .expect("a request");
        let response = sender.send_request(request).await.expect("an answer");
        if response.status().is_success() {
            return response
                .into_body()
                .collect()
                .await
                .expect("a body")
                .to_bytes()
                .to_vec();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never answered 200");
}
