//! What the sandbox's benchmarks share: a host that serves one fixture and
//! keeps the session's store in memory, and a session opened over it as
//! the host would open one.

use std::path::Path;

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
};
use wharf_engine_api::{
    Engine, EngineError, HostServices, HostServices_TO, KvEntry, KvWrite, LogLevel, SessionContext,
    SessionStatus, ffi::FfiResult, support::MemoryStore,
};
use wharf_sandbox::{SandboxEngine, SandboxSession};

/// A host that serves one fixture, whatever file the config names.
#[derive(Clone)]
struct FixtureHost {
    fixture: RArc<Vec<u8>>,
    store: MemoryStore,
}

impl HostServices for FixtureHost {
    fn log(&self, _level: LogLevel, _message: RStr<'_>) {}
    fn status(&self, _status: SessionStatus, _reason: ROption<RStr<'_>>) {}
    fn qr(&self, _value: RStr<'_>) {}
    fn account(&self, _id: RStr<'_>, _push_name: ROption<RStr<'_>>) {}
    fn read_config_file(
        &self,
        _field: RStr<'_>,
        _name: RStr<'_>,
    ) -> RResult<RVec<u8>, EngineError> {
        RResult::ROk(RVec::from(self.fixture.as_slice()))
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

/// A sandbox session named `name`, its data in `dir/name`, whose book
/// starts from `fixture` (JSON), opened through [`Engine::open_session`].
pub(crate) async fn open_session(fixture: Vec<u8>, dir: &Path, name: &str) -> SandboxSession {
    let host = FixtureHost {
        fixture: RArc::new(fixture),
        store: MemoryStore::default(),
    };
    SandboxEngine
        .open_session(SessionContext {
            session: name.into(),
            config: r#"{"fixture": "book.json"}"#.into(),
            data_dir: dir.join(name).to_string_lossy().as_ref().into(),
            host: HostServices_TO::from_ptr(RArc::new(host), TD_Opaque),
        })
        .await
        .expect("a session")
}
