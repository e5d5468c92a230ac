//! `GET /metrics`: what the host does, in the Prometheus (OpenMetrics) text
//! format, for operators' dashboards and alerts.
//!
//! Counters and histograms are process-wide and updated where things
//! happen (requests, engine calls, refusals, webhook deliveries); the
//! sessions and engine libraries are counted when a scrape asks, from the
//! session manager and the registry themselves, so the figures cannot
//! drift from what the API shows.

use std::{sync::LazyLock, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry as Metrics,
};

use crate::{
    engines::{LibraryFile, Operation, Registry},
    sessions::SessionManager,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's template (`/api/{session}/contacts/{id}`), or
    /// `unmatched`: never the path itself, which would let clients make
    /// up labels.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    engine: String,
    feature: &'static str,
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

/// One HTTP request answered.
pub(crate) fn request(route: Option<&str>, method: &str, status: u16) {
    RECORDED
        .requests
        .get_or_create(&RequestLabels {
            route: route.unwrap_or("unmatched").to_owned(),
            method: method.to_owned(),
            status,
        })
        .inc();
}

/// One call into an engine, however it ended.
pub(crate) fn engine_call(engine: &str, operation: Operation, took: Duration) {
    RECORDED
        .engine_calls
        .get_or_create(&CallLabels {
            engine: engine.to_owned(),
            feature: operation.key(),
        })
        .observe(took.as_secs_f64());
}

/// One operation refused with 501: the engine does not support it.
pub(crate) fn unsupported(engine: &str, operation: Operation) {
    RECORDED
        .unsupported
        .get_or_create(&CallLabels {
            engine: engine.to_owned(),
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
        let status = match library {
            LibraryFile::Loaded(_) => "loaded",
            LibraryFile::Rejected(_) => "rejected",
        };
        libraries.get_or_create(&LibraryLabels { status }).inc();
    }
    let retired = i64::try_from(registry.retired().len()).unwrap_or(i64::MAX);
    libraries
        .get_or_create(&LibraryLabels { status: "retired" })
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
