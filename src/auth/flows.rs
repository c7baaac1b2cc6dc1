//! Human-driven authorization: authorization code with PKCE over a loopback redirect (RFC 8252).
//! The result is a `NewToken` that the caller installs through the broker.

use std::time::Duration;

use oauth2::{CsrfToken, PkceCodeChallenge};
use tokio::net::TcpListener;

use super::oauth::{self, TokenRequestContext};
use super::spec::OAuthSpec;
use crate::domain::{ErrorClass, Failure};
use crate::store::NewToken;

/// `state` and the listener live this long (the 15 minutes).
pub const STATE_TTL: Duration = Duration::from_secs(15 * 60);

/// How the authorization URL reaches a browser.
#[derive(Clone, Debug)]
pub enum Opener {
    /// `$BROWSER`, else the platform opener; the URL is always printed too.
    System,
    /// Fetch the URL with this client and follow redirects, approving a consent page by its
    /// form, so the redirect lands on our listener. No browser involved.
    Internal(reqwest::Client),
    /// Print only; the operator opens it on another machine.
    PrintOnly,
}

pub struct AuthCodeOutcome {
    pub token: NewToken,
    pub redirect_uri: String,
}

/// Runs the whole flow: listener, URL, browser, callback, code exchange.
pub async fn authorization_code(
    http: &reqwest::Client,
    spec: &OAuthSpec,
    opener: Opener,
    on_url: &(dyn Fn(&str) + Send + Sync),
) -> Result<AuthCodeOutcome, Failure> {
    let endpoints = spec.resolve_endpoints(http).await?;
    if endpoints.authorize.is_none() {
        return Err(Failure::new(
            ErrorClass::Config,
            "the authorization server has no authorization endpoint; use client-credentials or set authorize_url",
        ));
    }
    let client = oauth::build_client(&endpoints, &spec.client_id, spec.secret())
        .map_err(|m| Failure::new(ErrorClass::Config, m))?;

    let listener = TcpListener::bind(("127.0.0.1", spec.redirect_port.unwrap_or(0)))
        .await
        .map_err(|e| Failure::new(ErrorClass::Config, format!("cannot listen on 127.0.0.1 for the redirect: {e}; free the port or change redirect_port")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::new(ErrorClass::Config, e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = authorize_url(&client, spec, &redirect_uri, spec.pkce.then_some(challenge))?;
    on_url(url.as_str());
    open(&opener, url.as_str());

    let code = tokio::time::timeout(
        STATE_TTL,
        super::loopback::wait_for_code(&listener, state.secret()),
    )
    .await
    .map_err(|_| {
        Failure::new(
            ErrorClass::Timeout,
            "no authorization arrived within 15 minutes; run the command again",
        )
    })??;
    drop(listener);

    let extra = spec.token_params();
    let ctx = TokenRequestContext::for_spec(http, &client, spec, &extra)
        .signed(spec.assertion(&endpoints));
    let verifier = spec.pkce.then_some(verifier);
    let token = oauth::exchange_code(&ctx, code, verifier, &redirect_uri)
        .await
        .map_err(|e| e.failure())?;
    Ok(AuthCodeOutcome {
        token,
        redirect_uri,
    })
}

/// The authorization request URL (RFC 6749 §4.1.1), with the scopes joined by the connector's
/// separator: `add_scopes` would always join them with a space, which Slack's v2 scopes reject.
pub fn authorize_url(
    client: &oauth::OAuthClient,
    spec: &OAuthSpec,
    redirect_uri: &str,
    challenge: Option<PkceCodeChallenge>,
) -> Result<(url::Url, CsrfToken), Failure> {
    let redirect = oauth2::RedirectUrl::new(redirect_uri.to_string()).map_err(|e| {
        Failure::new(
            ErrorClass::Config,
            format!("bad redirect URI {redirect_uri}: {e}"),
        )
    })?;
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .map_err(|e| Failure::new(ErrorClass::Config, format!("{e}; set authorize_url")))?
        .set_redirect_uri(std::borrow::Cow::Owned(redirect));
    if let Some(scope) = spec.scope_param() {
        request = request.add_extra_param("scope", scope);
    }
    if let Some(challenge) = challenge {
        request = request.set_pkce_challenge(challenge);
    }
    for (k, v) in &spec.extra_params {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    if let Some(resource) = &spec.resource {
        request = request.add_extra_param("resource", resource.clone());
    }
    Ok(request.url())
}

fn open(opener: &Opener, url: &str) {
    match opener {
        Opener::PrintOnly => {}
        Opener::Internal(client) => {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move {
                // A consent page (the demo lab's) is approved the way a person's click does.
                if let Err(e) = crate::net::open_and_approve(&client, &url).await {
                    tracing::warn!("the internal browser could not complete the login: {e}");
                }
            });
        }
        Opener::System => {
            let browser = std::env::var("BROWSER")
                .ok()
                .filter(|b| !b.trim().is_empty());
            let (program, args): (String, Vec<String>) = match browser {
                Some(b) => {
                    let mut parts = b.split_whitespace().map(str::to_string);
                    let program = parts.next().unwrap_or_default();
                    (program, parts.chain([url.to_string()]).collect())
                }
                None if cfg!(target_os = "macos") => ("open".into(), vec![url.into()]),
                None => ("xdg-open".into(), vec![url.into()]),
            };
            let spawned = std::process::Command::new(&program)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            if let Err(e) = spawned {
                tracing::info!("could not start a browser ({program}): {e}; the URL was printed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::spec::OAuthEndpoints;

    fn spec(separator: &str) -> OAuthSpec {
        OAuthSpec {
            endpoints: Some(OAuthEndpoints {
                authorize: Some("https://slack.com/oauth/v2/authorize".into()),
                token: "https://slack.com/api/oauth.v2.access".into(),
                revoke: None,
                device: None,
                client_secret_post: true,
            }),
            issuer: None,
            client_id: "cid".into(),
            client_secret: None,
            scopes: vec!["chat:write".into(), "channels:read".into()],
            pkce: true,
            extra_params: vec![("team".into(), "T1".into())],
            redirect_port: None,
            token_auth: None,
            scope_separator: separator.into(),
            resource: None,
            mcp: None,
        }
    }

    fn query(url: &url::Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn built(separator: &str, pkce: bool) -> url::Url {
        let spec = spec(separator);
        let endpoints = spec.endpoints.clone().unwrap();
        let client = oauth::build_client(&endpoints, &spec.client_id, None).unwrap();
        let challenge = pkce.then(|| PkceCodeChallenge::new_random_sha256().0);
        authorize_url(&client, &spec, "http://127.0.0.1:9/callback", challenge)
            .unwrap()
            .0
    }

    #[test]
    fn scopes_are_joined_with_the_connectors_separator() {
        let url = built(",", true);
        let q = query(&url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("scope"), Some("chat:write,channels:read"));
        assert_eq!(q.iter().filter(|(n, _)| n == "scope").count(), 1);
        // The raw query: the comma travels percent-encoded, not as a space.
        assert!(
            url.as_str()
                .contains("scope=chat%3Awrite%2Cchannels%3Aread"),
            "{url}"
        );
        assert_eq!(get("team"), Some("T1"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:9/callback"));

        let url = built(" ", false);
        let q = query(&url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("scope"), Some("chat:write channels:read"));
        assert_eq!(get("code_challenge"), None, "PKCE off sends no challenge");
    }
}
