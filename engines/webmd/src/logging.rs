//! The crate's own log lines (the `log` crate, warn and above) into the
//! host's tracing, under the session that wrote them.
//!
//! `log` has one logger per library, and several sessions share this one,
//! so a line cannot say which session it is from. Each session's client
//! therefore runs on a [`ScopedRuntime`], which runs every task it spawns
//! inside a task-local naming the session; the logger reads it. Lines are
//! cleaned of anything that looks like a key or token first, and a
//! connect failure the crate only logs (a failed handshake) becomes the
//! session's status.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Once,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use wharf_engine_api::{Host, LogLevel, SessionStatus};
use whatsapp_rust::{
    TokioRuntime,
    wacore::runtime::{AbortHandle, Runtime},
};

tokio::task_local! {
    static SESSION: SessionLogs;
}

/// Where one session's crate log lines go.
#[derive(Clone)]
pub(crate) struct SessionLogs(Arc<Inner>);

struct Inner {
    name: String,
    host: Host,
    closed: AtomicBool,
    /// The last connect attempt failed to open the websocket.
    transport_down: AtomicBool,
}

impl SessionLogs {
    pub(crate) fn new(name: &str, host: Host) -> Self {
        install();
        Self(Arc::new(Inner {
            name: name.to_owned(),
            host,
            closed: AtomicBool::new(false),
            transport_down: AtomicBool::new(false),
        }))
    }

    /// The websocket could not be opened: the session FAILED with the
    /// transport's reason, which names the address and the cause. The
    /// crate's own line about the same attempt says less and is not let
    /// replace it.
    pub(crate) fn transport_failed(&self, reason: &str) {
        self.0.transport_down.store(true, Ordering::SeqCst);
        self.0.host.status(SessionStatus::FAILED, Some(reason));
    }

    /// The websocket opened: a connect failure now is the crate's to tell.
    pub(crate) fn transport_opened(&self) {
        self.0.transport_down.store(false, Ordering::SeqCst);
    }

    /// Lines from tasks still running after the session closed are dropped.
    pub(crate) fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
    }

    fn forward(&self, level: log::Level, target: &str, message: &str) {
        if self.0.closed.load(Ordering::SeqCst) {
            return;
        }
        let message = redact(message);
        let host_level = match level {
            log::Level::Error => LogLevel::Error,
            _ => LogLevel::Warn,
        };
        self.0.host.log(
            host_level,
            &format!("session {}: {target}: {message}", self.0.name),
        );
        // The client retries a failed connect (the app version, the
        // handshake) forever and says so only here; the status should say
        // why the session is not connecting.
        let failed_connect = message.strip_prefix("Failed to connect: ");
        if let Some(why) = failed_connect.filter(|_| level == log::Level::Error)
            && !self.0.transport_down.load(Ordering::SeqCst)
        {
            let why = why.trim_end_matches(". Will retry...");
            let reason = format!("cannot connect to WhatsApp: {why}; retrying with backoff");
            self.0.host.status(SessionStatus::FAILED, Some(&reason));
        }
    }
}

/// Masks what may be a secret: runs of 20 or more key-like characters
/// (base64, hex) that mix letters and digits. Phone numbers (digits only)
/// and words stay readable.
pub(crate) fn redact(message: &str) -> String {
    let keyish = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
    let mut out = String::with_capacity(message.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let secret = run.len() >= 20
            && run.chars().any(|c| c.is_ascii_digit())
            && run.chars().any(|c| c.is_ascii_alphabetic());
        if secret {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in message.chars() {
        if keyish(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

struct Bridge;

static BRIDGE: Bridge = Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // A line from no session's task (none of the crate's own tasks
        // runs outside one) has no session to be reported under.
        let _ = SESSION.try_with(|logs| {
            logs.forward(record.level(), record.target(), &record.args().to_string());
        });
    }

    fn flush(&self) {}
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only if a logger is set already (in a test binary, say);
        // then that one has the lines.
        if log::set_logger(&BRIDGE).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
}

/// The crate's tokio runtime, with every task it spawns inside the
/// session's log scope.
pub(crate) struct ScopedRuntime {
    inner: TokioRuntime,
    logs: SessionLogs,
}

impl ScopedRuntime {
    pub(crate) fn new(logs: SessionLogs) -> Self {
        Self {
            inner: TokioRuntime,
            logs,
        }
    }
}

#[whatsapp_rust::async_trait]
impl Runtime for ScopedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) -> AbortHandle {
        self.inner
            .spawn(Box::pin(SESSION.scope(self.logs.clone(), future)))
    }

    fn spawn_detached(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        self.inner
            .spawn_detached(Box::pin(SESSION.scope(self.logs.clone(), future)));
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.inner.sleep(duration)
    }

    fn spawn_blocking(
        &self,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let logs = self.logs.clone();
        self.inner
            .spawn_blocking(Box::new(move || SESSION.sync_scope(logs, f)))
    }

    fn yield_now(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        self.inner.yield_now()
    }

    fn yield_frequency(&self) -> u32 {
        self.inner.yield_frequency()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_are_masked_and_the_rest_stays_readable() {
        let line = "pair failed for 14155550100: key=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA== ref 2@AbC123dEf456GhI789jKl0";
        let redacted = redact(line);
        assert!(!redacted.contains("Zm9vYmFy"), "{redacted}");
        assert!(!redacted.contains("AbC123"), "{redacted}");
        assert!(redacted.contains("14155550100"), "{redacted}");
        assert!(redacted.starts_with("pair failed for"), "{redacted}");
    }
}
