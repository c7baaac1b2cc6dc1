//! private_key_jwt keys, read (from `private_key_file` or `private_key`) and checked when the
//! config loads: a missing, unreadable or malformed key, or one whose algorithm is not the
//! `private_key_alg` stated, is a located config error now rather than a refused token request
//! at 3 a.m. Errors name the file or the key, never a byte of the key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::de::DeTable;

use super::locate::{KeyPath, Located};
use super::schema::{Config, TokenAuthMethod};
use crate::auth::client_assertion::{ClientKey, SigningKey};
use crate::secret::Secret;

pub(crate) fn load(
    config: &mut Config,
    root: &DeTable<'_>,
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
            Located::at(root, path.clone(), &path, message)
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
