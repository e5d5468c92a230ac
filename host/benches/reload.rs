//! What swapping engines costs: a rescan of an unchanged engines directory
//! next to a rescan that finds one library changed (copied privately,
//! loaded first by a child process of the `wharf` binary cargo built, then
//! by this one), and the memory each changed library keeps (libraries are
//! never unloaded).
//!
//! Run with `cargo xtask bench reload`, which builds the release library
//! first.

use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use wharf::engines::{Loader, PrivateCopies, Probe, Registry};

const UNCHANGED_RESCANS: usize = 200;
const CHANGED_RESCANS: usize = 20;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The process's resident memory, from Linux's /proc.
fn resident_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Replaces `file` with a fresh copy of itself, as an operator installing
/// a new build would.
fn replace(file: &Path) {
    let staged = file.with_extension("staged");
    fs::copy(file, &staged).expect("copy the library");
    fs::rename(&staged, file).expect("replace the library");
}

fn main() {
    let Some(library) = std::env::var_os("WHARF_BENCH_ENGINE") else {
        eprintln!("run this benchmark with `cargo xtask bench reload`");
        std::process::exit(2);
    };
    let library = std::path::PathBuf::from(library);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engines = dir.path().join("engines");
    fs::create_dir_all(&engines).expect("engines directory");
    let file = engines.join(library.file_name().expect("a file name"));
    fs::copy(&library, &file).expect("copy the engine library");
    let size_mib = fs::metadata(&file).expect("the library").len() as f64 / 1_048_576.0;

    let copies = PrivateCopies::new(dir.path().join("copies")).expect("a copies directory");
    let probe = Probe::new(env!("CARGO_BIN_EXE_wharf"));
    let registry = Registry::load(&engines, Loader::new(copies, probe));
    assert_eq!(
        registry.snapshot().engines().count(),
        1,
        "the engine must load"
    );

    let unchanged = median(
        (0..UNCHANGED_RESCANS)
            .map(|_| {
                let started = Instant::now();
                let report = registry.rescan().expect("rescan");
                assert!(report.added.is_empty(), "nothing changed");
                started.elapsed()
            })
            .collect(),
    );

    let before = resident_kib();
    let changed = median(
        (0..CHANGED_RESCANS)
            .map(|_| {
                replace(&file);
                let started = Instant::now();
                let report = registry.rescan().expect("rescan");
                assert_eq!(report.added.len(), 1, "the changed library loads anew");
                started.elapsed()
            })
            .collect(),
    );
    let after = resident_kib();

    println!(
        "rescan, nothing changed        {:>9.1} µs (median of {UNCHANGED_RESCANS})",
        unchanged.as_secs_f64() * 1e6
    );
    println!(
        "rescan, one library changed    {:>9.1} µs (median of {CHANGED_RESCANS}; {size_mib:.1} MiB library)   ratio {:>6.1}x",
        changed.as_secs_f64() * 1e6,
        changed.as_secs_f64() / unchanged.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "memory kept per changed reload {:>9.0} KiB resident (libraries are never unloaded)",
            after.saturating_sub(before) as f64 / CHANGED_RESCANS as f64
        );
    }
}
