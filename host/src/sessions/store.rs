//! The session store as one run of an engine session sees it (ABI 2.3):
//! what the engine asks is checked against the contract's limits, then run
//! on the host's runtime against [`Storage`], under the run's
//! [`WriteFence`].
//!
//! The engine polls the returned futures on its own runtime, so each call
//! is spawned on the host's runtime and the future only waits for it.

use std::{future::Future, sync::Arc};

use abi_stable::std_types::{ROption, RResult, RString, RVec};
use async_ffi::FutureExt;
use tokio::runtime::Handle;
use wharf_engine_api::{
    EngineError, KvEntry, KvOp, KvWrite,
    ffi::FfiResult,
    store::{KV_BATCH_MAX_BYTES, KV_READ_MAX, KV_VALUE_MAX_BYTES, kv_key_problem},
};

use crate::storage::{KvWriteError, Storage, WriteFence};

/// One run's access to its session's store.
#[derive(Clone)]
pub(super) struct RunStore {
    session: Arc<str>,
    storage: Storage,
    fence: WriteFence,
    runtime: Handle,
}

impl RunStore {
    pub(super) fn new(session: &str, storage: Storage, fence: WriteFence, runtime: Handle) -> Self {
        Self {
            session: session.into(),
            storage,
            fence,
            runtime,
        }
    }

    pub(super) fn get(&self, keys: RVec<RString>) -> FfiResult<RVec<ROption<RVec<u8>>>> {
        let checked = check_read_count("kv_get", keys.len()).and_then(|()| {
            keys.iter()
                .enumerate()
                .try_for_each(|(index, key)| check_key("kv_get", index, key, false))
        });
        let keys = keys.into_iter().map(RString::into_string).collect();
        let (storage, session) = (self.storage.clone(), Arc::clone(&self.session));
        self.spawn(checked, async move {
            let values = storage.kv_get(&session, keys).await.map_err(failed)?;
            Ok(values
                .into_iter()
                .map(|value| value.map(RVec::from).into())
                .collect())
        })
    }

    pub(super) fn scan(
        &self,
        prefix: RString,
        after: RString,
        limit: u32,
    ) -> FfiResult<RVec<KvEntry>> {
        let checked = check_read_count("kv_scan", limit as usize)
            .and_then(|()| check_key_text("kv_scan: prefix", &prefix))
            .and_then(|()| check_key_text("kv_scan: after", &after));
        let (storage, session) = (self.storage.clone(), Arc::clone(&self.session));
        self.spawn(checked, async move {
            let entries = storage
                .kv_scan(&session, &prefix, &after, limit as usize)
                .await
                .map_err(failed)?;
            Ok(entries
                .into_iter()
                .map(|(key, value)| KvEntry {
                    key: key.into(),
                    value: value.into(),
                })
                .collect())
        })
    }

    pub(super) fn write(&self, batch: RVec<KvWrite>) -> FfiResult<()> {
        let checked = check_batch(&batch);
        let (storage, session, fence) = (
            self.storage.clone(),
            Arc::clone(&self.session),
            self.fence.clone(),
        );
        self.spawn(checked, async move {
            match storage.kv_write(&session, &fence, batch.into_vec()).await {
                Ok(()) => Ok(()),
                Err(KvWriteError::Fenced) => Err(EngineError::unavailable(format!(
                    "session {session} has ended this run: it no longer writes the session's store"
                ))),
                Err(KvWriteError::Storage(err)) => Err(failed(err)),
            }
        })
    }

    /// Runs `work` on the host's runtime if the request was `checked`
    /// good; the future the engine gets only waits for it.
    fn spawn<T: Send + 'static>(
        &self,
        checked: Result<(), EngineError>,
        work: impl Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> FfiResult<T> {
        let task = checked.map(|()| self.runtime.spawn(work));
        async move {
            let outcome = match task {
                Ok(task) => task.await.unwrap_or_else(|err| {
                    Err(EngineError::internal(format!(
                        "the session store call failed: {err}"
                    )))
                }),
                Err(err) => Err(err),
            };
            RResult::from(outcome)
        }
        .into_ffi()
    }
}

