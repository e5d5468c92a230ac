//! Clients that connect and then say nothing, or stop half-way: the host
//! must cut them off after its timeouts, stay within its connection limit,
//! and keep answering everyone else meanwhile.
//!
//! These tests speak raw HTTP/1.1 over loopback TCP, to control exactly
//! what reaches the host and when. Every read has a generous bound
//! ([`BOUND`]) so that a connection the host fails to close shows up as a
//! failed test, not a hung one.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    time::Duration,
};

use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

/// How long a test waits for the host to close a connection. Far longer
/// than the 1 s timeouts the hosts below get, and shorter than the 60 s
/// timeouts they must not be cut off by.
const BOUND: Duration = Duration::from_secs(20);

fn address(host: &Host) -> SocketAddr {
    host.url("")
        .trim_start_matches("http://")
        .parse()
        .expect("the host's address")
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect to the host");
    stream
        .set_read_timeout(Some(BOUND))
        .expect("a read timeout");
    stream
}

/// Everything the host sends until it closes the connection. Panics when the
/// connection is still open after [`BOUND`].
fn until_closed(stream: &mut TcpStream, what: &str) -> String {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            // The host dropped the connection with our bytes unread.
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "{what}: the connection is still open after {BOUND:?}; received {:?}",
                    String::from_utf8_lossy(&received)
                )
            }
            Err(err) => panic!("{what}: {err}"),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Whether the host has closed the connection, without waiting.
fn is_closed(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("a non-blocking socket");
    let mut buffer = [0; 1024];
    let closed = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    stream.set_nonblocking(false).expect("a blocking socket");
    closed
}

/// One HTTP answer: status, lower-case header lines, and the JSON body.
struct Answer {
    status: u16,
    headers: Vec<String>,
    body: Value,
}

fn parse(raw: &str) -> Answer {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw:?}"));
    Answer {
        status,
        headers: lines.map(str::to_ascii_lowercase).collect(),
        body: serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {raw:?}")),
    }
}

/// Reads one answer whose length is given by `Content-Length`, leaving the
/// connection open.
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut received = Vec::new();
    let mut byte = [0; 1];
    while !received.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("the head of an answer");
        assert_eq!(n, 1, "the connection closed mid-answer: {received:?}");
        received.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length: {head}"));
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("the body of an answer");
    received.extend_from_slice(&body);
    parse(&String::from_utf8_lossy(&received))
}

/// A client of its own, so that connections the host closed under another
/// client's pool cannot get in the way.
fn fresh_get(host: &Host, path: &str) -> (u16, Value) {
    let client = reqwest::blocking::Client::builder()
        .timeout(BOUND)
        .build()
        .expect("an HTTP client");
    let response = client
        .get(host.url(path))
        .send()
        .unwrap_or_else(|err| panic!("GET {path}: {err}\n{}", host.log()));
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON body"))
}

#[test]
fn a_connection_that_stops_mid_headers_is_closed_after_the_header_timeout() {
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--header-timeout", "1", "--idle-timeout", "60"])
        .start();
    let mut stream = connect(address(&host));
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: wharf\r\nX-Slow: ")
        .expect("send part of the headers");
    let received = until_closed(&mut stream, "partial headers");
    assert!(
        !received.contains("pong"),
        "an unfinished request is never answered: {received:?}"
    );
    assert_eq!(fresh_get(&host, "/ping").0, 200);
}

#[test]
fn a_stalled_body_gets_408_and_the_connection_is_closed() {
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--body-timeout", "1", "--idle-timeout", "60"])
        .start();
    let mut stream = connect(address(&host));
    stream
        .write_all(
            b"POST /api/sessions HTTP/1.1\r\nHost: wharf\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\": ",
        )
        .expect("send the head and part of the body");
    let answer = parse(&until_closed(&mut stream, "a stalled body"));
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert_eq!(answer.body["statusCode"], 408);
    assert_eq!(answer.body["error"], "Request Timeout");
    assert_eq!(answer.body["field"], "body");
    assert!(
        answer
            .headers
            .iter()
            .any(|line| line == "connection: close"),
        "{:?}",
        answer.headers
    );
    let (status, sessions) = fresh_get(&host, "/api/sessions");
    assert_eq!((status, sessions), (200, json!([])), "nothing was created");
}

