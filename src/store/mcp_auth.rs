//! What MCP authorization discovery found for a connector, and the client it registered
//! (migration 3). The client secret, when an AS issues one, is sealed like a token.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::now_ms;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct McpAuthRecord {
    pub server: String,
    pub resource: String,
    pub issuer: String,
    /// JSON written and read by `auth::mcp_auth`; the store does not interpret it.
    pub endpoints_json: String,
    pub client_id: String,
    /// `configured`, `metadata_document` or `dynamic`.
    pub client_source: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// When the client was dynamically registered.
    pub registered_at: Option<i64>,
}

/// Bound into the sealed secret so a row copied to another connector does not decrypt.
fn aad(connector: &str) -> String {
    format!("mcp-client:{connector}")
}

impl Store {
    pub async fn load_mcp_auth(
        &self,
        connector: &str,
    ) -> Result<Option<McpAuthRecord>, StoreError> {
        let connector = connector.to_string();
        let store = self.clone();
        self.call(move |c| {
            let row = c
                .query_row(
                    "SELECT server, resource, issuer, endpoints, client_id, client_source,
                            sealed_secret, scopes, registered_at
                     FROM mcp_auth WHERE connector = ?1",
                    params![connector],
                    |r| {
                        Ok((
                            McpAuthRecord {
                                server: r.get(0)?,
                                resource: r.get(1)?,
                                issuer: r.get(2)?,
                                endpoints_json: r.get(3)?,
                                client_id: r.get(4)?,
                                client_source: r.get(5)?,
                                client_secret: None,
                                scopes: r
                                    .get::<_, String>(7)?
                                    .split(' ')
                                    .filter(|s| !s.is_empty())
                                    .map(str::to_string)
                                    .collect(),
                                registered_at: r.get(8)?,
                            },
                            r.get::<_, Option<Vec<u8>>>(6)?,
                        ))
                    },
                )
                .optional()?;
            let Some((mut record, sealed)) = row else {
                return Ok(None);
            };
            if let Some(sealed) = sealed {
                let plain = store.vault.open_sealed(&aad(&connector), &sealed)?;
                let text = String::from_utf8(plain)
                    .map_err(|_| StoreError::Vault(super::VaultError::Decrypt))?;
                record.client_secret = Some(Secret::from(text));
            }
            Ok(Some(record))
        })
        .await
    }

    /// Replaces the connector's record in one statement.
    pub async fn save_mcp_auth(
        &self,
        connector: &str,
        record: McpAuthRecord,
    ) -> Result<(), StoreError> {
        let connector = connector.to_string();
        let sealed = record
            .client_secret
            .as_ref()
            .map(|s| self.vault.seal(&aad(&connector), s.expose().as_bytes()));
        self.call(move |c| {
            c.execute(
                "INSERT INTO mcp_auth (connector, server, resource, issuer, endpoints, client_id,
                                       client_source, sealed_secret, scopes, registered_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (connector) DO UPDATE SET
                   server = ?2, resource = ?3, issuer = ?4, endpoints = ?5, client_id = ?6,
                   client_source = ?7, sealed_secret = ?8, scopes = ?9, registered_at = ?10,
                   updated_at = ?11",
                params![
                    connector,
                    record.server,
                    record.resource,
                    record.issuer,
                    record.endpoints_json,
                    record.client_id,
                    record.client_source,
                    sealed,
                    record.scopes.join(" "),
                    record.registered_at,
                    now_ms()
                ],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeySource, Vault};

    #[tokio::test]
    async fn a_record_round_trips_with_its_secret_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open_with_vault(dir.path(), Vault::from_key(&[3; 32], KeySource::Env)).unwrap();
        assert!(store.load_mcp_auth("m").await.unwrap().is_none());
        let record = McpAuthRecord {
            server: "https://m.example/mcp".into(),
            resource: "https://m.example/mcp".into(),
            issuer: "https://as.example".into(),
            endpoints_json: "{}".into(),
            client_id: "dyn-1".into(),
            client_source: "dynamic".into(),
            client_secret: Some(Secret::from("client-s3cret")),
            scopes: vec!["a".into(), "b".into()],
            registered_at: Some(5),
        };
        store.save_mcp_auth("m", record.clone()).await.unwrap();
        let back = store.load_mcp_auth("m").await.unwrap().unwrap();
        assert_eq!(back.client_id, "dyn-1");
        assert_eq!(back.scopes, record.scopes);
        assert_eq!(
            back.client_secret.as_ref().map(|s| s.expose().to_string()),
            Some("client-s3cret".into())
        );
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !raw.windows(13).any(|w| w == b"client-s3cret"),
                "the client secret is stored sealed"
            );
        }
    }
}
