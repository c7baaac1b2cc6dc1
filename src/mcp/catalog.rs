//! What a server offers: its tools (every page), resources and prompts, cached per connection.
//!
//! Two levels: memory for the process that holds the session, and the store for the next
//! process (a one-shot `call` right after `tools` validates its arguments without a round
//! trip). Both expire after `CATALOGUE_TTL` and both are dropped on
//! `notifications/tools/list_changed`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rmcp::model::{Prompt, Resource, Tool};
use rmcp::service::{Peer, RoleClient, ServiceError};
use serde::{Deserialize, Serialize};

use crate::domain::{ConnectionKey, UnixMs, now_ms};
use crate::store::Store;

pub const CATALOGUE_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalogue {
    pub fetched_at: UnixMs,
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub prompts: Vec<Prompt>,
}

impl Catalogue {
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn fresh(&self, now: UnixMs) -> bool {
        now.saturating_sub(self.fetched_at) < CATALOGUE_TTL.as_millis() as i64
    }

    /// Lists everything the server declares. Tools are the point, so only their failure fails
    /// the whole; resources and prompts are listed only when the server declares them.
    pub async fn fetch(peer: &Peer<RoleClient>) -> Result<Catalogue, ServiceError> {
        let tools = peer.list_all_tools().await?;
        let caps = peer.peer_info().map(|i| i.capabilities.clone());
        let has = |f: fn(&rmcp::model::ServerCapabilities) -> bool| caps.as_ref().is_some_and(f);
        let resources = if has(|c| c.resources.is_some()) {
            peer.list_all_resources().await.unwrap_or_else(|e| {
                tracing::warn!("resources/list failed: {e}");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let prompts = if has(|c| c.prompts.is_some()) {
            peer.list_all_prompts().await.unwrap_or_else(|e| {
                tracing::warn!("prompts/list failed: {e}");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        Ok(Catalogue {
            fetched_at: now_ms(),
            tools,
            resources,
            prompts,
        })
    }
}

/// The per-connection cache in memory, backed by the store.
#[derive(Default)]
pub struct Catalogues {
    memory: Mutex<HashMap<ConnectionKey, std::sync::Arc<Catalogue>>>,
}

impl Catalogues {
    /// A fresh catalogue from memory or the store, if there is one.
    pub async fn cached(
        &self,
        key: &ConnectionKey,
        store: Option<&Store>,
    ) -> Option<std::sync::Arc<Catalogue>> {
        let now = now_ms();
        let hit = self
            .memory
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .filter(|c| c.fresh(now));
        if hit.is_some() {
            return hit;
        }
        let text = store?.load_catalogue(key).await.ok().flatten()?;
        let catalogue: Catalogue = serde_json::from_str(&text).ok()?;
        if !catalogue.fresh(now) {
            return None;
        }
        let catalogue = std::sync::Arc::new(catalogue);
        if let Ok(mut m) = self.memory.lock() {
            m.insert(key.clone(), catalogue.clone());
        }
        Some(catalogue)
    }

    pub async fn put(
        &self,
        key: &ConnectionKey,
        catalogue: Catalogue,
        store: Option<&Store>,
    ) -> std::sync::Arc<Catalogue> {
        if let Some(store) = store {
            match serde_json::to_string(&catalogue) {
                Ok(text) => {
                    if let Err(e) = store.save_catalogue(key, catalogue.fetched_at, &text).await {
                        tracing::warn!("could not cache the catalogue of {key}: {e}");
                    }
                }
                Err(e) => tracing::warn!("could not encode the catalogue of {key}: {e}"),
            }
        }
        let catalogue = std::sync::Arc::new(catalogue);
        if let Ok(mut m) = self.memory.lock() {
            m.insert(key.clone(), catalogue.clone());
        }
        catalogue
    }

    /// Forgets the memory copy now; the store copy is deleted by `forget_stored`.
    pub fn forget(&self, key: &ConnectionKey) {
        if let Ok(mut m) = self.memory.lock() {
            m.remove(key);
        }
    }

    pub async fn forget_stored(key: &ConnectionKey, store: &Store) {
        if let Err(e) = store.drop_catalogue(key).await {
            tracing::warn!("could not drop the cached catalogue of {key}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_cache_expires_and_can_be_dropped() {
        let cache = Catalogues::default();
        let key = ConnectionKey::new("mcp", "default");
        let c = Catalogue {
            fetched_at: now_ms(),
            ..Catalogue::default()
        };
        cache.put(&key, c, None).await;
        assert!(cache.cached(&key, None).await.is_some());
        cache.forget(&key);
        assert!(cache.cached(&key, None).await.is_none());
        let stale = Catalogue {
            fetched_at: now_ms() - CATALOGUE_TTL.as_millis() as i64 - 1,
            ..Catalogue::default()
        };
        cache.put(&key, stale, None).await;
        assert!(cache.cached(&key, None).await.is_none());
    }
}
