//! Enterprise-managed authorization (MCP SEP-990, "cross-app access"): the user already signed
//! in to their company's identity provider, so instead of a login at the MCP server's
//! authorization server, switchboard
//!
//! 1. exchanges the IdP's ID token at the IdP for an identity assertion authorization grant
//!    (an ID-JAG; RFC 8693 token exchange, audience the AS's issuer, resource the MCP server);
//! 2. redeems that grant at the MCP server's AS (RFC 7523 JWT bearer grant), authenticating as
//!    its client there.
//!
//! The ID token, the ID-JAG and every secret stay out of errors and logs.

use std::time::Duration;

use serde_json::Value;

use super::spec::discover_metadata;
use crate::domain::{ErrorClass, Failure, now_ms};
use crate::secret::Secret;
use crate::store::NewToken;

const TIMEOUT: Duration = Duration::from_secs(30);
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// The identity provider side, from the command line.
#[derive(Debug, Clone)]
pub struct IdP {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub id_token: Secret,
}

/// The MCP server's authorization server side, from discovery and the command line.
pub struct Target<'a> {
    pub issuer: &'a str,
    pub token_endpoint: &'a str,
    pub resource: Option<&'a str>,
    pub scopes: &'a [String],
    pub client_id: &'a str,
    pub client_secret: Option<&'a Secret>,
}

/// Both steps, ending in the MCP server's access token.
pub async fn authorize(
    http: &reqwest::Client,
    idp: &IdP,
    target: &Target<'_>,
) -> Result<NewToken, Failure> {
    let grant = exchange(http, idp, target).await?;
    redeem(http, &grant, target).await
}

/// Step 1: the ID token for an ID-JAG at the IdP's token endpoint.
async fn exchange(
    http: &reqwest::Client,
    idp: &IdP,
    target: &Target<'_>,
) -> Result<Secret, Failure> {
    let metadata = discover_metadata(http, &idp.issuer)
        .await
        .map_err(|mut f| {
            f.message = format!("identity provider {}: {}", idp.issuer, f.message);
            f
        })?;
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE.to_string()),
        ("subject_token", idp.id_token.expose().to_string()),
        ("subject_token_type", ID_TOKEN_TYPE.to_string()),
        ("requested_token_type", ID_JAG_TYPE.to_string()),
        ("audience", target.issuer.to_string()),
    ];
    if let Some(r) = target.resource {
        form.push(("resource", r.to_string()));
    }
    if !target.scopes.is_empty() {
        form.push(("scope", target.scopes.join(" ")));
    }
    let what = format!("the token exchange at identity provider {}", idp.issuer);
    let hint = "check the ID token is current and that the IdP client is set up for cross-app access to this authorization server";
    let body = post(
        http,
        &metadata.token_endpoint,
        &idp.client_id,
        idp.client_secret.as_ref(),
        &form,
        (&what, hint),
    )
    .await?;
    let issued = body.get("issued_token_type").and_then(Value::as_str);
    if issued.is_some_and(|t| t != ID_JAG_TYPE) {
        return Err(Failure::new(
            ErrorClass::Protocol,
            format!(
                "{what} issued a {} instead of an identity assertion grant (ID-JAG); the IdP does not support cross-app access for this client",
                issued.unwrap_or_default()
            ),
        ));
    }
    body.get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(Secret::new)
        .ok_or_else(|| {
            Failure::new(
                ErrorClass::Protocol,
                format!("{what} answered without a grant (no access_token)"),
            )
        })
}

/// Step 2: the ID-JAG for an access token at the MCP server's AS.
async fn redeem(
    http: &reqwest::Client,
    grant: &Secret,
    target: &Target<'_>,
) -> Result<NewToken, Failure> {
    let mut form = vec![
        ("grant_type", JWT_BEARER.to_string()),
        ("assertion", grant.expose().to_string()),
    ];
    if let Some(r) = target.resource {
        form.push(("resource", r.to_string()));
    }
    let what = format!(
        "the JWT bearer grant at authorization server {}",
        target.issuer
    );
    let issued_at = now_ms();
    // The AS refusing the grant is about trust between the two servers (its signing key, its
    // audience, its lifetime), not about the ID token the operator gave.
    let hint = "the identity provider's grant (ID-JAG) was not accepted: check that this authorization server trusts this identity provider (its issuer and JWKS), that the MCP server's client is set up for cross-app access, and that the clocks agree";
    let body = post(
        http,
        target.token_endpoint,
        target.client_id,
        target.client_secret,
        &form,
        (&what, hint),
    )
    .await?;
    let raw = serde_json::to_vec(&body).unwrap_or_default();
    super::token_response::token_from_body(&raw, None, target.scopes, issued_at)
        .map_err(|e| e.failure())
}

/// One token endpoint POST; the client authenticates with Basic when it has a secret (RFC 6749
/// §2.3.1, form-encoded first), else names itself in the body. A non-2xx answer is an error
/// naming the server's `error` and its description, never what was sent.
async fn post(
    http: &reqwest::Client,
    endpoint: &str,
    client_id: &str,
    secret: Option<&Secret>,
    form: &[(&str, String)],
    (what, hint): (&str, &str),
) -> Result<Value, Failure> {
    crate::net::require_secure(endpoint, "the token endpoint", endpoint)
        .map_err(|m| Failure::new(ErrorClass::Config, format!("{what}: {m}")))?;
    let mut form: Vec<(&str, String)> = form.to_vec();
    let mut request = http.post(endpoint).timeout(TIMEOUT);
    match secret {
        Some(s) => {
            let enc =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(client_id), Some(enc(s.expose())));
        }
        None => form.push(("client_id", client_id.to_string())),
    }
    let resp = request.form(&form).send().await.map_err(|e| {
        let mut f = crate::classify::classify_reqwest(&e);
        f.message = format!("{what}: {}", f.message);
        f
    })?;
    let status = resp.status().as_u16();
    let ok = resp.status().is_success();
    let bytes = crate::net::read_capped(resp, crate::net::TOKEN_BODY_CAP, what).await?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !ok {
        let text = |k: &str| {
            body.get(k).and_then(Value::as_str).map(|s| {
                crate::text::printable(s, false)
                    .chars()
                    .take(300)
                    .collect::<String>()
            })
        };
        let error = text("error").unwrap_or_else(|| format!("HTTP {status}"));
        let description = text("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(Failure::new(
            ErrorClass::Auth,
            format!("{what} was refused ({error}{description}); {hint}"),
        ));
    }
    if !body.is_object() {
        return Err(Failure::new(
            ErrorClass::Protocol,
            format!("{what} answered HTTP {status} with a body that is not a JSON object"),
        ));
    }
    Ok(body)
}
