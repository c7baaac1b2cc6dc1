//! Where the vault key comes from, in order: `SWITCHBOARD_KEY`, an existing `vault.key` file (so
//! existing installs keep their key), the OS keyring (read, or created there when the keyring
//! answers), and last a new `vault.key` file.
//!
//! A key in the keyring leaves a marker file (`vault.keyring`, no secret) in the data directory.
//! The marker is the safety latch: while it exists switchboard never makes a new key, because a
//! new key would orphan every stored token. A keyring that is locked, missing (an SSH session
//! without a D-Bus session bus) or hung is then an error the operator can act on.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::private::OpenError;
use super::vault::{KEY_FILE, KeySource, KeyringEntry, VaultError};

pub const MARKER_FILE: &str = "vault.keyring";
pub const KEYRING_SERVICE: &str = "switchboard";
/// `SWITCHBOARD_KEYRING=off` keeps the key in `vault.key` even where a keyring answers.
pub const KEYRING_ENV: &str = "SWITCHBOARD_KEYRING";
/// A keyring that has not answered by then is treated as absent (or, with a marker, an error).
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// A place that holds the vault key under a name: the OS keyring, or a fake in unit tests.
/// `Err` means the store did not answer (its reason, never a secret); `Ok(None)` no such entry.
pub trait KeyStore {
    fn get(&self, entry: &KeyringEntry) -> Result<Option<String>, String>;
    fn set(&self, entry: &KeyringEntry, secret: &str) -> Result<(), String>;
}

/// The platform's keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
/// Windows), every call bounded by a timeout.
pub struct OsKeyring {
    pub timeout: Duration,
}

impl KeyStore for OsKeyring {
    fn get(&self, entry: &KeyringEntry) -> Result<Option<String>, String> {
        let entry = entry.clone();
        bounded(self.timeout, move || {
            let e = keyring::Entry::new(&entry.service, &entry.user).map_err(|e| describe(&e))?;
            match e.get_password() {
                Ok(text) => Ok(Some(text)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(describe(&e)),
            }
        })
    }

    fn set(&self, entry: &KeyringEntry, secret: &str) -> Result<(), String> {
        let entry = entry.clone();
        let secret = secret.to_owned();
        bounded(self.timeout, move || {
            let e = keyring::Entry::new(&entry.service, &entry.user).map_err(|e| describe(&e))?;
            e.set_password(&secret).map_err(|e| describe(&e))
        })
    }
}

/// keyring's own Display, except where it would list matching items.
fn describe(e: &keyring::Error) -> String {
    match e {
        keyring::Error::Ambiguous(items) => format!("{} keyring items match", items.len()),
        keyring::Error::BadEncoding(_) => "the keyring item is not UTF-8".into(),
        other => other.to_string(),
    }
}

/// Runs `f` on its own thread and gives up waiting after `timeout`: a keyring daemon that hangs
/// (a locked collection prompting on a screen nobody sees) must not hang switchboard. The thread
/// is left to finish or die with the process.
pub fn bounded<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("switchboard-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start a thread to ask the keyring: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "it did not answer within {}",
            humantime::format_duration(timeout)
        )),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err("the keyring call ended without an answer".into())
        }
    }
}

/// What `vault.keyring` records: which entry holds the key (so a moved data directory still
/// finds it) and when it was made. Never the key.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    service: String,
    user: String,
    created: String,
}

const MARKER_HEADER: &str = "\
# switchboard keeps this data directory's vault key in the OS keyring, in the entry below.
# No secret here. Keep this file: without it, where the keyring does not answer, switchboard
# would make a new key and could no longer decrypt the stored tokens.
";

impl KeyringEntry {
    /// One entry per data directory, named by its canonical path.
    pub fn for_data_dir(data_dir: &Path) -> KeyringEntry {
        let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        KeyringEntry {
            service: KEYRING_SERVICE.into(),
            user: format!("vault-key:{}", dir.display()),
        }
    }
}

