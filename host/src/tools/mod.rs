//! The operator's tools beside the server: `wharf engines list` and
//! `inspect` ([`inspect`]), and `wharf engines conformance`
//! ([`conformance`]), which loads engines through the same registry the
//! server uses.

pub mod conformance;
pub mod inspect;
