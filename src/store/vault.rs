//! Encryption at rest for tokens. XChaCha20-Poly1305 with a random 192-bit nonce per write, and
//! the connection key as associated data so a sealed blob cannot be moved to another row.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use super::vault_key::{self, KEYRING_ENV, KeyStore};

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
    #[error("the vault key {path} {advice}")]
    KeyFileUntrusted { path: PathBuf, advice: String },
    #[error(
        "the vault key {path} is not 32 bytes; restore it from backup or remove it and re-authorize every connection"
    )]
    KeyFileCorrupt { path: PathBuf },
    #[error(
        "a stored token cannot be decrypted: the vault key changed or the database was copied from another machine; re-authorize the connection"
    )]
    Decrypt,
    #[error(
        "the vault key is in the OS keyring (entry {entry}), which does not answer in this session ({reason}); unlock it, or run where it is available, or set {KEY_ENV}"
    )]
    KeyringUnavailable { entry: KeyringEntry, reason: String },
    #[error(
        "the vault key should be in the OS keyring (entry {entry}, as {marker} records), but the keyring has no such entry; unlock or restore the keyring that holds it, or set {KEY_ENV}; only if the key is lost for good, remove {marker} and re-authorize every connection"
    )]
    KeyringMissing {
        entry: KeyringEntry,
        marker: PathBuf,
    },
    #[error(
        "the OS keyring entry {entry} does not hold a 32-byte base64 vault key; restore it, or set {KEY_ENV}"
    )]
    KeyringCorrupt { entry: KeyringEntry },
    #[error(
        "the vault key is in the OS keyring (entry {entry}) but {KEYRING_ENV}=off; unset {KEYRING_ENV}, or set {KEY_ENV}"
    )]
    KeyringOff { entry: KeyringEntry },
    #[error(
        "cannot write {path}, which records that the vault key is in the OS keyring: {source}; check the data directory's owner and permissions"
    )]
    Marker {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An OS keyring entry: the service and user names it is stored under (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringEntry {
    pub service: String,
    pub user: String,
}

impl std::fmt::Display for KeyringEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\" of service \"{}\"", self.user, self.service)
    }
}

/// Where the key came from, for `status` and the log (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    Keyring(KeyringEntry),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "${KEY_ENV}"),
            KeySource::File(path) => write!(f, "file {}", tilde(path).display()),
            KeySource::Keyring(entry) => write!(f, "OS keyring, entry {entry}"),
        }
    }
}

/// `~/...` for paths under the home directory: shorter on screen, same meaning.
fn tilde(path: &Path) -> PathBuf {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => match path.strip_prefix(&home) {
            Ok(rest) => Path::new("~").join(rest),
            Err(_) => path.to_path_buf(),
        },
        None => path.to_path_buf(),
    }
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
    /// `SWITCHBOARD_KEY` when set, else `vault.key`, else the keyring (when given), else a new
    /// `vault.key`; see `vault_key` for the rules.
    pub fn open(
        data_dir: &Path,
        env_key: Option<&str>,
        keyring: Option<&dyn KeyStore>,
    ) -> Result<Vault, VaultError> {
        let (key, source) = vault_key::resolve(data_dir, env_key, keyring)?;
        Ok(Vault::from_key(&key, source))
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn debug_shows_where_the_key_came_from_and_never_the_key() {
        let v = Vault::from_key(&[0x42; 32], KeySource::Env);
        let shown = format!("{v:?}");
        assert!(
            shown.starts_with("Vault") && shown.contains("Env"),
            "{shown}"
        );
        assert!(!shown.contains("42") && !shown.contains("66"), "{shown}");
    }

    #[test]
    fn key_files_under_home_are_shown_with_a_tilde() {
        let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
            return;
        };
        let inside = Path::new(&home).join(".local/share/switchboard/vault.key");
        assert_eq!(
            tilde(&inside),
            Path::new("~/.local/share/switchboard/vault.key")
        );
        let outside = Path::new("/var/lib/switchboard/vault.key");
        assert_eq!(tilde(outside), outside);
    }

    #[test]
    fn short_or_foreign_blobs_are_refused_without_a_panic() {
        let v = Vault::from_key(&[7; 32], KeySource::Env);
        for blob in [
            vec![],
            vec![VERSION],
            vec![VERSION, 1, 2, 3],
            vec![VERSION; NONCE_LEN],
            vec![VERSION; NONCE_LEN + 1],
            vec![0xff; 64],
        ] {
            assert!(
                matches!(v.open_sealed("aad", &blob), Err(VaultError::Decrypt)),
                "{} bytes",
                blob.len()
            );
        }
    }

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
        let a = Vault::open(dir.path(), None, None).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Vault::open(dir.path(), None, None).unwrap();
        let sealed = a.seal("x", b"y");
        assert_eq!(b.open_sealed("x", &sealed).unwrap(), b"y");
    }

    #[test]
    fn env_key_accepts_hex_and_base64_and_rejects_junk() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "00".repeat(32);
        assert!(Vault::open(dir.path(), Some(&hex), None).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(Vault::open(dir.path(), Some(&b64), None).is_ok());
        assert!(matches!(
            Vault::open(dir.path(), Some("short"), None),
            Err(VaultError::BadEnvKey)
        ));
        assert!(!dir.path().join(KEY_FILE).exists());
    }
}
