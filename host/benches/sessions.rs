//! wharf with many sessions: what creating, keeping, listing and
//! restoring them costs as their number grows.
//!
//! For each count in [`COUNTS`], the release `wharf` binary starts on an
//! empty data directory with the sandbox engine and an API key, as in
//! production. Over [`CONNECTIONS`] loopback keep-alive connections the
//! benchmark creates that many sandbox sessions (`POST /api/sessions`, as
//! a WAHA client does) and times until every one is WORKING; then it reads
//! the host's resident memory from `/proc`, and times listing every
//! session (`GET /api/sessions?all=true`) and getting one. Then it stops
//! the host with SIGTERM, as an operator's service manager does, starts it
//! again on the same data directory, and times until the API answers and
//! until every session is WORKING again. The figures of the largest count
//! are printed next to those of the smallest, with their ratio, and next
//! to the targets of issue 12.
//!
//! Run with `cargo xtask bench sessions`.

mod common;

use std::{
    net::SocketAddr,
    path::Path,
    process::Child,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{connect, free_port, send, wait_until_up};

/// How many sessions each round creates.
const COUNTS: [usize; 2] = [1_000, 10_000];
/// Requests under way at once while creating.
const CONNECTIONS: usize = 32;
/// Lists timed per round (each answers every session).
const LISTS: usize = 50;
/// One-session gets timed per round.
const GETS: usize = 1_000;
/// How long any one wait may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(300);

/// What one round measured.
struct Figures {
    count: usize,
    created: Duration,
    working: Duration,
    rss: u64,
    list: (Duration, Duration),
    get: (Duration, Duration),
    stopped: Duration,
    answering: Duration,
    restored: Duration,
    restored_rss: u64,
}

fn session_name(index: usize) -> String {
    format!("s{index:05}")
}

/// The resident memory of process `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the host's /proc status");
    let kib: u64 = (status.lines())
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in the host's /proc status");
    kib * 1024
}

/// Creates sessions `0..count` over [`CONNECTIONS`] connections at once.
async fn create_sessions(address: SocketAddr, count: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut sender = connect(address).await;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return;
                    }
                    let body = format!(
                        r#"{{"name": "{}", "engine": "sandbox"}}"#,
                        session_name(index)
                    );
                    let (status, answer) =
                        send(&mut sender, "POST", "/api/sessions", Some(&body)).await;
                    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("a client");
    }
}

