//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): the client authenticates at the
//! token endpoint with a short-lived JWT it signs with its private key, instead of a secret.
//! ES256 (P-256) and RS256 keys, PEM-encoded (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or
//! PKCS#1 `RSA PRIVATE KEY`). Signed with aws-lc-rs, already rustls's crypto here.
//!
//! The key and every assertion are secrets: errors say what is wrong with the key's *shape*,
//! never its bytes, and an assertion only ever travels in a token request body.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::domain::{ErrorClass, Failure};
use crate::secret::Secret;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is good for: long enough for one request to arrive, short enough that
/// one caught in a log or a proxy is worthless soon after (RFC 7523 §3 wants a bounded `exp`).
pub const LIFETIME_SECS: i64 = 60;

pub enum SigningKey {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.alg())
    }
}

fn key_error(what: &str, why: &str) -> Failure {
    Failure::new(
        ErrorClass::Config,
        format!(
            "{what} is not a usable private key: {why}; give a PEM ES256 (P-256) or RS256 key, unencrypted (convert with `openssl pkcs8 -topk8 -nocrypt`)"
        ),
    )
}

impl SigningKey {
    /// The key in `pem`; `what` names where it came from (a file, `$VAR`) for the errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<SigningKey, Failure> {
        let (label, der) = pem_block(pem).ok_or_else(|| key_error(what, "no PEM block found"))?;
        match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(k) =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                {
                    return Ok(SigningKey::Es256(k));
                }
                RsaKeyPair::from_pkcs8(&der)
                    .map(SigningKey::Rs256)
                    .map_err(|_| key_error(what, "a PKCS#8 key that is neither P-256 nor RSA"))
            }
            "EC PRIVATE KEY" => EcdsaKeyPair::from_private_key_der(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
            )
            .map(SigningKey::Es256)
            .map_err(|_| key_error(what, "an EC key that is not on P-256")),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
                .map(SigningKey::Rs256)
                .map_err(|_| key_error(what, "an RSA key that cannot be read (2048 bits or more)")),
            "ENCRYPTED PRIVATE KEY" => Err(key_error(what, "it is encrypted")),
            other => Err(key_error(what, &format!("a PEM `{other}` block"))),
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Es256(_) => "ES256",
            SigningKey::Rs256(_) => "RS256",
        }
    }

    /// A fresh assertion for `client_id` at `audience` (the AS's issuer identifier, else its
    /// token endpoint), issued at `now` (Unix seconds), with a random `jti`.
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<Secret, Failure> {
        self.assertion_with_kid(client_id, audience, now, None)
    }

    /// As [`assertion`](Self::assertion), naming the key in the JWS header's `kid` when the AS
    /// holds several keys for the client (a JWKS) and must be told which one signed.
    pub fn assertion_with_kid(
        &self,
        client_id: &str,
        audience: &str,
        now: i64,
        kid: Option<&str>,
    ) -> Result<Secret, Failure> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| signing_failed())?;
        let mut header = serde_json::json!({"alg": self.alg(), "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = serde_json::Value::from(kid);
        }
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            SigningKey::Es256(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| signing_failed())?
                .as_ref()
                .to_vec(),
            SigningKey::Rs256(k) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut out,
                )
                .map_err(|_| signing_failed())?;
                out
            }
        };
        Ok(Secret::new(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

/// A configured client's private_key_jwt credential: its key, the `kid` naming it, and the
/// audience when the provider wants another than the default (see [`Assertion`]).
pub struct ClientKey {
    pub key: SigningKey,
    pub kid: Option<String>,
    pub audience: Option<String>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKey({})", self.key.alg())
    }
}

/// Two credentials are the same when they would sign the same way: same public half, `kid`
/// and audience (never a comparison of private bytes).
impl PartialEq for ClientKey {
    fn eq(&self, other: &Self) -> bool {
        self.key.public() == other.key.public()
            && self.kid == other.kid
            && self.audience == other.audience
    }
}

impl Eq for ClientKey {}

impl SigningKey {
    fn public(&self) -> &[u8] {
        use aws_lc_rs::signature::KeyPair;
        match self {
            SigningKey::Es256(k) => k.public_key().as_ref(),
            SigningKey::Rs256(k) => k.public_key().as_ref(),
        }
    }
}

/// How one client signs its token requests: every request (code exchange, refresh, client
/// credentials) gets a fresh assertion from [`Assertion::params`], so none is ever replayed
/// and none outlives its request by more than [`LIFETIME_SECS`].
#[derive(Debug, Clone)]
pub struct Assertion {
    pub key: std::sync::Arc<ClientKey>,
    pub client_id: String,
    pub audience: String,
}

impl Assertion {
    /// `key` for `client_id`; the audience is the key's configured one, else `default`.
    pub fn new(key: std::sync::Arc<ClientKey>, client_id: &str, default: &str) -> Assertion {
        let audience = key.audience.clone().unwrap_or_else(|| default.to_string());
        Assertion {
            key,
            client_id: client_id.to_string(),
            audience,
        }
    }

    /// `client_assertion_type` and a new `client_assertion` for the token request body.
    pub fn params(&self) -> Result<Vec<(String, String)>, Failure> {
        let now = crate::domain::now_ms() / 1000;
        let jwt = self.key.key.assertion_with_kid(
            &self.client_id,
            &self.audience,
            now,
            self.key.kid.as_deref(),
        )?;
        Ok(vec![
            ("client_assertion_type".into(), ASSERTION_TYPE.into()),
            ("client_assertion".into(), jwt.expose().to_string()),
        ])
    }

    /// What to check when the AS refuses the assertion, appended to its answer.
    pub fn refused_hint(&self) -> String {
        format!(
            "the authorization server refused the signed assertion ({}) — check that it holds this key's public half for client {}, that it accepts the audience {}, and that this machine's clock is right",
            self.key.key.alg(),
            self.client_id,
            self.audience
        )
    }
}

fn signing_failed() -> Failure {
    Failure::new(
        ErrorClass::Config,
        "signing the client assertion failed; check the private key",
    )
}

/// The first PEM block: its label and decoded body.
fn pem_block(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body_and_end = &rest[label_end + 5..];
    let end = body_and_end.find(&format!("-----END {label}-----"))?;
    let body: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok().map(|der| (label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::KeyPair;

    fn pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn an_es256_assertion_verifies_with_the_public_key_and_carries_the_claims() {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let key = SigningKey::from_pem(&pem("PRIVATE KEY", der.as_ref()), "test").unwrap();
        let SigningKey::Es256(pair) = &key else {
            panic!("not ES256")
        };
        let public = pair.public_key().as_ref().to_vec();
        let jwt = key.assertion("cid", "https://as.example", 1_000).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let signed = format!("{}.{}", parts[0], parts[1]);
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("signature verifies");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "cid");
        assert_eq!(claims["sub"], "cid");
        assert_eq!(claims["aud"], "https://as.example");
        assert_eq!(claims["exp"], 1_000 + LIFETIME_SECS);
        let again = key.assertion("cid", "https://as.example", 1_000).unwrap();
        let jti = |j: &Secret| {
            let p: Vec<&str> = j.expose().split('.').collect();
            let c: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
            c["jti"].as_str().unwrap().to_string()
        };
        assert_ne!(jti(&jwt), jti(&again), "a jti is never reused");
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        let junk = pem("PRIVATE KEY", b"not-a-key-Fixture-5ee1");
        let e = SigningKey::from_pem(&junk, "key.pem").unwrap_err();
        assert!(
            e.message.contains("key.pem") && !e.message.contains("Fixture"),
            "{e}"
        );
        let e = SigningKey::from_pem("nothing here", "$KEY").unwrap_err();
        assert!(e.message.contains("no PEM block"), "{e}");
        let e = SigningKey::from_pem(&pem("ENCRYPTED PRIVATE KEY", b"x"), "k").unwrap_err();
        assert!(e.message.contains("encrypted"), "{e}");
    }
}
