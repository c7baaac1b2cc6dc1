//! Encryption at rest for tokens. XChaCha20-Poly1305 with a random 192-bit nonce per write, and
//! the connection key as associated data so a sealed blob cannot be moved to another row.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
pub const KEY_FILE: &str = "vault.key";
pub const KEY_ENV: &str = "SWITCHBOARD_KEY";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "{KEY_ENV} must be 32 bytes as base64 or 64 hex characters; generate one with `openssl rand -base64 32`"
    )]
    BadEnvKey,
    #[error("cannot read the vault key {path}: {source}; check its owner and permissions (0600)")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the vault key {path} is not 32 bytes; restore it from backup or remove it and re-authorize every connection"
    )]
    KeyFileCorrupt { path: PathBuf },
    #[error(
        "a stored token cannot be decrypted: the vault key changed or the database was copied from another machine; re-authorize the connection"
    )]
    Decrypt,
}

/// Where the key came from, for `status` and the log (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

pub struct Vault {
    cipher: XChaCha20Poly1305,
    pub source: KeySource,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// `SWITCHBOARD_KEY` when set, else the key file in the data directory (created on first use).
    pub fn open(data_dir: &Path, env_key: Option<&str>) -> Result<Vault, VaultError> {
        if let Some(text) = env_key {
            let key = decode_key(text).ok_or(VaultError::BadEnvKey)?;
            return Ok(Vault::from_key(&key, KeySource::Env));
        }
        let path = data_dir.join(KEY_FILE);
        let key = load_or_create_key_file(&path)?;
        Ok(Vault::from_key(&key, KeySource::File(path)))
    }

    pub fn from_key(key: &[u8; 32], source: KeySource) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(key.into()),
            source,
        }
    }

    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: aad.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail; an empty result would
        // simply fail to open later, which is reported as a decrypt error.
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open_sealed(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(VaultError::Decrypt);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Decrypt)
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .ok()?
    };
    bytes.try_into().ok()
}

fn load_or_create_key_file(path: &Path) -> Result<[u8; 32], VaultError> {
    let err = |source| VaultError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    // create_new + 0600 so the key is never readable by others, not even for an instant, and two
    // processes starting together cannot both write a key.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            file.write_all(&key).map_err(err)?;
            file.sync_all().map_err(err)?;
            return Ok(key);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e)),
    }
    let mut file = OpenOptions::new().read(true).open(path).map_err(err)?;
    let mut buf = Vec::with_capacity(32);
    file.read_to_end(&mut buf).map_err(err)?;
    if buf.is_empty() {
        // The creator may be between create and write; give it a moment once.
        std::thread::sleep(std::time::Duration::from_millis(50));
        buf = std::fs::read(path).map_err(err)?;
    }
    let mode = file.metadata().map_err(err)?.permissions().mode();
    if mode & 0o077 != 0 {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    buf.try_into().map_err(|_| VaultError::KeyFileCorrupt {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_to_aad() {
        let v = Vault::from_key(&[7u8; 32], KeySource::Env);
        let sealed = v.seal("jira/default", b"lab_at_secret");
        assert!(!sealed.windows(13).any(|w| w == b"lab_at_secret"));
        assert_eq!(
            v.open_sealed("jira/default", &sealed).unwrap(),
            b"lab_at_secret"
        );
        assert!(v.open_sealed("jira/alice", &sealed).is_err());
        let other = Vault::from_key(&[8u8; 32], KeySource::Env);
        assert!(other.open_sealed("jira/default", &sealed).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::open(dir.path(), None).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Vault::open(dir.path(), None).unwrap();
        let sealed = a.seal("x", b"y");
        assert_eq!(b.open_sealed("x", &sealed).unwrap(), b"y");
    }

    #[test]
    fn env_key_accepts_hex_and_base64_and_rejects_junk() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "00".repeat(32);
        assert!(Vault::open(dir.path(), Some(&hex)).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(Vault::open(dir.path(), Some(&b64)).is_ok());
        assert!(matches!(
            Vault::open(dir.path(), Some("short")),
            Err(VaultError::BadEnvKey)
        ));
        assert!(!dir.path().join(KEY_FILE).exists());
    }
}
