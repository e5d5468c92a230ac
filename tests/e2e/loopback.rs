//! Servers the tests stand up on loopback: fakes of what the host talks
//! to (a webhook receiver, the Graph API).

use std::{future::Future, net::SocketAddr, thread};

use axum::Router;
use tokio::sync::oneshot;

/// Serves `app` on a free loopback port, from a thread and runtime of its
/// own, until the returned sender is dropped; returns where it listens.
pub(crate) fn serve(app: Router) -> (SocketAddr, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel();
    let address = serve_until(app, async {
        let _ = stopped.await;
    });
    (address, stop)
}

/// Serves `app` as [`serve`] does, until `stop` completes.
pub(crate) fn serve_until(
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
                .unwrap();
        });
    });
    address
}