/// How many sessions the host lists as WORKING; a FAILED one ends the
/// benchmark with its reason.
async fn working(address: SocketAddr) -> usize {
    let mut sender = connect(address).await;
    let (status, body) = send(&mut sender, "GET", "/api/sessions", None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let sessions: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("a list");
    if let Some(failed) = sessions
        .iter()
        .find(|session| session["status"] == "FAILED")
    {
        panic!("a session failed: {failed}");
    }
    (sessions.iter())
        .filter(|session| session["status"] == "WORKING")
        .count()
}

/// Waits until `count` sessions are WORKING.
async fn wait_until_working(address: SocketAddr, count: usize) {
    let started = Instant::now();
    while working(address).await < count {
        assert!(
            started.elapsed() < PATIENCE,
            "the sessions did not all work within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the API answers a session's get (not only `/ping`).
async fn wait_until_answering(address: SocketAddr, server: &mut Child) {
    wait_until_up(address, server).await;
    let path = format!("/api/sessions/{}", session_name(0));
    let started = Instant::now();
    loop {
        let mut sender = connect(address).await;
        if send(&mut sender, "GET", &path, None).await.0 == 200 {
            return;
        }
        assert!(started.elapsed() < PATIENCE, "{path} never answered 200");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Median and 99th percentile of `runs` sequential requests to `path`.
async fn latency(address: SocketAddr, path: &str, runs: usize) -> (Duration, Duration) {
    let mut sender = connect(address).await;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let (status, _) = send(&mut sender, "GET", path, None).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{path}");
    }
    times.sort();
    let at = |fraction: f64| times[((times.len() - 1) as f64 * fraction).round() as usize];
    (at(0.5), at(0.99))
}

/// The host under test; killed if the benchmark ends early (a panic), so
/// that no host is left serving 10,000 sessions.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks the host to stop as a service manager does, and waits until it has.
fn terminate(server: &mut Server) -> Duration {
    let started = Instant::now();
    let pid = libc::pid_t::try_from(server.0.id()).expect("a process id");
    // SAFETY: `kill` only sends a signal to our own child, still unreaped.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM to the host");
    let status = server.0.wait().expect("the host exits");
    assert!(status.success(), "the host exited with {status}");
    started.elapsed()
}

/// One round: `count` sessions created, kept, listed, and restored.
async fn round(dir: &Path, count: usize) -> Figures {
    let engines = common::sandbox_engines_dir(dir, "sessions");
    let data = dir.join("data");
    let port = free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let start = || {
        Server(
            common::wharf_serve(port, &engines, &data)
                .spawn()
                .expect("start wharf"),
        )
    };
    let mut server = start();
    wait_until_up(address, &mut server.0).await;

    let started = Instant::now();
    create_sessions(address, count).await;
    let created = started.elapsed();
    wait_until_working(address, count).await;
    let working = started.elapsed();
    let rss = resident(server.0.id());
    let list = latency(address, "/api/sessions?all=true", LISTS).await;
    let one = format!("/api/sessions/{}", session_name(count / 2));
    let get = latency(address, &one, GETS).await;
    let stopped = terminate(&mut server);

    let started = Instant::now();
    let mut server = start();
    wait_until_answering(address, &mut server.0).await;
    let answering = started.elapsed();
    wait_until_working(address, count).await;
    let restored = started.elapsed();
    let restored_rss = resident(server.0.id());
    terminate(&mut server);
    Figures {
        count,
        created,
        working,
        rss,
        list,
        get,
        stopped,
        answering,
        restored,
        restored_rss,
    }
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print(figures: &Figures) {
    println!("\n{} sandbox sessions:", figures.count);
    println!(
        "  created (201)       {:>9.0} ms   all WORKING {:>9.0} ms after the first create",
        ms(figures.created),
        ms(figures.working)
    );
    println!(
        "  host RSS            {:>9.1} MiB; after the restart {:.1} MiB",
        mib(figures.rss),
        mib(figures.restored_rss)
    );
    println!(
        "  list all            p50 {:>8.2} ms   p99 {:>8.2} ms",
        ms(figures.list.0),
        ms(figures.list.1)
    );
    println!(
        "  get one             p50 {:>8.3} ms   p99 {:>8.3} ms",
        ms(figures.get.0),
        ms(figures.get.1)
    );
    println!(
        "  SIGTERM to exit     {:>9.0} ms; restarted: API answers {:>6.0} ms, all WORKING {:>6.0} ms",
        ms(figures.stopped),
        ms(figures.answering),
        ms(figures.restored)
    );
}

/// The figures of `large` next to those of `small`, with their ratio.
fn print_ratios(small: &Figures, large: &Figures) {
    let ratio = |of: fn(&Figures) -> f64| of(large) / of(small);
    println!(
        "\n{} sessions next to {} ({}x as many): time to all WORKING {:.1}x, RSS {:.1}x, \
         list p50 {:.1}x, get p50 {:.1}x, restart to all WORKING {:.1}x",
        large.count,
        small.count,
        large.count / small.count,
        ratio(|f| f.working.as_secs_f64()),
        ratio(|f| f.rss as f64),
        ratio(|f| f.list.0.as_secs_f64()),
        ratio(|f| f.get.0.as_secs_f64()),
        ratio(|f| f.restored.as_secs_f64()),
    );
    let more = (large.count - small.count) as f64;
    println!(
        "each session more: {:.1} KiB of RSS, {:.3} ms to create and work, {:.3} ms to restore",
        (large.rss as f64 - small.rss as f64) / 1024.0 / more,
        (large.working.as_secs_f64() - small.working.as_secs_f64()) * 1e3 / more,
        (large.restored.as_secs_f64() - small.restored.as_secs_f64()) * 1e3 / more,
    );
    println!(
        "targets (issue 12) at 10,000 sessions: RSS under 500 MB, all created and WORKING \
         in under 5 s, restart serving again in under 3 s, a list that stays fast"
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    println!(
        "wharf sessions benchmark: the release host, sandbox sessions created over \
         {CONNECTIONS} connections, lists timed {LISTS} times, gets {GETS} times"
    );
    let figures: Vec<Figures> = COUNTS
        .into_iter()
        .map(|count| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let figures = runtime.block_on(round(dir.path(), count));
            print(&figures);
            figures
        })
        .collect();
    if let [small, .., large] = figures.as_slice() {
        print_ratios(small, large);
    }
}
