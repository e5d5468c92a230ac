//! Server routes: liveness, version, the engines the registry loaded, and
//! reloading them.

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_engine_api::{ABI_VERSION, Manifest};

use crate::{
    engines::{
        Feature, LibraryFile, LibraryStatus, LoadedEngine, Registry, RejectedLibrary, reload,
    },
    http::{
        AppState,
        auth::Caller,
        errors::{ApiError, ReadErrors, ReloadErrors},
    },
};

const TAG: &str = "🔍 Observability";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ping))
        .routes(routes!(health))
        .routes(routes!(version))
        .routes(routes!(version_old_path))
        .routes(routes!(status))
        .routes(routes!(engines))
        .routes(routes!(reload_engines))
}

/// The answer to `/ping`.
#[derive(Serialize, ToSchema)]
struct Pong {
    #[schema(example = "pong")]
    message: &'static str,
}

/// Ping the server
///
/// Always open, even when an API key is set.
#[utoipa::path(get, path = "/ping", tag = TAG, operation_id = "ping", security(()),
    responses((status = 200, description = "The server is up", body = Pong)))]
async fn ping() -> Json<Pong> {
    Json(Pong { message: "pong" })
}

/// Counts for a health check.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    /// Only with the API key, when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    engines: Option<EngineCounts>,
    /// Sessions the host knows, in any status. Only with the API key, when
    /// one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<usize>,
}

/// Engine libraries by outcome.
#[derive(Serialize, ToSchema)]
struct EngineCounts {
    loaded: usize,
    rejected: usize,
}

/// Check the server's health
///
/// Always open. When an API key is set, a request without it gets only
/// `status`: the counts are for those who hold the key.
#[utoipa::path(get, path = "/health", tag = TAG, operation_id = "health", security(()),
    responses((status = 200, description = "The server is healthy", body = Health)))]
async fn health(State(state): State<AppState>, caller: Caller) -> Json<Health> {
    if caller != Caller::Trusted {
        return Json(Health {
            status: "ok",
            engines: None,
            sessions: None,
        });
    }
    let snapshot = state.registry.snapshot();
    Json(Health {
        status: "ok",
        engines: Some(EngineCounts {
            loaded: snapshot.engines().count(),
            rejected: snapshot.rejected().count(),
        }),
        sessions: Some(state.sessions.list().len()),
    })
}

/// The server's version.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Version {
    #[schema(example = "0.1.0")]
    version: &'static str,
    #[schema(example = "wharf")]
    engine: &'static str,
    #[schema(example = "core")]
    tier: &'static str,
    /// The engine ABI this host speaks.
    #[schema(example = "1.0.0")]
    abi_version: &'static str,
}

/// Get the server's version
#[utoipa::path(get, path = "/api/server/version", tag = TAG, operation_id = "server_version",
    responses((status = 200, description = "The version", body = Version), ReadErrors))]
async fn version() -> Json<Version> {
    Json(Version {
        version: env!("CARGO_PKG_VERSION"),
        engine: "wharf",
        tier: "core",
        abi_version: ABI_VERSION,
    })
}

/// Get the server's version (WAHA's older path)
#[utoipa::path(get, path = "/api/version", tag = TAG, operation_id = "version",
    responses((status = 200, description = "The version", body = Version), ReadErrors))]
async fn version_old_path() -> Json<Version> {
    version().await
}

/// Since when the server runs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ServerStatus {
    /// When the server started, in milliseconds since the Unix epoch.
    #[schema(example = 1_764_000_000_000_u64)]
    start_timestamp: u128,
    /// Milliseconds since the server started.
    #[schema(example = 60_000)]
    uptime: u128,
}

/// Get the server's status
#[utoipa::path(get, path = "/api/server/status", tag = TAG, operation_id = "server_status",
    responses((status = 200, description = "The status", body = ServerStatus), ReadErrors))]
async fn status(State(state): State<AppState>) -> Json<ServerStatus> {
    let millis = |time: SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    };
    Json(ServerStatus {
        start_timestamp: millis(state.started_at),
        uptime: millis(SystemTime::now()).saturating_sub(millis(state.started_at)),
    })
}

/// One engine library as `GET /api/server/engines` lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct EngineLibrary {
    /// The engine's name; `null` for a library that gave no manifest.
    #[schema(example = "sandbox")]
    name: Option<String>,
    #[schema(example = "0.1.0")]
    version: Option<String>,
    /// The engine ABI the library was built for.
    #[schema(example = "1.0.0")]
    abi_version: Option<String>,
    description: Option<String>,
    /// The library file.
    file: String,
    status: LibraryStatus,
    /// Why the library was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Every feature key this host knows, and whether the engine supports it.
    #[schema(value_type = Object)]
    features: BTreeMap<&'static str, FeatureState>,
}