#[test]
fn silent_and_idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--idle-timeout", "1", "--header-timeout", "60"])
        .start();
    let mut silent = connect(address(&host));
    assert_eq!(until_closed(&mut silent, "a silent connection"), "");

    let mut kept_alive = connect(address(&host));
    for _ in 0..2 {
        kept_alive
            .write_all(b"GET /ping HTTP/1.1\r\nHost: wharf\r\n\r\n")
            .expect("send a request");
        let answer = read_answer(&mut kept_alive);
        assert_eq!(
            (answer.status, answer.body),
            (200, json!({"message": "pong"}))
        );
    }
    assert_eq!(
        until_closed(&mut kept_alive, "an idle keep-alive connection"),
        ""
    );
}

#[test]
fn while_hundreds_of_slow_connections_are_held_others_are_still_answered() {
    const LIMIT: usize = 40;
    const SLOW: usize = 300;
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&[
            "--max-connections",
            &LIMIT.to_string(),
            "--header-timeout",
            "60",
            "--idle-timeout",
            "60",
        ])
        .start();
    host.create_session("default", "sandbox", json!({}));

    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|i| {
            let mut stream = connect(address(&host));
            if i % 2 == 0 {
                stream
                    .write_all(b"GET /ping HTTP/1.1\r\nHost: wharf\r\n")
                    .expect("send part of the headers");
            }
            stream
        })
        .collect();

    assert_eq!(fresh_get(&host, "/ping"), (200, json!({"message": "pong"})));
    let (status, contacts) = fresh_get(&host, "/api/default/contacts/all");
    assert_eq!(status, 200, "{contacts}");
    assert!(contacts.is_array(), "{contacts}");

    // The host made room by closing the slow connections that had waited
    // longest: their clients see the connection end, none is left hanging.
    let closed = host.eventually("the slow connections over the limit to be closed", || {
        let closed = slow.iter().filter(|s| is_closed(s)).count();
        if closed >= SLOW - LIMIT {
            Ok(closed)
        } else {
            Err(json!(closed))
        }
    });
    assert!(closed <= SLOW, "{closed}");
}

/// A request whose head is complete and whose body the host has started to
/// read (it answered `100 Continue`), and then stalls: busy, not idle.
fn busy_connection(address: SocketAddr) -> TcpStream {
    let mut stream = connect(address);
    stream
        .write_all(
            b"POST /api/sessions HTTP/1.1\r\nHost: wharf\r\nExpect: 100-continue\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        )
        .expect("send the head");
    let mut interim = [0; 25];
    stream
        .read_exact(&mut interim)
        .expect("the host asks for the body");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
        .write_all(b"{\"name\": ")
        .expect("send part of the body");
    stream
}

#[test]
fn when_every_connection_is_busy_a_new_one_gets_503_and_is_closed() {
    const LIMIT: usize = 5;
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&[
            "--max-connections",
            &LIMIT.to_string(),
            "--body-timeout",
            "60",
        ])
        .start();
    let busy: Vec<TcpStream> = (0..LIMIT)
        .map(|_| busy_connection(address(&host)))
        .collect();

    let mut over = connect(address(&host));
    over.write_all(b"GET /ping HTTP/1.1\r\nHost: wharf\r\n\r\n")
        .expect("send a request");
    let answer = parse(&until_closed(&mut over, "a connection over the limit"));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["statusCode"], 503);
    assert_eq!(answer.body["error"], "Service Unavailable");
    assert!(
        answer
            .headers
            .iter()
            .any(|line| line == "connection: close"),
        "{:?}",
        answer.headers
    );

    drop(busy);
    host.eventually(
        "the host to answer again once the busy clients left",
        || {
            let (status, body) = fresh_get(&host, "/ping");
            if status == 200 { Ok(()) } else { Err(body) }
        },
    );
}

