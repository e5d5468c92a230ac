//! The routes, one module per area of WAHA's API. Each handler parses and
//! validates its input; engine operations go through [`crate::dispatch`].

pub(super) mod contacts;
pub(super) mod dashboard;
pub(super) mod lids;
pub(super) mod metrics;
pub(super) mod pairing;
pub(super) mod server;
pub(super) mod sessions;
pub(super) mod websocket;
