//! JWTs as an authorization server or identity provider of our own sees them: keys generated
//! per test (ES256, RS256), signing (an IdP issuing an ID-JAG), and the checks a real AS makes
//! on an assertion — the signature against the registered key, `aud`, a short unexpired
//! lifetime and a `jti` never seen before. Used with `#[path = "support/jwt.rs"]`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Mutex;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// A public key as the verifying side holds it.
#[derive(Clone, Debug)]
pub enum Registered {
    Es256(Vec<u8>),
    Rs256(Vec<u8>),
}

impl Registered {
    pub fn alg(&self) -> &'static str {
        match self {
            Registered::Es256(_) => "ES256",
            Registered::Rs256(_) => "RS256",
        }
    }

    /// The P-256 key as a JWK (RFC 7518 §6.2), as an IdP publishes it in its JWKS.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            // An uncompressed point: 0x04, then x and y, 32 bytes each.
            Registered::Es256(p) if p.len() == 65 => json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..]),
            }),
            _ => json!({}),
        }
    }

    /// The key a JWKS names `kid`, as a verifier reads it back.
    pub fn from_jwks(jwks: &Value, kid: &str) -> Option<Registered> {
        let key = jwks["keys"]
            .as_array()?
            .iter()
            .find(|k| k["kid"] == kid && k["kty"] == "EC" && k["crv"] == "P-256")?;
        let x = URL_SAFE_NO_PAD.decode(key["x"].as_str()?).ok()?;
        let y = URL_SAFE_NO_PAD.decode(key["y"].as_str()?).ok()?;
        let mut point = vec![4u8];
        point.extend(x);
        point.extend(y);
        Some(Registered::Es256(point))
    }
}

/// A PKCS#8 PEM.
pub fn pem(der: &[u8]) -> String {
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
}

/// A fresh P-256 key: its PEM and its public half.
pub fn es256() -> (String, Registered) {
    let der = EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .expect("generate P-256");
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
        .expect("parse P-256");
    (
        pem(der.as_ref()),
        Registered::Es256(pair.public_key().as_ref().to_vec()),
    )
}

/// A fresh 2048-bit RSA key: its PEM and its public half.
pub fn rs256() -> (String, Registered) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate RSA");
    let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().expect("RSA as PKCS#8");
    (
        pem(der.as_ref()),
        Registered::Rs256(pair.public_key().as_ref().to_vec()),
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// An ES256 JWS over `claims`, signed with the PKCS#8 key in `pem`, naming `kid`.
pub fn sign_es256(pem_text: &str, kid: &str, claims: &Value) -> String {
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).expect("PEM body");
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .expect("P-256 key");
    let header = json!({"alg": "ES256", "typ": "oauth-id-jag+jwt", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = pair
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// A JWS's header and claims, without any check.
pub fn decode(jwt: &str) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, _] = parts[..] else {
        return Err("not a JWS".into());
    };
    let part = |p: &str| -> Result<Value, String> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
    };
    Ok((part(h)?, part(c)?))
}

/// The signature of `jwt` under `key`, with the header's `alg` matching the key's.
pub fn verify_signature(jwt: &str, key: &Registered) -> Result<(Value, Value), String> {
    let (header, claims) = decode(jwt)?;
    let (signed, sig) = jwt.rsplit_once('.').ok_or("not a JWS")?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|e| e.to_string())?;
    let verified = match key {
        Registered::Es256(public) => {
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public)
                .verify(signed.as_bytes(), &sig)
        }
        Registered::Rs256(public) => {
            signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public)
                .verify(signed.as_bytes(), &sig)
        }
    };
    if header["alg"] != key.alg() || verified.is_err() {
        return Err("signature does not verify with the registered key".into());
    }
    Ok((header, claims))
}

/// What an AS holds to check the assertions of one client, and the `jti`s it has seen.
pub struct Verifier {
    pub key: Registered,
    pub client_id: String,
    pub audience: String,
    /// How far the AS's clock runs ahead of ours (an hour: every assertion arrives expired).
    pub skew: i64,
    pub seen: Mutex<HashSet<String>>,
}

impl Verifier {
    pub fn new(key: Registered, client_id: &str, audience: &str, skew: i64) -> Verifier {
        Verifier {
            key,
            client_id: client_id.into(),
            audience: audience.into(),
            skew,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// RFC 7523 §3 as a real AS applies it to a client assertion (`iss` = `sub` = the client)
    /// or, with `client_id` the IdP's issuer, to a JWT authorization grant.
    pub fn check(&self, jwt: &str, issuer: &str, subject: Option<&str>) -> Result<Value, String> {
        let (_, claims) = verify_signature(jwt, &self.key)?;
        if claims["iss"] != issuer {
            return Err(format!("iss {} is not {issuer}", claims["iss"]));
        }
        if let Some(sub) = subject
            && claims["sub"] != sub
        {
            return Err(format!("sub {} is not {sub}", claims["sub"]));
        }
        let aud_ok = match &claims["aud"] {
            Value::String(a) => *a == self.audience,
            Value::Array(a) => a.iter().any(|v| *v == *self.audience),
            _ => false,
        };
        if !aud_ok {
            return Err(format!("aud {} is not {}", claims["aud"], self.audience));
        }
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if exp <= now() + self.skew {
            return Err("assertion expired".into());
        }
        if exp - claims["iat"].as_i64().unwrap_or(0) > 300 {
            return Err("assertion lives too long".into());
        }
        let jti = claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty())
            .ok_or("no jti")?;
        if !self.seen.lock().expect("seen").insert(jti.to_string()) {
            return Err("jti replayed".into());
        }
        Ok(claims)
    }

    /// A client assertion on a token request (RFC 7523 §2.2): nothing else authenticates.
    pub fn check_client(&self, req: &crate::support::hostile::Request) -> Result<Value, String> {
        if req.form("client_assertion_type").as_deref()
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err("client_assertion_type".into());
        }
        if req.header("authorization").is_some() || req.form("client_secret").is_some() {
            return Err("a secret was sent too".into());
        }
        let jwt = req.form("client_assertion").ok_or("no client_assertion")?;
        let client = self.client_id.clone();
        self.check(&jwt, &client, Some(&client))
    }
}

/// Forty characters from inside a PEM's base64 body: enough to recognise the key if any of it
/// is ever printed, logged or stored.
pub fn pem_fragment(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    body.chars().take(40).collect()
}

/// Fails naming the first secret that appears anywhere in `all` (output, logs, files).
#[track_caller]
pub fn assert_none_leaked(all: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!all.contains(s.as_str()), "{s} leaked:\n{all}");
    }
}
