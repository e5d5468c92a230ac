//! The end-to-end tests: the real `wharf` binary with real engine libraries,
//! driven over loopback HTTP and its command line. One test binary with a
//! module per area, so the suite links once.
//!
//! `private_data` is a binary of its own: it sets the process's umask,
//! which would reach every other test here.

mod api;
mod cli;
mod cloudapi;
mod config_files;
mod contacts;
mod engines;
mod library_files;
mod lifecycle_races;
mod loopback;
mod postgres;
mod reload;
mod sessions;
mod slow_clients;
mod webhooks;
mod webmd;
