//! The websocket transport, watched: whatsapp-rust retries a failed connect
//! with backoff but reports it only in its log, so this wrapper fails the
//! session with the reason while the crate retries.

use std::sync::Arc;

use wharf_engine_api::Host;
use whatsapp_rust::{
    anyhow, async_channel,
    transport::TokioWebSocketTransportFactory,
    wacore::net::{Transport, TransportEvent, TransportFactory},
};

use crate::logging::SessionLogs;

pub(crate) struct WatchedTransport {
    inner: TokioWebSocketTransportFactory,
    url: String,
    host: Host,
    logs: SessionLogs,
}

impl WatchedTransport {
    pub(crate) fn new(url: Option<&str>, host: Host, logs: SessionLogs) -> Self {
        let inner = match url {
            Some(url) => TokioWebSocketTransportFactory::new().with_url(url),
            None => TokioWebSocketTransportFactory::new(),
        };
        Self {
            inner,
            url: url.unwrap_or("WhatsApp's servers").to_owned(),
            host,
            logs,
        }
    }
}

#[whatsapp_rust::async_trait]
impl TransportFactory for WatchedTransport {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>), anyhow::Error> {
        let created = self.inner.create_transport().await;
        match &created {
            Ok(_) => self.logs.transport_opened(),
            Err(err) => {
                let reason = format!(
                    "cannot connect to {}: {err:#}; retrying with backoff",
                    self.url
                );
                self.host.warn(&reason);
                self.logs.transport_failed(&reason);
            }
        }
        created
    }
}