/// The soft and hard limits on open files of process `pid`, as the kernel
/// reports them.
#[cfg(target_os = "linux")]
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("limits"))
        .expect("the host's /proc limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no open files line in {limits}"));
    let mut numbers = line.split_whitespace().skip(3);
    let soft = numbers.next().expect("the soft limit").to_owned();
    let hard = numbers.next().expect("the hard limit").to_owned();
    (soft, hard)
}

#[cfg(target_os = "linux")]
#[test]
fn the_host_raises_its_open_files_soft_limit_to_the_hard_limit() {
    let host = Host::builder().ulimit("-S -n 256").start();
    let (soft, hard) = open_files_limits(host.pid());
    assert_ne!(hard, "256", "this test needs a hard limit above 256");
    assert_eq!(soft, hard, "{}", host.log());
    assert!(
        host.log().contains(&format!("open files limit: {hard}")),
        "{}",
        host.log()
    );
}

#[test]
fn with_few_file_descriptors_the_host_keeps_answering_past_them() {
    // Soft and hard: the host cannot raise it, and must stay under it.
    let host = Host::builder().ulimit("-n 128").start();
    let silent: Vec<TcpStream> = (0..200).map(|_| connect(address(&host))).collect();
    assert_eq!(
        fresh_get(&host, "/ping"),
        (200, json!({"message": "pong"})),
        "{}",
        host.log()
    );
    assert!(
        !host.log().contains("Too many open files"),
        "{}",
        host.log()
    );
    drop(silent);
}

#[test]
fn on_sigterm_a_request_under_way_is_finished_and_idle_connections_are_closed() {
    let mut host = Host::start(&[engines::SANDBOX]);
    let mut under_way = busy_connection(address(&host));
    let mut idle = connect(address(&host));
    host.signal("TERM");

    assert_eq!(
        until_closed(&mut idle, "an idle connection at shutdown"),
        ""
    );
    // The body so far is `{"name": ` (9 of the 100 bytes announced).
    let rest = format!("\"late\"{}}}", " ".repeat(100 - 9 - 6 - 1));
    let answer = under_way
        .write_all(rest.as_bytes())
        .map(|()| until_closed(&mut under_way, "the request under way"));
    let exit = host.wait_for_exit();
    assert!(
        exit.success(),
        "the host ended with {exit}:\n{}",
        host.log()
    );
    let answer = parse(&answer.expect("send the rest of the body"));
    assert_eq!(answer.status, 201, "{}\n{}", answer.body, host.log());
    assert_eq!(answer.body["name"], "late");
    assert!(host.log().contains("closing sessions"), "{}", host.log());
}

/// An operator who does not want to wait for the requests under way (or
/// an orchestrator's second signal) stops the host at once: what is stored
/// is stored already.
#[test]
fn a_second_signal_stops_the_host_without_waiting_for_requests_under_way() {
    let mut host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--body-timeout", "600"])
        .start();
    // A request whose body will not come for ten minutes.
    let _under_way = busy_connection(address(&host));
    host.signal("TERM");
    host.wait_for_log("a second SIGINT or SIGTERM stops at once");
    host.signal("TERM");
    let exit = host.wait_for_exit();
    assert_eq!(exit.code(), Some(1), "{}", host.log());
    assert!(
        host.log().contains("stopped by a second signal"),
        "{}",
        host.log()
    );
}

/// An orchestrator may stop a host that has only just started (a rollout
/// replaced it before it was ready): a SIGTERM at any point of start-up
/// must shut it down cleanly, never end it by the signal's default action.
#[test]
fn a_sigterm_during_start_up_shuts_the_host_down_cleanly() {
    let mut host = Host::builder().engines(&[engines::SANDBOX]).start_loading();
    host.signal("TERM");
    let exit = host.wait_for_exit();
    assert!(
        exit.success(),
        "the host ended with {exit}:\n{}",
        host.log()
    );
    assert!(host.log().contains("closing sessions"), "{}", host.log());
}
