//! The database URL: its TLS options as libpq users write them, and its password kept out of
//! every message.

use std::sync::Arc;

/// Certificates checked against `root_cert` (PEM, the URL's `sslrootcert`) when given, else by
/// the platform's verifier, as every other TLS connection here; host names are always checked.
/// The URL's `sslmode` decides whether TLS is used (`require`), tried (`prefer`, the default) or
/// not (`disable`).
pub(super) fn tls(
    root_cert: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let config = match root_cert {
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                format!(
                    "cannot read sslrootcert {}: {e}; give the PEM file of the certificate authority that signed the server's certificate",
                    path.display()
                )
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                let cert = cert.map_err(|e| unreadable(&e))?;
                roots.add(cert).map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in it"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .with_platform_verifier()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Takes out what libpq users write and tokio-postgres does not read: `sslrootcert=PATH` (the
/// CA to trust, returned) and `sslmode=verify-ca` / `verify-full` (here `require`: the
/// certificate and host name are always verified).
pub(super) fn tls_options(url: &str) -> (String, Option<std::path::PathBuf>) {
    let mut root = None;
    let mut keep = |key: &str, value: String| -> Option<String> {
        match (key, value.as_str()) {
            ("sslrootcert", _) => {
                root = Some(std::path::PathBuf::from(value));
                None
            }
            ("sslmode", "verify-ca" | "verify-full") => Some("require".into()),
            _ => Some(value),
        }
    };
    let text = if is_url(url) {
        match url::Url::parse(url) {
            Ok(mut u) => {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .filter_map(|(k, v)| keep(&k, v.into_owned()).map(|v| (k.into_owned(), v)))
                    .collect();
                u.set_query(None);
                if !pairs.is_empty() {
                    u.query_pairs_mut().extend_pairs(pairs);
                }
                u.to_string()
            }
            Err(_) => url.to_string(),
        }
    } else {
        map_pairs(url, |key, value| keep(key, value).map(|v| quote(&v)))
    };
    (text, root)
}

fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// `url` with its password replaced, in either form PostgreSQL takes (a URL, or `key=value`
/// pairs), for every message and log line that names the database.
pub fn redact(url: &str) -> String {
    if is_url(url) {
        return match url::Url::parse(url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                // A password can also ride in the query (`?password=`).
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                if !pairs.is_empty() {
                    u.query_pairs_mut().clear().extend_pairs(pairs);
                }
                u.to_string()
            }
            // Unparseable: say nothing of what it held past the scheme.
            Err(_) => "postgres://(unreadable URL)".into(),
        };
    }
    map_pairs(url, |key, value| {
        Some(if key == "password" {
            "***".into()
        } else {
            quote(&value)
        })
    })
}

/// A value as libpq reads it back: bare when it can be, else in single quotes.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\', '\t', '\n']) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `key=value` pairs (a value bare or in single quotes with backslash escapes: libpq's rules),
/// each value unquoted and passed to `f`, which gives the text to write back (`None`: drop the
/// pair).
fn map_pairs(text: &str, mut f: impl FnMut(&str, String) -> Option<String>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() && chars.peek().is_none() {
            return out.join(" ");
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            // Not a pair: kept as it was, for the parser to refuse with its own words.
            out.push(key);
            if chars.peek().is_none() {
                return out.join(" ");
            }
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        if let Some(v) = f(&key, value) {
            out.push(format!("{key}={v}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_options_are_read_and_taken_out() {
        assert_eq!(
            tls_options(
                "postgres://sw@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5"
            ),
            (
                "postgres://sw@db/x?sslmode=require&connect_timeout=5".into(),
                Some("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            tls_options(r"host=db sslmode=verify-ca sslrootcert='/a dir/ca.pem' user=sw"),
            (
                "host=db sslmode=require user=sw".into(),
                Some("/a dir/ca.pem".into())
            )
        );
        assert_eq!(
            tls_options("postgres://sw@db/x"),
            ("postgres://sw@db/x".into(), None)
        );
        // What it parses back to is what was meant.
        let (text, _) = tls_options(r"host=db options='-c x=1' sslrootcert=/ca");
        let config: tokio_postgres::Config = text.parse().expect("parses");
        assert_eq!(config.get_options(), Some("-c x=1"));
    }

    #[test]
    fn an_unreadable_root_certificate_says_what_is_wanted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate").expect("write");
        let err = tls(Some(&empty)).err().expect("refused");
        assert!(err.contains("certificate authority"), "{err}");
        let err = tls(Some(&dir.path().join("missing.pem")))
            .err()
            .expect("refused");
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://sw:hunter2@db.internal:5432/switchboard?sslmode=require"),
            "postgres://sw:***@db.internal:5432/switchboard?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://sw@db/x?password=hunter2&sslmode=prefer"),
            "postgresql://sw@db/x?password=***&sslmode=prefer"
        );
        assert_eq!(
            redact("host=db user=sw password=hunter2 dbname=x"),
            "host=db user=sw password=*** dbname=x"
        );
        assert_eq!(
            redact(r"host=db password = 'hunter 2 \' x' dbname=x"),
            "host=db password=*** dbname=x"
        );
        assert!(!redact("postgres://sw:hunter2@[::1:5432/x").contains("hunter2"));
        assert_eq!(
            redact("postgres://sw@db/x"),
            "postgres://sw@db/x",
            "nothing to hide"
        );
    }
}
