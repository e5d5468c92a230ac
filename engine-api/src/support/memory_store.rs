//! A session store in memory, for the test hosts of engines' own tests.

use std::{
    collections::BTreeMap,
    ops::Bound,
    sync::{Arc, Mutex, PoisonError},
};

use abi_stable::std_types::{ROption, RResult, RString, RVec};
use async_ffi::FutureExt;

use crate::{EngineError, KvEntry, KvOp, KvWrite, ffi::FfiResult};

/// The session store (see [`crate::store`]) kept in memory, answering as
/// the host does: a test host that implements [`crate::HostServices`]
/// passes its `kv_*` methods to one of these. Clones share the store.
///
/// ```
/// use wharf_engine_api::{KvWrite, support::MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::default();
/// let batch = vec![KvWrite::put("a/1", b"x".to_vec())];
/// store.kv_write(batch.into()).await.unwrap();
/// assert_eq!(store.len(), 1);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl MemoryStore {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // Every change is made whole under the lock.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many keys have values.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// As [`crate::HostServices::kv_get`].
    pub fn kv_get(&self, keys: RVec<RString>) -> FfiResult<RVec<ROption<RVec<u8>>>> {
        let entries = self.entries();
        let values = keys
            .iter()
            .map(|key| entries.get(key.as_str()).cloned().map(RVec::from).into())
            .collect();
        ready(Ok(values))
    }

    /// As [`crate::HostServices::kv_scan`].
    pub fn kv_scan(&self, prefix: RString, after: RString, limit: u32) -> FfiResult<RVec<KvEntry>> {
        let entries = self.entries();
        let page = entries
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix.as_str()))
            .filter(|(key, _)| after.is_empty() || key.as_str() > after.as_str())
            .take(limit as usize)
            .map(|(key, value)| KvEntry {
                key: key.as_str().into(),
                value: value.clone().into(),
            })
            .collect();
        ready(Ok(page))
    }

    /// As [`crate::HostServices::kv_write`]: the whole batch or nothing.
    pub fn kv_write(&self, batch: RVec<KvWrite>) -> FfiResult<()> {
        if let Some(write) = batch.iter().find(|write| write.op.name().is_none()) {
            let error = format!("kv_write: unknown operation {}", write.op.code());
            return ready(Err(EngineError::invalid_input(error)));
        }
        let mut entries = self.entries();
        for write in batch {
            let key = write.key.into_string();
            match write.op {
                KvOp::PUT => {
                    entries.insert(key, write.value.into_vec());
                }
                KvOp::DELETE => {
                    entries.remove(&key);
                }
                _ => entries.retain(|stored, _| !stored.starts_with(&key)),
            }
        }
        ready(Ok(()))
    }
}

fn ready<T: Send + 'static>(outcome: Result<T, EngineError>) -> FfiResult<T> {
    let outcome = RResult::from(outcome);
    async move { outcome }.into_ffi()
}
