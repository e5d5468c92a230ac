//! `GET /metrics`: what the host does, in the Prometheus (OpenMetrics) text
//! format, for operators' dashboards and alerts.
//!
//! Counters and histograms are process-wide and updated where things
//! happen (requests, engine calls, refusals, webhook deliveries); the
//! sessions and engine libraries are counted when a scrape asks, from the
//! session manager and the registry themselves, so the figures cannot
//! drift from what the API shows.

use std::{
    collections::HashSet,
    sync::{LazyLock, PoisonError, RwLock},
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry as Metrics,
};

use axum::http::Method;

use crate::{
    engines::{LibraryStatus, Operation, Registry},
    sessions::SessionManager,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's template (`/api/{session}/contacts/{id}`), or
    /// `unmatched`: never the path itself, which would let clients make
    /// up labels.
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    engine: &'static str,
    feature: &'static str,
}

/// Label values that come from a small, fixed set (route templates,
/// engine names), kept once for the process: a request then builds its
/// labels without allocating.
static INTERNED: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(RwLock::default);

fn interned(value: &str) -> &'static str {
    if let Some(kept) = INTERNED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(value)
    {
        return kept;
    }
    let mut kept = INTERNED.write().unwrap_or_else(PoisonError::into_inner);
    match kept.get(value) {
        Some(value) => value,
        None => {
            let value: &'static str = Box::leak(value.into());
            kept.insert(value);
            value
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    engine: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LibraryLabels {
    status: &'static str,
}

/// What happened to one try of a webhook delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delivery {
    /// The receiver answered 2xx.
    Delivered,
    /// It did not; the event will be tried again.
    Retried,
    /// It did not, and the retries ran out.
    GivenUp,
}

struct Recorded {
    requests: Family<RequestLabels, Counter>,
    engine_calls: Family<CallLabels, Histogram>,
    unsupported: Family<CallLabels, Counter>,
    webhooks: Family<OutcomeLabels, Counter>,
}

fn engine_call_buckets() -> Histogram {
    // 10 µs to about 40 s: an answer from memory to one near the deadline.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_01, 4.0, 12,
    ))
}

static RECORDED: LazyLock<Recorded> = LazyLock::new(|| Recorded {
    requests: Family::default(),
    engine_calls: Family::new_with_constructor(engine_call_buckets),
    unsupported: Family::default(),
    webhooks: Family::default(),
});

/// One HTTP request answered. `route` is the template of the route it
/// matched (one of the router's, so a small set).
pub(crate) fn request(route: Option<&str>, method: &Method, status: u16) {
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    RECORDED
        .requests
        .get_or_create(&RequestLabels {
            route: route.map_or("unmatched", interned),
            method,
            status,
        })
        .inc();
}

/// One call into an engine, however it ended.
pub(crate) fn engine_call(engine: &str, operation: Operation, took: Duration) {
    RECORDED
        .engine_calls
        .get_or_create(&CallLabels {
            engine: interned(engine),
            feature: operation.key(),
        })
        .observe(took.as_secs_f64());
}

/// One operation refused with 501: the engine does not support it.
pub(crate) fn unsupported(engine: &str, operation: Operation) {
    RECORDED
        .unsupported
        .get_or_create(&CallLabels {
            engine: interned(engine),
            feature: operation.key(),
        })
        .inc();
}

/// One try of a webhook delivery.
pub(crate) fn webhook(outcome: Delivery) {
    let outcome = match outcome {
        Delivery::Delivered => "delivered",
        Delivery::Retried => "retried",
        Delivery::GivenUp => "given_up",
    };
    RECORDED
        .webhooks
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

/// The text of a scrape.
pub(crate) fn render(sessions: &SessionManager, registry: &Registry) -> String {
    let recorded = &*RECORDED;
    let mut metrics = Metrics::with_prefix("wharf");
    metrics.register(
        "http_requests",
        "HTTP requests answered, by route template, method and status",
        recorded.requests.clone(),
    );
    metrics.register(
        "engine_call_seconds",
        "Time of engine calls, by engine and feature",
        recorded.engine_calls.clone(),
    );
    metrics.register(
        "unsupported",
        "Operations refused with 501 because the session's engine does not support them",
        recorded.unsupported.clone(),
    );
    metrics.register(
        "webhook_deliveries",
        "Webhook delivery tries: delivered, retried, or given up after the last retry",
        recorded.webhooks.clone(),
    );

    let by_status = Family::<SessionLabels, Gauge>::default();
    for session in sessions.list() {
        let info = sessions.info(&session);
        by_status
            .get_or_create(&SessionLabels {
                engine: info.engine.engine,
                status: info.status.as_waha(),
            })
            .inc();
    }
    metrics.register("sessions", "Sessions, by engine and status", by_status);

    let libraries = Family::<LibraryLabels, Gauge>::default();
    let snapshot = registry.snapshot();
    for library in snapshot.libraries() {
        let status = library.status().as_str();
        libraries.get_or_create(&LibraryLabels { status }).inc();
    }
    let retired = i64::try_from(registry.retired().len()).unwrap_or(i64::MAX);
    libraries
        .get_or_create(&LibraryLabels {
            status: LibraryStatus::Retired.as_str(),
        })
        .inc_by(retired);
    metrics.register(
        "engine_libraries",
        "Engine library files loaded or rejected, and retired engines still running sessions",
        libraries,
    );

    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &metrics);
    text
}