/// The key and where it came from, in the order the module doc gives. `keyring` is `None` when
/// the keyring is switched off.
pub fn resolve(
    data_dir: &Path,
    env_key: Option<&str>,
    keyring: Option<&dyn KeyStore>,
) -> Result<([u8; 32], KeySource), VaultError> {
    if let Some(text) = env_key {
        let key = decode_key(text).ok_or(VaultError::BadEnvKey)?;
        return Ok((key, KeySource::Env));
    }
    // Two processes starting together must not both create a key (in the keyring there is no
    // create-if-absent); the lock on the directory serialises the first start.
    let _lock = lock_dir(data_dir);
    let file = data_dir.join(KEY_FILE);
    match std::fs::symlink_metadata(&file) {
        Ok(_) => return Ok((load_or_create_key_file(&file)?, KeySource::File(file))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(VaultError::KeyFile { path: file, source }),
    }
    let marker_path = data_dir.join(MARKER_FILE);
    // Anything but "not there" counts as there: an unreadable marker must still stop a new key.
    let marker_exists = !matches!(std::fs::symlink_metadata(&marker_path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if marker_exists {
        let entry = read_marker(&marker_path).unwrap_or_else(|| {
            tracing::warn!(marker = %marker_path.display(), "the keyring marker is unreadable; using this directory's entry name");
            KeyringEntry::for_data_dir(data_dir)
        });
        let Some(store) = keyring else {
            return Err(VaultError::KeyringOff { entry });
        };
        return match store.get(&entry) {
            Ok(Some(text)) => match decode_key(&text) {
                Some(key) => Ok((key, KeySource::Keyring(entry))),
                None => Err(VaultError::KeyringCorrupt { entry }),
            },
            Ok(None) => Err(VaultError::KeyringMissing {
                entry,
                marker: marker_path,
            }),
            Err(reason) => Err(VaultError::KeyringUnavailable { entry, reason }),
        };
    }
    if let Some(store) = keyring {
        let entry = KeyringEntry::for_data_dir(data_dir);
        if let Some(key) = key_in_new_keyring_entry(store, &entry, &marker_path)? {
            return Ok((key, KeySource::Keyring(entry)));
        }
    }
    Ok((load_or_create_key_file(&file)?, KeySource::File(file)))
}

/// No key file and no marker: use the keyring if it answers. `None` sends the caller on to the
/// key file; nothing depends on the keyring yet, so any doubt falls back there.
fn key_in_new_keyring_entry(
    store: &dyn KeyStore,
    entry: &KeyringEntry,
    marker_path: &Path,
) -> Result<Option<[u8; 32]>, VaultError> {
    let key = match store.get(entry) {
        // Stored by a run that stopped before writing the marker, or for an earlier directory of
        // the same path: either way no token uses another key.
        Ok(Some(text)) => match decode_key(&text) {
            Some(key) => key,
            None => {
                tracing::warn!(%entry, "the keyring entry is not a vault key; using a key file");
                return Ok(None);
            }
        },
        Ok(None) => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let text = base64::engine::general_purpose::STANDARD.encode(key);
            if let Err(reason) = store.set(entry, &text) {
                tracing::info!(%entry, %reason, "cannot store the vault key in the OS keyring; using a key file");
                return Ok(None);
            }
            // Read it back: the marker must only ever point at a key the keyring really holds.
            match store.get(entry) {
                Ok(Some(back)) if decode_key(&back) == Some(key) => key,
                Ok(_) => {
                    tracing::warn!(%entry, "the OS keyring did not keep the vault key; using a key file");
                    return Ok(None);
                }
                Err(reason) => {
                    tracing::info!(%entry, %reason, "the OS keyring stopped answering; using a key file");
                    return Ok(None);
                }
            }
        }
        Err(reason) => {
            tracing::info!(%reason, "no OS keyring answers; the vault key goes to a key file");
            return Ok(None);
        }
    };
    // Marker after the key is safely stored: a crash in between leaves an entry without marker,
    // which the next start adopts (above) instead of an unreachable key behind a marker.
    write_marker(marker_path, entry)?;
    tracing::info!(%entry, "the vault key is in the OS keyring");
    Ok(Some(key))
}

fn read_marker(path: &Path) -> Option<KeyringEntry> {
    let text = std::fs::read_to_string(path).ok()?;
    let m: Marker = toml::from_str(&text).ok()?;
    Some(KeyringEntry {
        service: m.service,
        user: m.user,
    })
}

fn write_marker(path: &Path, entry: &KeyringEntry) -> Result<(), VaultError> {
    let err = |source| VaultError::Marker {
        path: path.to_path_buf(),
        source,
    };
    let marker = Marker {
        service: entry.service.clone(),
        user: entry.user.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let body = toml::to_string(&marker).map_err(|e| {
        err(std::io::Error::other(format!(
            "cannot encode the marker: {e}"
        )))
    })?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    file.write_all(format!("{MARKER_HEADER}{body}").as_bytes())
        .map_err(err)?;
    file.sync_all().map_err(err)
}

/// An advisory lock on the data directory, released on drop. Without one (a filesystem that
/// cannot lock) the start goes on: the race it guards is two first starts at the same instant.
fn lock_dir(dir: &Path) -> Option<std::fs::File> {
    let handle = std::fs::File::open(dir).ok()?;
    match handle.lock() {
        Ok(()) => Some(handle),
        Err(e) => {
            tracing::debug!(error = %e, "cannot lock the data directory for key creation");
            None
        }
    }
}

pub(super) fn decode_key(text: &str) -> Option<[u8; 32]> {
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

pub(super) fn load_or_create_key_file(path: &Path) -> Result<[u8; 32], VaultError> {
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
    let mut file = super::private::open_owned(path).map_err(|e| match e {
        OpenError::Io(source) => err(source),
        OpenError::Untrusted(why) => VaultError::KeyFileUntrusted {
            path: path.to_path_buf(),
            advice: why.advice(),
        },
    })?;
    // A loose mode is tightened with a warning rather than refused: the file is ours, refusing
    // would stop every token on a restored install, and the exposure (if any) already happened.
    super::warn_tightened(path, super::private::tighten(&file).map_err(err)?);
    let mut buf = Vec::with_capacity(32);
    file.read_to_end(&mut buf).map_err(err)?;
    if buf.is_empty() {
        // The creator may be between create and write; give it a moment once.
        std::thread::sleep(std::time::Duration::from_millis(50));
        file.read_to_end(&mut buf).map_err(err)?;
    }
    buf.try_into().map_err(|_| VaultError::KeyFileCorrupt {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
#[path = "vault_key_tests.rs"]
mod tests;
