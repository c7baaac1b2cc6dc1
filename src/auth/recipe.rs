//! What revoking a grant takes once its connector is gone from the config: the endpoints and
//! the client the grant was issued to. Kept (sealed) whenever the broker builds a token client,
//! so a removed connector's grant can still be revoked at the AS (RFC 7009) instead of living
//! on, unseen, until the provider expires it.

use serde::{Deserialize, Serialize};

use super::spec::{OAuthEndpoints, OAuthSpec, TokenAuth};
use crate::domain::{ConnectionKey, ErrorClass, Failure};
use crate::secret::Secret;
use crate::store::Store;

#[derive(Debug, Serialize, Deserialize)]
struct Recipe {
    endpoints: OAuthEndpoints,
    client_id: String,
    /// Plain inside the recipe, which the store seals as a whole.
    client_secret: Option<String>,
    public: bool,
    resource: Option<String>,
}

/// Keeps the recipe of the spec a token client was just built from (`spec` is the effective
/// one: for auth type "mcp", what discovery found).
pub async fn save(
    store: &Store,
    key: &ConnectionKey,
    spec: &OAuthSpec,
    endpoints: &OAuthEndpoints,
) -> Result<(), Failure> {
    let recipe = Recipe {
        endpoints: endpoints.clone(),
        client_id: spec.client_id.clone(),
        client_secret: spec.secret().map(|s| s.expose().to_string()),
        public: spec.token_auth == Some(TokenAuth::None),
        resource: spec.resource.clone(),
    };
    let plain = serde_json::to_vec(&recipe)
        .map_err(|e| Failure::new(ErrorClass::Config, format!("cannot encode a recipe: {e}")))?;
    store
        .save_recipe(key, &plain)
        .await
        .map_err(|e| Failure::new(ErrorClass::Config, e.to_string()))
}

/// The spec to revoke `key`'s grant with, when a recipe was kept.
pub async fn load(store: &Store, key: &ConnectionKey) -> Result<Option<OAuthSpec>, Failure> {
    let Some(plain) = store
        .load_recipe(key)
        .await
        .map_err(|e| Failure::new(ErrorClass::Config, e.to_string()))?
    else {
        return Ok(None);
    };
    let r: Recipe = serde_json::from_slice(&plain).map_err(|e| {
        Failure::new(
            ErrorClass::Config,
            format!("the stored revocation recipe of {key} is unreadable ({e})"),
        )
    })?;
    Ok(Some(OAuthSpec {
        endpoints: Some(r.endpoints),
        issuer: None,
        client_id: r.client_id,
        client_secret: r.client_secret.map(Secret::from),
        scopes: Vec::new(),
        pkce: false,
        extra_params: Vec::new(),
        redirect_port: None,
        token_auth: r.public.then_some(TokenAuth::None),
        scope_separator: " ".into(),
        resource: r.resource,
        mcp: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn a_recipe_rebuilds_the_revocation_spec() {
        let (_dir, store) = test_store();
        let key = ConnectionKey::new("jira", "default");
        let endpoints = OAuthEndpoints {
            authorize: None,
            token: "https://as.example/token".into(),
            revoke: Some("https://as.example/revoke".into()),
            device: None,
            client_secret_post: true,
        };
        let spec = OAuthSpec {
            endpoints: None,
            issuer: Some("https://as.example".into()),
            client_id: "cid".into(),
            client_secret: Some(Secret::new("csecret")),
            scopes: vec!["a".into()],
            pkce: true,
            extra_params: Vec::new(),
            redirect_port: None,
            token_auth: None,
            scope_separator: " ".into(),
            resource: Some("https://mcp.example/mcp".into()),
            mcp: None,
        };
        save(&store, &key, &spec, &endpoints).await.unwrap();
        let back = load(&store, &key).await.unwrap().unwrap();
        assert_eq!(back.endpoints, Some(endpoints));
        assert_eq!(back.client_id, "cid");
        assert_eq!(back.secret().map(|s| s.expose()), Some("csecret"));
        assert_eq!(back.resource.as_deref(), Some("https://mcp.example/mcp"));
        assert!(
            load(&store, &ConnectionKey::new("x", "default"))
                .await
                .unwrap()
                .is_none()
        );
    }
}
