//! Server routes: liveness, version, and the engines the registry loaded.

use std::collections::BTreeMap;

use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;
use serde_json::{Value, json};
use wharf_engine_api::{ABI_VERSION, Manifest, features};

use super::AppState;
use crate::registry::{Feature, LoadedEngine};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/api/server/version", get(version))
        .route("/api/server/engines", get(engines))
}

async fn ping() -> Json<Value> {
    Json(json!({ "message": "pong" }))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    let registry = state.sessions.registry();
    Json(json!({
        "status": "ok",
        "engines": { "loaded": registry.engines().count(), "rejected": registry.rejected().len() },
        "sessions": state.sessions.list().len(),
    }))
}

async fn version() -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "engine": "wharf",
        "tier": "core",
        "abiVersion": ABI_VERSION,
    }))
}

/// One engine library as `GET /api/server/engines` lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EngineLibrary {
    name: Option<String>,
    version: Option<String>,
    abi_version: Option<String>,
    description: Option<String>,
    file: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    features: BTreeMap<&'static str, FeatureState>,
}

#[derive(Serialize)]
struct FeatureState {
    supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl EngineLibrary {
    fn new(manifest: Option<&Manifest>, file: String, status: &'static str) -> Self {
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

    fn loaded(engine: &LoadedEngine) -> Self {
        let mut library = Self::new(
            Some(engine.manifest()),
            engine.file().display().to_string(),
            "loaded",
        );
        library.features = features::ALL
            .iter()
            .map(|&key| {
                let state = match engine.feature(key) {
                    Feature::Supported => FeatureState {
                        supported: true,
                        reason: None,
                    },
                    Feature::Unsupported { reason } => FeatureState {
                        supported: false,
                        reason: Some(reason.to_owned()),
                    },
                };
                (key, state)
            })
            .collect();
        library
    }
}

async fn engines(State(state): State<AppState>) -> Json<Vec<EngineLibrary>> {
    let registry = state.sessions.registry();
    let loaded = registry
        .engines()
        .map(|engine| EngineLibrary::loaded(engine));
    let rejected = registry.rejected().iter().map(|rejected| EngineLibrary {
        reason: Some(rejected.reason.clone()),
        ..EngineLibrary::new(
            rejected.manifest.as_deref(),
            rejected.file.display().to_string(),
            "rejected",
        )
    });
    let mut libraries: Vec<EngineLibrary> = loaded.chain(rejected).collect();
    libraries.sort_by(|a, b| a.file.cmp(&b.file));
    Json(libraries)
}