fn failed(err: crate::storage::StorageError) -> EngineError {
    tracing::error!(%err, "a session store call failed");
    EngineError::internal(format!("the host's session store failed: {err}"))
}

fn check_read_count(call: &str, count: usize) -> Result<(), EngineError> {
    if count > KV_READ_MAX {
        return Err(EngineError::invalid_input(format!(
            "{call}: at most {KV_READ_MAX} at once, not {count}"
        )));
    }
    Ok(())
}

/// A key the store can hold; with `prefix`, the empty key (every key) too.
fn check_key(call: &str, index: usize, key: &str, prefix: bool) -> Result<(), EngineError> {
    if prefix && key.is_empty() {
        return Ok(());
    }
    match kv_key_problem(key) {
        Some(problem) => Err(EngineError::invalid_input(format!(
            "{call}: key {index}: {problem}"
        ))),
        None => Ok(()),
    }
}

/// A prefix or bound of a scan: any text a key could begin with.
fn check_key_text(what: &str, text: &str) -> Result<(), EngineError> {
    match kv_key_problem(text) {
        Some(problem) if !text.is_empty() => {
            Err(EngineError::invalid_input(format!("{what}: {problem}")))
        }
        _ => Ok(()),
    }
}

fn check_batch(batch: &[KvWrite]) -> Result<(), EngineError> {
    let mut size = 0usize;
    for (index, write) in batch.iter().enumerate() {
        let prefix = match write.op {
            KvOp::PUT => false,
            KvOp::DELETE => false,
            KvOp::DELETE_PREFIX => true,
            unknown => {
                return Err(EngineError::invalid_input(format!(
                    "kv_write: write {index}: operation {} is not one this host knows \
                     (put, delete, delete_prefix): nothing was written",
                    unknown.code()
                )));
            }
        };
        check_key("kv_write", index, &write.key, prefix)?;
        if write.value.len() > KV_VALUE_MAX_BYTES {
            return Err(EngineError::invalid_input(format!(
                "kv_write: write {index} ({}): a value is at most {KV_VALUE_MAX_BYTES} bytes, \
                 this one has {}",
                write.key,
                write.value.len()
            )));
        }
        size += write.size();
    }
    if size > KV_BATCH_MAX_BYTES {
        return Err(EngineError::invalid_input(format!(
            "kv_write: a batch carries at most {KV_BATCH_MAX_BYTES} bytes, this one {size}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_engine_api::ErrorKind;

    fn refused(batch: &[KvWrite]) -> String {
        let err = check_batch(batch).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
        err.message.into_string()
    }

    #[test]
    fn batches_outside_the_contract_are_refused_naming_the_write() {
        assert!(check_batch(&[KvWrite::put("k", vec![1]), KvWrite::delete_prefix("")]).is_ok());
        assert!(refused(&[KvWrite::put("ok", vec![]), KvWrite::delete("")]).contains("key 1"));
        let unknown = KvWrite {
            op: KvOp::from_code(9),
            ..KvWrite::delete("k")
        };
        assert!(refused(&[unknown]).contains("operation 9"));
        let big = KvWrite::put("big", vec![0; KV_VALUE_MAX_BYTES + 1]);
        assert!(refused(&[big]).contains("write 0 (big)"));
        let many = vec![KvWrite::put("k", vec![0; KV_VALUE_MAX_BYTES]); 4];
        assert!(refused(&many).contains("at most 67108864 bytes"));
        assert!(check_read_count("kv_get", KV_READ_MAX + 1).is_err());
        assert!(check_key_text("kv_scan: prefix", "a\0").is_err());
        assert!(check_key_text("kv_scan: prefix", "").is_ok());
    }
}
