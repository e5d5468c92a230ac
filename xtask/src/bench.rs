//! `cargo xtask bench [abi | reload | http | sessions | book | contacts]`:
//! the benchmark figures, in release builds.

use std::ffi::OsString;

use anyhow::{Result, bail};

use crate::{
    command::{cargo, run},
    paths::Profile,
};

/// Runs the benchmark named in `args`, or every one.
pub(crate) fn bench(args: &[OsString]) -> Result<()> {
    let which: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match which
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            bench_with_sandbox("abi")?;
            bench_with_sandbox("reload")?;
            bench_with_sandbox("http")?;
            bench_with_sandbox("sessions")?;
            bench_sandbox("writes")?;
            bench_sandbox("contacts")
        }
        [name @ ("abi" | "reload" | "http" | "sessions")] => bench_with_sandbox(name),
        ["book"] => bench_sandbox("writes"),
        ["contacts"] => bench_sandbox("contacts"),
        _ => bail!(
            "unknown benchmark {which:?}; available: abi, reload, http, sessions, book, contacts"
        ),
    }
}

/// Runs the host's benchmark `name` against the release sandbox library.
fn bench_with_sandbox(name: &str) -> Result<()> {
    run({
        let mut build = cargo();
        build.args(["build", "--release", "--package", "wharf-engine-sandbox"]);
        build
    })?;
    let mut bench = cargo();
    bench
        .args(["bench", "--package", "wharf", "--bench", name])
        .env(
            "WHARF_BENCH_ENGINE",
            Profile::Release.library("wharf_sandbox"),
        );
    run(bench)
}

/// Runs the sandbox's benchmark `name`: `writes`, the cost of one durable
/// write as its book grows; `contacts`, the cost of a page of contacts as
/// the book grows, and of keeping and loading a book.
fn bench_sandbox(name: &str) -> Result<()> {
    let mut bench = cargo();
    bench.args([
        "bench",
        "--package",
        "wharf-engine-sandbox",
        "--bench",
        name,
    ]);
    run(bench)
}
