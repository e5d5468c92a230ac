//! Profile picture URLs, cached for 24 hours per session run and contact, as
//! WAHA does: WhatsApp rate-limits picture lookups. `refresh=true` bypasses
//! the cache, and concurrent misses for one key make a single engine call.
//!
//! Keys carry the session's run id, so a restart, logout or engine change
//! starts with an empty cache for that session.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;

use crate::{dispatch::Target, http::errors::ApiError};

/// How long a picture URL is served from the cache.
pub(crate) const TIME_TO_LIVE: Duration = Duration::from_secs(24 * 60 * 60);

/// Entries kept at most; the least used go first.
const CAPACITY: u64 = 100_000;

type Key = (u64, String);

pub(crate) struct ProfilePictures {
    cache: Cache<Key, Option<String>>,
}

impl Default for ProfilePictures {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .time_to_live(TIME_TO_LIVE)
                .max_capacity(CAPACITY)
                .build(),
        }
    }
}

impl ProfilePictures {
    /// The picture URL of `contact_id` (`None` when private), from the cache
    /// or from the engine behind `target`.
    pub(crate) async fn get(
        &self,
        target: &Target<'_>,
        contact_id: String,
        refresh: bool,
    ) -> Result<Option<String>, ApiError> {
        let key = (target.run().id(), contact_id.clone());
        if refresh {
            self.cache.invalidate(&key).await;
        }
        self.cache
            .try_get_with(key, async {
                let url = target
                    .call(|s| s.profile_picture(contact_id.into(), refresh))
                    .await?;
                Ok(url.into_option().map(|url| url.into_string()))
            })
            .await
            .map_err(|error: Arc<ApiError>| ApiError::clone(&error))
    }
}
