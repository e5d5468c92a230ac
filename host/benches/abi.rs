//! The cost of the stable ABI: the same sandbox operation called through a
//! loaded engine library (the host's real path: registry, session object,
//! FfiFuture, engine runtime) and called in-process on the sandbox crate.
//!
//! Run with `cargo xtask bench abi`, which builds the release library first.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
};
use wharf::{
    engines::{EngineRef, Loader, PrivateCopies, Probe, Registry},
    sessions::{NewSession, SessionManager},
    storage::Storage,
};
use wharf_engine_api::{
    Engine, EngineError, HostServices, HostServices_TO, KvEntry, KvWrite, ListQuery, LogLevel,
    RSome, Session, SessionContext, SessionStatus, ffi::FfiResult, support::MemoryStore,
};
use wharf_sandbox::SandboxEngine;

const CALLS_PER_ROUND: u32 = 5_000;
const ROUNDS: usize = 7;

/// A host that logs nothing and keeps the session's store in memory.
#[derive(Clone, Default)]
struct QuietHost {
    store: MemoryStore,
}

impl HostServices for QuietHost {
    fn log(&self, _level: LogLevel, _message: RStr<'_>) {}
    fn status(&self, _status: SessionStatus, _reason: ROption<RStr<'_>>) {}
    fn qr(&self, _value: RStr<'_>) {}
    fn account(&self, _id: RStr<'_>, _push_name: ROption<RStr<'_>>) {}
    fn read_config_file(&self, field: RStr<'_>, _name: RStr<'_>) -> RResult<RVec<u8>, EngineError> {
        RResult::RErr(EngineError::invalid_input(format!(
            "config.{field}: the benchmark host reads no files"
        )))
    }
    fn kv_get(&self, keys: RVec<RString>) -> FfiResult<RVec<ROption<RVec<u8>>>> {
        self.store.kv_get(keys)
    }
    fn kv_scan(&self, prefix: RString, after: RString, limit: u32) -> FfiResult<RVec<KvEntry>> {
        self.store.kv_scan(prefix, after, limit)
    }
    fn kv_write(&self, batch: RVec<KvWrite>) -> FfiResult<()> {
        self.store.kv_write(batch)
    }
}

/// Median time per call over `ROUNDS` rounds of `CALLS_PER_ROUND` calls.
async fn time_per_call<F: Future<Output = ()>>(mut call: impl FnMut() -> F) -> Duration {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS_PER_ROUND {
            call().await;
        }
        rounds.push(started.elapsed() / CALLS_PER_ROUND);
    }
    rounds.sort();
    rounds[ROUNDS / 2]
}

fn report(operation: &str, through_abi: Duration, in_process: Duration) {
    let ratio = through_abi.as_secs_f64() / in_process.as_secs_f64();
    println!(
        "{operation:<28} through ABI {:>9.2} µs/call   in-process {:>9.2} µs/call   ratio {ratio:>6.2}x",
        through_abi.as_secs_f64() * 1e6,
        in_process.as_secs_f64() * 1e6,
    );
}

fn main() {
    let Some(library) = std::env::var_os("WHARF_BENCH_ENGINE") else {
        eprintln!("run this benchmark with `cargo xtask bench abi`");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engines = dir.path().join("engines");
        std::fs::create_dir_all(&engines).expect("engines directory");
        let library = std::path::PathBuf::from(library);
        std::fs::copy(&library, engines.join(library.file_name().expect("a file name")))
            .expect("copy the engine library");

        let loader = Loader::new(
            PrivateCopies::new(dir.path().join("copies")).expect("a copies directory"),
            Probe::new(env!("CARGO_BIN_EXE_wharf")),
        );
        let registry = Arc::new(Registry::load(&engines, loader));
        let sandbox = EngineRef::parse("sandbox").expect("a valid engine name");
        assert!(
            registry.snapshot().resolve(&sandbox).is_some(),
            "the sandbox engine must load"
        );
        let storage = Storage::sqlite(&dir.path().join("wharf.db")).expect("a database");
        let sessions = SessionManager::new(
            registry,
            storage,
            dir.path().join("abi"),
            sandbox,
            Duration::from_secs(30),
        );
        let managed = sessions
            .create(NewSession {
                name: "bench".into(),
                engine: None,
                config: serde_json::json!({}),
                start: true,
            })
            .await
            .expect("a session");
        let through_abi = loop {
            if let Some(handle) = managed.run().state().working_handle() {
                break handle;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };

        let in_process = SandboxEngine
            .open_session(SessionContext {
                session: "bench".into(),
                config: "{}".into(),
                data_dir: dir.path().join("in-process").to_string_lossy().as_ref().into(),
                host: HostServices_TO::from_ptr(RArc::new(QuietHost::default()), TD_Opaque),
            })
            .await
            .expect("an in-process session");

        println!(
            "wharf ABI benchmark: median of {ROUNDS} rounds of {CALLS_PER_ROUND} sequential calls each"
        );
        let id = "14155550100@c.us";
        let abi = time_per_call(|| async {
            through_abi.get_contact(id.into()).await.unwrap();
        })
        .await;
        let direct = time_per_call(|| async {
            in_process.get_contact(id.to_owned()).await.unwrap();
        })
        .await;
        report("contacts.get", abi, direct);

        let page = ListQuery {
            limit: RSome(20),
            ..ListQuery::default()
        };
        let abi = time_per_call(|| async {
            through_abi.list_contacts(page).await.unwrap();
        })
        .await;
        let direct = time_per_call(|| async {
            in_process.list_contacts(page).await.unwrap();
        })
        .await;
        report("contacts.list (limit 20)", abi, direct);
    });
}