/// Whether an engine supports one feature.
#[derive(Serialize, ToSchema)]
struct FeatureState {
    supported: bool,
    /// Why not, when it is unsupported.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "WhatsApp Web cannot add contacts")]
    reason: Option<String>,
}

impl EngineLibrary {
    fn new(manifest: Option<&Manifest>, file: String, status: LibraryStatus) -> Self {
        let text = |f: fn(&Manifest) -> &str| manifest.map(|m| f(m).to_owned());
        Self {
            name: text(|m| m.name.as_str()),
            version: text(|m| m.version.as_str()),
            abi_version: text(|m| m.abi_version.as_str()),
            description: text(|m| m.description.as_str()),
            file,
            status,
            reason: None,
            features: BTreeMap::new(),
        }
    }

    fn loaded(engine: &LoadedEngine, status: LibraryStatus) -> Self {
        let mut library = Self::new(
            Some(engine.manifest()),
            engine.file().display().to_string(),
            status,
        );
        library.features = engine
            .feature_matrix()
            .map(|(operation, feature)| {
                let state = match feature {
                    Feature::Supported => FeatureState {
                        supported: true,
                        reason: None,
                    },
                    Feature::Unsupported { reason } => FeatureState {
                        supported: false,
                        reason: Some(reason.to_owned()),
                    },
                };
                (operation.key(), state)
            })
            .collect();
        library
    }

    fn rejected(rejected: &RejectedLibrary) -> Self {
        Self {
            reason: Some(rejected.reason.clone()),
            ..Self::new(
                rejected.manifest.as_deref(),
                rejected.file.display().to_string(),
                LibraryStatus::Rejected,
            )
        }
    }

    /// Every library of the current scan, then the retired engines.
    fn all(registry: &Registry) -> Vec<Self> {
        let snapshot = registry.snapshot();
        let mut libraries: Vec<Self> = snapshot
            .libraries()
            .map(|library| match library {
                LibraryFile::Loaded(engine) => Self::loaded(engine, LibraryStatus::Loaded),
                LibraryFile::Rejected(rejected) => Self::rejected(rejected),
            })
            .collect();
        libraries.extend(
            registry
                .retired()
                .iter()
                .map(|engine| Self::loaded(engine, LibraryStatus::Retired)),
        );
        libraries
    }
}

/// List engine libraries
///
/// Every library in the engines directory: loaded ones with their feature
/// matrix, rejected ones with the reason; then engines a reload retired
/// that sessions still run on.
#[utoipa::path(get, path = "/api/server/engines", tag = TAG, operation_id = "server_engines",
    responses((status = 200, description = "The engine libraries", body = Vec<EngineLibrary>), ReadErrors))]
async fn engines(State(state): State<AppState>) -> Json<Vec<EngineLibrary>> {
    Json(EngineLibrary::all(&state.registry))
}

/// What a reload changed, and the engines after it.
#[derive(Serialize, ToSchema)]
struct Reloaded {
    /// Engines this reload loaded, as `name@version`.
    #[schema(example = json!(["sandbox@0.2.0"]))]
    added: Vec<String>,
    /// Engines no longer offered to new sessions, as `name@version`.
    /// Sessions running on one keep it until they restart.
    #[schema(example = json!(["sandbox@0.1.0"]))]
    removed: Vec<String>,
    /// New or changed library files this reload rejected, with reasons.
    rejected: Vec<EngineLibrary>,
    /// Every engine library after the reload, as `GET /api/server/engines`.
    engines: Vec<EngineLibrary>,
}

/// Reload engine libraries
///
/// Rescans the engines directory: new and changed libraries are loaded,
/// removed ones accept no new sessions. Running sessions keep the engine
/// they started on until they restart; nothing else is interrupted. SIGHUP
/// does the same.
#[utoipa::path(post, path = "/api/server/engines/reload", tag = TAG, operation_id = "server_engines_reload",
    responses((status = 200, description = "The engines were rescanned", body = Reloaded), ReloadErrors))]
async fn reload_engines(State(state): State<AppState>) -> Result<Json<Reloaded>, ApiError> {
    let registry = &state.registry;
    let report = reload::rescan(registry).await.map_err(|err| {
        ApiError::internal(format!(
            "cannot read the engines directory {}: {err}",
            registry.dir().display()
        ))
    })?;
    Ok(Json(Reloaded {
        added: report.added,
        removed: report.removed,
        rejected: report
            .rejected
            .iter()
            .map(EngineLibrary::rejected)
            .collect(),
        engines: EngineLibrary::all(registry),
    }))
}
