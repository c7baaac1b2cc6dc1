//! What a server offers: its tools (every page), resources and prompts, cached per connection.
//!
//! Two levels: memory for the process that holds the session, and the store for the next
//! process (a one-shot `call` right after `tools` validates its arguments without a round
//! trip). Both expire after `CATALOGUE_TTL` and both are dropped on
//! `notifications/tools/list_changed`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use rmcp::model::PaginatedRequestParams;
use rmcp::service::{Peer, RoleClient, ServiceError};

use crate::domain::{ConnectionKey, ErrorClass, Failure, now_ms};
use crate::store::Store;
use crate::toolkit::Catalogue;

impl Catalogue {
    /// Lists everything the server declares, within [`LIST_DEADLINE`] and [`MAX_PAGES`] pages
    /// per list. Tools are the point, so only their failure fails the whole; resources and
    /// prompts are listed only when the server declares them.
    pub async fn fetch(peer: &Peer<RoleClient>) -> Result<Catalogue, Failure> {
        tokio::time::timeout(LIST_DEADLINE, Self::fetch_unbounded(peer))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::new(
                    ErrorClass::Timeout,
                    format!(
                        "the MCP server did not finish listing its tools within {} s (a reply that never came, or one with the wrong JSON-RPC id); check the server's logs, or try again",
                        LIST_DEADLINE.as_secs()
                    ),
                ))
            })
    }

    async fn fetch_unbounded(peer: &Peer<RoleClient>) -> Result<Catalogue, Failure> {
        let tools = all_pages("tools/list", |cursor| async move {
            let r = peer.list_tools(Some(page(cursor))).await?;
            Ok((r.tools, r.next_cursor))
        })
        .await?;
        let caps = peer.peer_info().map(|i| i.capabilities.clone());
        let has = |f: fn(&rmcp::model::ServerCapabilities) -> bool| caps.as_ref().is_some_and(f);
        let resources = if has(|c| c.resources.is_some()) {
            all_pages("resources/list", |cursor| async move {
                let r = peer.list_resources(Some(page(cursor))).await?;
                Ok((r.resources, r.next_cursor))
            })
            .await
            .unwrap_or_else(|f| {
                tracing::warn!("{f}");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let resource_templates = if has(|c| c.resources.is_some()) {
            all_pages("resources/templates/list", |cursor| async move {
                let r = peer.list_resource_templates(Some(page(cursor))).await?;
                Ok((r.resource_templates, r.next_cursor))
            })
            .await
            .unwrap_or_else(|f| {
                tracing::warn!("{f}");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let prompts = if has(|c| c.prompts.is_some()) {
            all_pages("prompts/list", |cursor| async move {
                let r = peer.list_prompts(Some(page(cursor))).await?;
                Ok((r.prompts, r.next_cursor))
            })
            .await
            .unwrap_or_else(|f| {
                tracing::warn!("{f}");
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
            resource_templates,
        })
    }
}

/// Pages one list may take. rmcp's `list_all_*` follow `nextCursor` for as long as the server
/// sends one, so a server whose cursor never ends hung `tools` and `call` forever.
pub const MAX_PAGES: usize = 100;
/// Entries one list may hold across its pages: each page is capped in bytes by the transport,
/// but a hundred full pages would still be gigabytes.
pub const MAX_ENTRIES: usize = 10_000;
/// The whole catalogue, every page of every list. rmcp waits for a reply forever, and drops
/// one whose id matches no request: a server answering with the wrong id hung `tools`.
pub const LIST_DEADLINE: Duration = Duration::from_secs(30);

fn page(cursor: Option<String>) -> PaginatedRequestParams {
    let mut params = PaginatedRequestParams::default();
    params.cursor = cursor;
    params
}

/// Follows `nextCursor` through every page of `method`, refusing a cursor seen before (the
/// server loops), more than [`MAX_PAGES`] pages, or more than [`MAX_ENTRIES`] entries.
pub async fn all_pages<T, F, Fut>(method: &str, mut fetch: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ServiceError>>,
{
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let (got, next) = fetch(cursor.take()).await.map_err(|e| {
            let mut f = crate::classify::mcp::classify_service(&e);
            f.message = format!("{method}: {}", f.message);
            f
        })?;
        items.extend(got);
        if items.len() > MAX_ENTRIES {
            return Err(bad_pages(format!(
                "{method}: the server listed more than {MAX_ENTRIES} entries"
            )));
        }
        // An empty cursor is how some servers say "no more" (the spec says omit it).
        match next.filter(|c| !c.is_empty()) {
            None => return Ok(items),
            Some(c) if !seen.insert(c.clone()) => {
                return Err(bad_pages(format!(
                    "{method}: the server sent the same nextCursor twice ({:.40}), so its pages would never end",
                    crate::text::printable(&c, false)
                )));
            }
            Some(c) => cursor = Some(c),
        }
    }
    Err(bad_pages(format!(
        "{method}: the server was still sending nextCursor after {MAX_PAGES} pages"
    )))
}

fn bad_pages(what: String) -> Failure {
    Failure::new(
        ErrorClass::Protocol,
        format!(
            "{what}; switchboard stopped listing. The server's pagination is broken: report it to its maintainers"
        ),
    )
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
    use crate::toolkit::catalogue::CATALOGUE_TTL;

    #[tokio::test]
    async fn pages_end_at_an_empty_cursor_and_stop_at_the_entry_cap() {
        let mut served = 0;
        let got = all_pages("tools/list", |cursor| {
            served += 1;
            let next = match cursor.as_deref() {
                None => Some("2".to_string()),
                Some("2") => Some(String::new()),
                Some(other) => panic!("asked for page {other}"),
            };
            async move { Ok::<_, ServiceError>((vec![1, 2], next)) }
        })
        .await
        .expect("two pages");
        assert_eq!((got, served), (vec![1, 2, 1, 2], 2));
        // Few pages, each enormous: the entry cap stops it, not the page cap.
        let f = all_pages("prompts/list", |_| async {
            Ok::<_, ServiceError>((vec![0u8; 4000], Some(format!("{}", fresh_cursor()))))
        })
        .await
        .expect_err("too many entries");
        assert!(f.message.contains("more than 10000 entries"), "{f}");
        assert!(f.message.starts_with("prompts/list: "), "{f}");
    }

    fn fresh_cursor() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

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
