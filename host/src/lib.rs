//! The wharf host: a WAHA-compatible WhatsApp HTTP API whose engines are
//! plug-in libraries loaded at run time.
//!
//! The binary's entry point is [`serve`]; the modules are public so that
//! benchmarks and tools can drive the same registry the server uses.

pub mod config;
mod dispatch;
pub mod engines;
pub mod events;
mod http;
mod metrics;
mod secrets;
pub mod sessions;
pub mod storage;
#[cfg(test)]
mod testing;
pub mod tools;

use std::sync::Arc;

use anyhow::Context;

use crate::{
    config::ServeArgs,
    engines::{Loader, PrivateCopies, Probe, Registry},
    events::Events,
    http::{AppParts, AppState, profile_pictures::ProfilePictures},
    sessions::SessionManager,
    storage::Storage,
};

/// How often `--watch` looks at the engines directory.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a stopping host waits for the last events (the sessions'
/// STOPPED) to reach the outbox, from where the next start delivers them.
const EVENTS_FLUSH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Loads the engines, starts the sessions asked for, and serves HTTP until
/// SIGINT or SIGTERM; then closes every session. SIGHUP (and, with
/// `--watch`, any change) rescans the engines directory.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    #[cfg(unix)]
    let hangups = engines::reload::Hangups::listen().context("cannot listen for SIGHUP")?;
    storage::prepare_data_dir(&args.data_dir)?;
    let _data_dir_lock = storage::lock_data_dir(&args.data_dir)?;
    let open_files = http::connections::raise_open_files_limit();
    let limits = args.limits(open_files);
    let api_keys = args.api_keys()?;
    let config_files = args.config_files()?;
    let default_engine = args.default_engine()?;
    let global_webhook = events::hooks::global_webhook(|name| std::env::var(name).ok())
        .map_err(anyhow::Error::msg)?;
    let engines_dir = args.engines_dir()?;
    tracing::info!(dir = %engines_dir.display(), "loading engines");
    let copies_dir = args.data_dir.join("engine-copies");
    let copies = PrivateCopies::new(copies_dir.clone())
        .with_context(|| format!("cannot prepare {}", copies_dir.display()))?;
    let probe = Probe::this_binary().context("cannot find the wharf binary's path")?;
    let registry = Arc::new(Registry::load(&engines_dir, Loader::new(copies, probe)));
    #[cfg(unix)]
    hangups.rescan_on_each(Arc::clone(&registry));
    if args.watch {
        tracing::info!(dir = %engines_dir.display(), "watching the engines directory for changes");
        tokio::spawn(engines::reload::watch(
            Arc::clone(&registry),
            WATCH_INTERVAL,
        ));
    }
    let storage = match &args.database {
        Some(url) => Storage::postgres(url).await?,
        None => Storage::sqlite(&args.data_dir.join("wharf.db"))?,
    };
    let events = Events::start(storage.clone(), global_webhook).await;
    let sessions = Arc::new(
        SessionManager::new(
            Arc::clone(&registry),
            storage,
            args.data_dir.clone(),
            default_engine,
            args.engine_timeout,
        )
        .with_config_files(config_files)
        .with_events(Arc::clone(&events)),
    );
    sessions
        .restore()
        .await
        .map_err(|err| anyhow::anyhow!("cannot restore the stored sessions: {err}"))?;
    for name in args.start_sessions() {
        if let Err(err) = sessions.ensure_started(&name).await {
            tracing::error!(session = name, error = %err, "cannot start the session asked for at start-up");
        }
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    if !api_keys.is_enabled() {
        tracing::warn!(
            "no API key is set (WHARF_API_KEY or WAHA_API_KEY): every /api route is open to anyone who can reach {address}"
        );
    }
    tracing::info!("wharf listening on http://{address}");
    let app = http::app(
        AppState::new(AppParts {
            registry,
            sessions: Arc::clone(&sessions),
            events: Arc::clone(&events),
            api_keys: api_keys.clone(),
            metrics_public: args.metrics_public,
            profile_pictures: ProfilePictures::default(),
            started_at: std::time::SystemTime::now(),
        }),
        api_keys,
    );
    http::connections::serve(listener, app, limits, shutdown)
        .await
        .context("the HTTP server failed")?;
    tracing::info!("shutting down: closing sessions");
    sessions.close_all().await;
    events.flush(EVENTS_FLUSH_PATIENCE).await;
    Ok(())
}

/// Completes on the first SIGINT or SIGTERM; a second one ends the process
/// at once, without waiting for requests under way or sessions to close
/// (what is stored is committed already: only events not yet in the
/// outbox are lost).
///
/// The handlers are installed when this is called, not when the future is
/// first polled: the host calls it before anything else, so that a SIGTERM
/// at any point of start-up (an orchestrator replacing a host not yet
/// ready) is a clean shutdown, not the signal's default action ending the
/// process with its sessions open.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!(
                "stopping: finishing the requests under way, then closing the sessions; \
                 a second SIGINT or SIGTERM stops at once"
            );
            tokio::spawn(async move {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
                stop_at_once();
            });
        })
    }
    #[cfg(windows)]
    {
        let mut interrupt = tokio::signal::windows::ctrl_c().context("cannot listen for Ctrl-C")?;
        Ok(async move {
            interrupt.recv().await;
            tracing::info!(
                "stopping: finishing the requests under way, then closing the sessions; \
                 a second Ctrl-C stops at once"
            );
            tokio::spawn(async move {
                interrupt.recv().await;
                stop_at_once();
            });
        })
    }
}

fn stop_at_once() -> ! {
    tracing::warn!("stopped by a second signal, before the sessions were closed");
    std::process::exit(1)
}
