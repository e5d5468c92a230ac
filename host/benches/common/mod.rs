//! What the host's benchmarks that drive the release `wharf` binary share:
//! starting it over the sandbox engine with an API key, as in production,
//! and speaking HTTP/1 to it over loopback keep-alive connections.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::{body::Bytes, http::header};
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(crate) const API_KEY: &str = "bench-key-8f3a1c";

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// A keep-alive HTTP/1 connection to `address`, its driver spawned.
pub(crate) async fn connect<B>(address: SocketAddr) -> http1::SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1 connection");
    tokio::spawn(connection);
    sender
}

/// One request, with the API key, on its own connection's `sender`; its
/// status and body.
pub(crate) async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
        .header("x-api-key", API_KEY)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .expect("a request");
    sender.ready().await.expect("the connection stays open");
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, body)
}

/// Waits until `server` takes connections on `address` (at most 30 s).
pub(crate) async fn wait_until_up(address: SocketAddr, server: &mut Child) {
    for _ in 0..600 {
        if TcpStream::connect(address).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!("the server exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

/// An engines directory under `dir` holding the release sandbox library
/// that `cargo xtask bench` names in `WHARF_BENCH_ENGINE`.
pub(crate) fn sandbox_engines_dir(dir: &Path, bench: &str) -> PathBuf {
    let library = std::env::var_os("WHARF_BENCH_ENGINE").unwrap_or_else(|| {
        eprintln!("run this benchmark with `cargo xtask bench {bench}`");
        std::process::exit(2);
    });
    let engines = dir.join("engines");
    std::fs::create_dir_all(&engines).expect("engines directory");
    let library = Path::new(&library);
    std::fs::copy(
        library,
        engines.join(library.file_name().expect("a file name")),
    )
    .expect("copy the engine library");
    engines
}

/// `wharf serve` on loopback `port` over `engines` and `data`, with the
/// API key set and only warnings logged; the caller adds its options.
pub(crate) fn wharf_serve(port: u16, engines: &Path, data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
    command
        .args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--engines-dir")
        .arg(engines)
        .arg("--data-dir")
        .arg(data)
        .env("WHARF_API_KEY", API_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    command
}
