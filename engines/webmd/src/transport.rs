//! The websocket transport, watched: whatsapp-rust retries a failed connect
//! with backoff but reports it only in its log, so this wrapper tells the
//! host why the session is not connected yet.

use std::sync::Arc;

use wharf_engine_api::{Host, SessionStatus};
use whatsapp_rust::{
    anyhow, async_channel,
    transport::TokioWebSocketTransportFactory,
    wacore::net::{Transport, TransportEvent, TransportFactory},
};

pub struct WatchedTransport {
    inner: TokioWebSocketTransportFactory,
    url: String,
    host: Host,
}

impl WatchedTransport {
    pub fn new(url: Option<&str>, host: Host) -> Self {
        let inner = match url {
            Some(url) => TokioWebSocketTransportFactory::new().with_url(url),
            None => TokioWebSocketTransportFactory::new(),
        };
        Self {
            inner,
            url: url.unwrap_or("WhatsApp's servers").to_owned(),
            host,
        }
    }
}

#[whatsapp_rust::async_trait]
impl TransportFactory for WatchedTransport {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>), anyhow::Error> {
        let created = self.inner.create_transport().await;
        if let Err(err) = &created {
            let reason = format!(
                "cannot connect to {}: {err:#}; retrying with backoff",
                self.url
            );
            self.host.warn(&reason);
            self.host.status(SessionStatus::STARTING, Some(&reason));
        }
        created
    }
}
