//! Rescanning the engines directory while the host runs: on request
//! (`POST /api/server/engines/reload`), on SIGHUP, and, with `--watch`,
//! whenever the directory changes.

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::engines::{Fingerprint, Registry, ReloadReport};

/// Rescans off the async runtime: loading a library blocks.
pub async fn rescan(registry: &Arc<Registry>) -> std::io::Result<ReloadReport> {
    let registry = Arc::clone(registry);
    tokio::task::spawn_blocking(move || registry.rescan())
        .await
        .unwrap_or_else(|panicked| {
            Err(std::io::Error::other(format!(
                "the rescan failed: {panicked}"
            )))
        })
}

async fn rescan_and_log(registry: &Arc<Registry>, trigger: &str) {
    match rescan(registry).await {
        Ok(report) => tracing::info!(
            trigger,
            added = ?report.added,
            removed = ?report.removed,
            rejected = report.rejected.len(),
            "engines rescanned"
        ),
        Err(err) => tracing::error!(
            trigger,
            dir = %registry.dir().display(),
            error = %err,
            "cannot rescan the engines directory; the loaded engines stay"
        ),
    }
}

/// SIGHUP, the usual "reload your configuration" signal, listened for
/// from the moment this is made.
///
/// The host makes it before it loads its engines (each library is probed
/// in a child process, which can take seconds): a SIGHUP that comes
/// meanwhile is kept and becomes a rescan once they are loaded, instead of
/// SIGHUP's default action ending the process.
#[cfg(unix)]
pub struct Hangups(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Hangups {
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup()).map(Self)
    }

    /// Rescans `registry` on every SIGHUP, one received so far included.
    pub fn rescan_on_each(self, registry: Arc<Registry>) {
        let Self(mut hangups) = self;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                rescan_and_log(&registry, "SIGHUP").await;
            }
        });
    }
}

/// Rescans when the directory's library files change, once they have
/// stopped changing: a library still being copied in is left alone until
/// two looks `interval` apart agree. A copy that stalls for longer is
/// tried, rejected as incomplete (the loader checks), and tried again when
/// it changes.
///
/// Polling rather than file-system events: it sees every way a file can
/// change (copy, rename, rewrite in place, network file systems), and a
/// settled state is what matters, not each write.
pub async fn watch(registry: Arc<Registry>, interval: Duration) {
    let mut previous: Option<Vec<(PathBuf, Fingerprint)>> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let listing = {
            let registry = Arc::clone(&registry);
            match tokio::task::spawn_blocking(move || registry.listing()).await {
                Ok(Ok(listing)) => listing,
                // Unreadable for now (being replaced, say): look again later.
                _ => continue,
            }
        };
        let settled = previous.as_ref() == Some(&listing);
        if settled && !registry.is_current(&listing) {
            rescan_and_log(&registry, "watch").await;
        }
        previous = Some(listing);
    }
}
