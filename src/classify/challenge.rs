//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3): what an MCP server says when
//! it refuses a request. Parsed properly rather than with `contains`: parameter values may be
//! quoted strings holding commas and escaped quotes, and one header may carry several schemes
//! ("Basic realm=x, Bearer scope=\"a b\"").

/// One challenge: a scheme and its parameters (names lowercased; RFC 9110 makes them
/// case-insensitive) or a token68.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
    pub token68: Option<String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a `Bearer` challenge tells an MCP client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// RFC 9728 §5.1: where the protected-resource metadata lives.
    pub resource_metadata: Option<String>,
    /// The scopes the server wants (space-separated on the wire).
    pub scope: Vec<String>,
    /// `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The `Bearer` challenge among the given header values, if any.
pub fn bearer<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<BearerChallenge> {
    values
        .into_iter()
        .flat_map(parse)
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .map(|c| BearerChallenge {
            resource_metadata: c.param("resource_metadata").map(str::to_string),
            scope: c
                .param("scope")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            error: c.param("error").map(str::to_string),
            error_description: c.param("error_description").map(str::to_string),
        })
}

/// Every challenge in one header value. Malformed parts are skipped, never fatal: a server's
/// odd header must not stop discovery when the rest of it is usable.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip(|b| b == b',' || is_ws(b));
        if p.done() {
            break;
        }
        let Some(scheme) = p.token() else {
            // Not a token where a scheme must start: skip to the next comma and try again.
            p.skip(|b| b != b',');
            continue;
        };
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
            token68: None,
        };
        let had_space = p.skip(is_ws) > 0;
        if had_space {
            p.params(&mut challenge);
        }
        out.push(challenge);
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.i - start
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        self.skip(is_tchar);
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// `#auth-param` or a token68 after a scheme. Stops before a following challenge.
    fn params(&mut self, c: &mut Challenge) {
        let mut first = true;
        loop {
            let start = self.i;
            let Some(name) = self.token() else {
                return;
            };
            self.skip(is_ws);
            if self.peek() != Some(b'=') {
                // A bare token: the next challenge's scheme (rewind), unless it is the first
                // thing after the scheme and ends the challenge (a token68 without padding).
                if first && matches!(self.peek(), None | Some(b',')) {
                    c.token68 = Some(name);
                } else {
                    self.i = start;
                }
                return;
            }
            // token68 may end in '=' padding: "Basic dXNlcjpw==" (nothing after the '='s).
            let eq_start = self.i;
            self.skip(|b| b == b'=');
            let eqs = self.i - eq_start;
            self.skip(is_ws);
            if first && (eqs > 1 || matches!(self.peek(), None | Some(b','))) {
                let raw = String::from_utf8_lossy(&self.s[start..eq_start + eqs]);
                c.token68 = Some(raw.trim().to_string());
                return;
            }
            let value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.token().unwrap_or_default()
            };
            c.params.push((name.to_ascii_lowercase(), value));
            first = false;
            self.skip(is_ws);
            if self.peek() != Some(b',') {
                return;
            }
            self.i += 1;
            self.skip(|b| b == b',' || is_ws(b));
        }
    }

    /// A quoted-string with `\` escapes; an unterminated one runs to the end of the header.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_may_hold_commas_and_escapes() {
        let c = parse(
            r#"Bearer realm="a, b", scope="mcp:tools api:read", error_description="say \"hi\", then go""#,
        );
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert_eq!(c[0].param("scope"), Some("mcp:tools api:read"));
        assert_eq!(
            c[0].param("error_description"),
            Some(r#"say "hi", then go"#)
        );
    }

    #[test]
    fn several_schemes_in_one_header_and_across_headers() {
        let c = parse(
            r#"Basic realm="lab", Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", error=invalid_token"#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "Basic");
        assert_eq!(c[1].scheme, "Bearer");
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        let b = bearer([
            "Basic realm=x",
            "bearer Scope=\"a b\" , ERROR=\"insufficient_scope\"",
        ])
        .expect("a bearer challenge");
        assert_eq!(b.scope, vec!["a", "b"]);
        assert_eq!(b.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(b.resource_metadata, None);
        assert_eq!(bearer(["Basic realm=x", "Negotiate abc=="]), None);
    }

    #[test]
    fn missing_params_token68_and_junk_are_tolerated() {
        let c = parse("Bearer");
        assert_eq!(c.len(), 1);
        assert!(c[0].params.is_empty());
        let b = bearer(["Bearer"]).expect("bare Bearer");
        assert_eq!(b, BearerChallenge::default());
        let c = parse("Negotiate YIIBhg==, Bearer error=\"invalid_token\"");
        assert_eq!(c[0].token68.as_deref(), Some("YIIBhg=="));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        let c = parse(r#", ,Bearer scope="unterminated"#);
        assert_eq!(c[0].param("scope"), Some("unterminated"));
        let c = parse("Bearer a = b ,, c=d");
        assert_eq!(c[0].param("a"), Some("b"));
        assert_eq!(c[0].param("c"), Some("d"));
        assert!(parse("").is_empty());
        assert!(
            parse("\"junk\", Bearer")
                .iter()
                .any(|c| c.scheme == "Bearer")
        );
    }
}
