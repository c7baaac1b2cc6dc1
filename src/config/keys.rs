//! private_key_jwt keys: which keys go together (`rules`, run by `validate`), then the key
//! itself, read (from `private_key_file` or `private_key`) and checked when the config loads: a missing, unreadable or malformed key, or one whose algorithm is not the
//! `private_key_alg` stated, is a located config error now rather than a refused token request
//! at 3 a.m. Errors name the file or the key, never a byte of the key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::locate::{KeyPath, Located};
use super::schema::{AuthConfig, AuthType, Config, TokenAuthMethod};
use crate::auth::client_assertion::{ClientKey, SigningKey};
use crate::secret::Secret;

pub(crate) fn load(
    config: &mut Config,
    root: &super::Doc<'_>,
    source: Option<&Path>,
) -> Result<(), Located> {
    for (i, c) in config.connectors.iter_mut().enumerate() {
        // A connector waiting for `${VAR}` is already "not configured"; its key is read once
        // the variable is set.
        if c.auth.token_auth_method != Some(TokenAuthMethod::PrivateKeyJwt) || !c.is_configured() {
            continue;
        }
        let err = |key: &str, message: String| {
            let path = KeyPath::connector(i, key);
            Located::at(root.get(), path.clone(), &path, message)
        };
        let (pem, what, key) = match (&c.auth.private_key, &c.auth.private_key_file) {
            (Some(pem), _) => (pem.clone(), "private_key".to_string(), "auth.private_key"),
            (None, Some(file)) => {
                let path = relative_to(file, source);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    err(
                        "auth.private_key_file",
                        format!(
                            "cannot read private_key_file {} ({e}); check the path (a relative one is relative to the config file) and that this user may read it",
                            path.display()
                        ),
                    )
                })?;
                (
                    Secret::from(text),
                    format!("private_key_file {}", path.display()),
                    "auth.private_key_file",
                )
            }
            // `validate` already refused a private_key_jwt connector without a key.
            (None, None) => continue,
        };
        let signing = SigningKey::from_pem(pem.expose(), &what).map_err(|f| err(key, f.message))?;
        if let Some(alg) = c.auth.private_key_alg
            && alg.as_str() != signing.alg()
        {
            return Err(err(
                "auth.private_key_alg",
                format!(
                    "private_key_alg is {} but the key is a {} key; set private_key_alg = \"{}\" or give a {} key",
                    alg.as_str(),
                    signing.alg(),
                    signing.alg(),
                    alg.as_str()
                ),
            ));
        }
        c.auth.client_key = Some(Arc::new(ClientKey {
            key: signing,
            kid: c.auth.private_key_id.clone(),
            audience: c.auth.assertion_audience.clone(),
        }));
    }
    Ok(())
}

/// `file` as written, or beside the config file when relative.
fn relative_to(file: &str, config: Option<&Path>) -> PathBuf {
    let path = Path::new(file);
    match config.and_then(Path::parent) {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// An error about a key, shown at an anchor key: what `validate`'s `Check::err` takes.
pub(crate) type Rule = (String, String, String);

fn rule(key: &str, anchor: &str, message: String) -> Rule {
    (key.to_string(), anchor.to_string(), message)
}

/// private_key_jwt's keys: exactly one key source with it, none without it. Reading and
/// checking the key itself is [`load`]'s.
pub(crate) fn rules(a: &AuthConfig) -> Result<(), Rule> {
    let signs = a.token_auth_method == Some(TokenAuthMethod::PrivateKeyJwt);
    let set = [
        ("private_key", a.private_key.is_some()),
        ("private_key_file", a.private_key_file.is_some()),
        ("private_key_alg", a.private_key_alg.is_some()),
        ("private_key_id", a.private_key_id.is_some()),
        ("assertion_audience", a.assertion_audience.is_some()),
    ];
    if !signs {
        if let Some((key, _)) = set.iter().find(|(_, is)| *is) {
            return Err(rule(
                &format!("auth.{key}"),
                &format!("auth.{key}"),
                format!(
                    "{key} is only used with token_auth_method = \"private_key_jwt\"; add that or remove {key}"
                ),
            ));
        }
        return Ok(());
    }
    if a.client_secret.is_some() {
        return Err(rule(
            "auth.client_secret",
            "auth.client_secret",
            // Shown at a secret's key, where quoted text is hidden: no quotes.
            "token_auth_method private_key_jwt sends no secret, it signs; remove client_secret"
                .into(),
        ));
    }
    if a.kind == AuthType::Bearer || a.kind == AuthType::None {
        return Err(rule(
            "auth.token_auth_method",
            "auth.token_auth_method",
            format!(
                "token_auth_method is for OAuth types; type = \"{}\" requests no tokens",
                a.kind.as_str()
            ),
        ));
    }
    match (&a.private_key, &a.private_key_file) {
        (Some(_), Some(_)) => Err(rule(
            "auth.private_key_file",
            "auth.private_key_file",
            "set private_key or private_key_file, not both".into(),
        )),
        (None, None) => Err(rule(
            "auth.private_key_file",
            "auth.token_auth_method",
            "token_auth_method = \"private_key_jwt\" needs the key: private_key_file = \"client.pem\" or private_key = \"${VAR}\"".into(),
        )),
        _ => Ok(()),
    }
}
