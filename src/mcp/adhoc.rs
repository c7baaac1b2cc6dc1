//! Sessions to servers that have no config entry (`--url`, `--stdio`), like the MCP
//! Inspector's CLI: headers and a bearer token from the command line, no broker, no store.

use std::process::Stdio;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};

use super::{Session, SessionHandler, Target, classify_init};
use crate::domain::{ErrorClass, Failure};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct AdHoc {
    pub target: Target,
    /// `--header` values may be API keys: they live as secrets and are never echoed.
    pub headers: Vec<(String, Secret)>,
    pub bearer: Option<Secret>,
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

pub async fn connect(adhoc: &AdHoc, timeout: Duration) -> Result<Session, Failure> {
    tokio::time::timeout(timeout, connect_inner(adhoc))
        .await
        .map_err(|_| {
            Failure::new(
                ErrorClass::Timeout,
                format!(
                    "the MCP server did not finish initializing within {}",
                    humantime::format_duration(timeout)
                ),
            )
        })?
}

async fn connect_inner(adhoc: &AdHoc) -> Result<Session, Failure> {
    let handler = SessionHandler::new(None);
    match &adhoc.target {
        Target::StreamableHttp { url } => {
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
            let http = reqwest::Client::builder()
                .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .default_headers(headers)
                .build()
                .map_err(|e| {
                    Failure::new(
                        ErrorClass::Config,
                        format!("cannot build the HTTP client: {e}"),
                    )
                })?;
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
            if let Some(token) = &adhoc.bearer {
                config = config.auth_header(token.expose());
            }
            let transport = StreamableHttpClientTransport::with_client(http, config);
            handler
                .serve(transport)
                .await
                .map_err(|e| classify_init(&e.to_string()))
        }
        Target::Sse { .. } => Err(Failure::new(
            ErrorClass::Config,
            "--transport sse: the legacy HTTP+SSE transport is not supported yet; use streamable-http if the server offers it",
        )),
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
