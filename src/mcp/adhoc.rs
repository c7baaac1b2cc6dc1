//! Sessions to servers that have no config entry (`--url`, `--stdio`), like the MCP
//! Inspector's CLI: headers and a bearer token from the command line, no broker, no store.
//! Without a bearer, a server that answers 401 is authorized on the spot (MCP authorization,
//! see `auth::adhoc_auth`), for this one command.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};

use super::elicit::Elicitor;
use super::sse::SseClientTransport;
use super::{AuthedHttpClient, Session, SessionHandler, Target};
use crate::auth::Credential;
use crate::auth::adhoc_auth::AdHocAuth;
use crate::auth::source::{SharedSource, StaticSource};
use crate::classify::mcp::{classify_client_init, classify_init};
use crate::domain::{ErrorClass, Failure};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct AdHoc {
    pub target: Target,
    /// `--header` values may be API keys: they live as secrets and are never echoed.
    pub headers: Vec<(String, Secret)>,
    pub bearer: Option<Secret>,
    /// Authorization on a 401, for an HTTP target that brought no credentials of its own.
    pub auth: Option<Arc<AdHocAuth>>,
    /// How this command answers the server's requests for input.
    pub elicit: Elicitor,
    /// `--protocol-version`: the revision proposed at `initialize`.
    pub protocol: Option<rmcp::model::ProtocolVersion>,
}

impl AdHoc {
    /// Whether the operator brought credentials (then a 401 is theirs to fix).
    pub fn brings_credentials(&self) -> bool {
        self.bearer.is_some()
            || self
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    }

    /// A failure as the operator should see it: when authorization ran and failed, its reason
    /// (the browser never came back, the AS refused...) rather than the transport's bare 401.
    pub fn explain(&self, failure: Failure) -> Failure {
        match self.auth.as_ref().and_then(|a| a.failure()) {
            Some(why)
                if failure.class == ErrorClass::Auth || failure.class == ErrorClass::Protocol =>
            {
                why
            }
            _ => failure,
        }
    }

    fn source(&self) -> SharedSource {
        match (&self.bearer, &self.auth) {
            (Some(token), _) => StaticSource::shared(Credential::Bearer(token.clone()), "--bearer"),
            (None, Some(auth)) => auth.clone(),
            (None, None) => StaticSource::shared(Credential::None, "ad hoc target"),
        }
    }
}

/// `K: V` into a name and a secret value. Errors name the header, never its value.
pub fn parse_header(raw: &str) -> Result<(String, Secret), String> {
    let Some((name, value)) = raw.split_once(':') else {
        return Err(
            "a --header must look like 'Name: value' (the value is not shown here)".to_string(),
        );
    };
    let name = name.trim();
    if HeaderName::from_bytes(name.as_bytes()).is_err() || name.is_empty() {
        return Err(format!("--header: `{name}` is not a valid header name"));
    }
    let value = value.trim();
    if HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "--header {name}: the value has characters a header cannot carry (value not shown)"
        ));
    }
    Ok((name.to_string(), Secret::new(value)))
}

/// Splits `--stdio "CMD ARGS"` like a shell would for words and quotes (no expansion).
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let (mut words, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.extend(chars.next()),
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                word.extend(chars.next());
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("--stdio: unterminated {q} quote"));
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("--stdio needs a command, e.g. --stdio \"npx -y my-server\"".into());
    }
    Ok(words)
}

/// Connects within `timeout`, not counting time spent authorizing: a human in a browser is not
/// a server that hangs.
pub async fn connect(adhoc: &AdHoc, timeout: Duration) -> Result<Session, Failure> {
    let connecting = connect_inner(adhoc);
    tokio::pin!(connecting);
    let mut deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::select! {
            result = &mut connecting => return result,
            _ = tokio::time::sleep_until(deadline) => {
                if adhoc.auth.as_ref().is_some_and(|a| a.busy()) {
                    deadline = tokio::time::Instant::now() + timeout;
                    continue;
                }
                return Err(Failure::new(
                    ErrorClass::Timeout,
                    format!(
                        "the MCP server did not finish initializing within {}",
                        humantime::format_duration(timeout)
                    ),
                ));
            }
        }
    }
}

async fn connect_inner(adhoc: &AdHoc) -> Result<Session, Failure> {
    let handler =
        SessionHandler::for_command(adhoc.elicit.clone()).with_protocol(adhoc.protocol.clone());
    match &adhoc.target {
        Target::StreamableHttp { url } => {
            let client = AuthedHttpClient::new(http_client(adhoc)?, adhoc.source());
            let config = StreamableHttpClientTransportConfig::with_uri(url.clone());
            let transport = StreamableHttpClientTransport::with_client(client, config);
            handler
                .serve(transport)
                .await
                .map_err(|e| adhoc.explain(classify_client_init(&e)))
        }
        Target::Sse { url } => {
            let transport = SseClientTransport::connect(http_client(adhoc)?, adhoc.source(), url)
                .await
                .map_err(|f| adhoc.explain(f))?;
            handler
                .serve(transport)
                .await
                .map_err(|e| adhoc.explain(classify_client_init(&e)))
        }
        Target::Stdio { command, args, env } => {
            // A one-shot command owns the terminal: the server's own diagnostics are worth seeing.
            let (transport, _) = super::spawn_stdio(command, args, env, Stdio::inherit())?;
            handler
                .serve(transport)
                .await
                .map_err(|e| classify_init(&e.to_string()))
        }
    }
}

/// The client for the MCP server itself, carrying the `--header`s (marked sensitive, so they
/// never show in reqwest's debug output).
fn http_client(adhoc: &AdHoc) -> Result<reqwest::Client, Failure> {
    let mut headers = HeaderMap::new();
    for (name, value) in &adhoc.headers {
        let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.expose()),
        ) else {
            return Err(Failure::new(
                ErrorClass::Config,
                format!("--header {name} is not a valid header"),
            ));
        };
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    // The shared policy matters most here: `--header` values are default headers, which
    // reqwest would otherwise forward to any host a redirect names.
    crate::net::client_builder()
        .default_headers(headers)
        .build()
        .map_err(|e| {
            Failure::new(
                ErrorClass::Config,
                format!("cannot build the HTTP client: {e}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_never_echo_values() {
        let (name, value) = parse_header("X-Api-Key:  s3cret ").unwrap();
        assert_eq!((name.as_str(), value.expose()), ("X-Api-Key", "s3cret"));
        let e = parse_header("X-Api-Key s3cret").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        let e = parse_header("X-Api-Key: s3cret\u{7}").unwrap_err();
        assert!(!e.contains("s3cret") && e.contains("X-Api-Key"), "{e}");
        assert!(parse_header("Bad Name: v").is_err());
    }

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            split_command(r#"npx -y "my server" 'a b' c\ d"#).unwrap(),
            ["npx", "-y", "my server", "a b", "c d"]
        );
        assert_eq!(split_command(r#"x "" y"#).unwrap(), ["x", "", "y"]);
        assert!(split_command("x 'oops").is_err());
        assert!(split_command("   ").is_err());
    }
}
