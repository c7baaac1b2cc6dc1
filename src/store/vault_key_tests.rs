//! The order of key sources and the marker's safety latch, against an in-process keyring.
//! tests/keyring.rs runs the same rules through the binary against a real Secret Service.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::*;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Answers,
    /// Like an SSH session without a session bus.
    Down,
    /// Accepts writes and keeps nothing.
    Forgets,
}

struct FakeKeyring {
    mode: Mode,
    entries: Mutex<HashMap<String, String>>,
    calls: Mutex<usize>,
}

impl FakeKeyring {
    fn new(mode: Mode) -> FakeKeyring {
        FakeKeyring {
            mode,
            entries: Mutex::new(HashMap::new()),
            calls: Mutex::new(0),
        }
    }
    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
    fn stored(&self, entry: &KeyringEntry) -> Option<String> {
        self.entries.lock().unwrap().get(&entry.user).cloned()
    }
    fn put(&self, user: &str, text: &str) {
        self.entries
            .lock()
            .unwrap()
            .insert(user.to_owned(), text.to_owned());
    }
}

impl KeyStore for FakeKeyring {
    fn get(&self, entry: &KeyringEntry) -> Result<Option<String>, String> {
        *self.calls.lock().unwrap() += 1;
        match self.mode {
            Mode::Down => Err("no session bus".into()),
            _ => Ok(self.stored(entry)),
        }
    }
    fn set(&self, entry: &KeyringEntry, secret: &str) -> Result<(), String> {
        *self.calls.lock().unwrap() += 1;
        match self.mode {
            Mode::Down => Err("no session bus".into()),
            Mode::Forgets => Ok(()),
            Mode::Answers => {
                self.put(&entry.user, secret);
                Ok(())
            }
        }
    }
}

fn b64(key: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn has(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

#[test]
fn env_key_wins_and_touches_neither_file_nor_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let ring = FakeKeyring::new(Mode::Answers);
    let (key, source) = resolve(dir.path(), Some(&b64(&[5; 32])), Some(&ring)).unwrap();
    assert_eq!((key, source), ([5; 32], KeySource::Env));
    assert_eq!(ring.calls(), 0);
    assert!(!has(dir.path(), KEY_FILE) && !has(dir.path(), MARKER_FILE));
}

#[test]
fn an_existing_key_file_keeps_being_used_and_the_keyring_is_not_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = resolve(dir.path(), None, None).unwrap();
    let ring = FakeKeyring::new(Mode::Answers);
    let (key, source) = resolve(dir.path(), None, Some(&ring)).unwrap();
    assert_eq!(key, first);
    assert_eq!(source, KeySource::File(dir.path().join(KEY_FILE)));
    assert_eq!(ring.calls(), 0);
    assert!(!has(dir.path(), MARKER_FILE));
}

#[test]
fn a_new_key_goes_to_an_answering_keyring_with_a_marker_and_no_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let ring = FakeKeyring::new(Mode::Answers);
    let (key, source) = resolve(dir.path(), None, Some(&ring)).unwrap();
    let entry = KeyringEntry::for_data_dir(dir.path());
    assert_eq!(source, KeySource::Keyring(entry.clone()));
    assert!(entry.user.starts_with("vault-key:/"), "{entry}");
    assert_eq!(ring.stored(&entry), Some(b64(&key)));
    assert!(!has(dir.path(), KEY_FILE));

    let marker_path = dir.path().join(MARKER_FILE);
    let marker = std::fs::read_to_string(&marker_path).unwrap();
    assert!(
        marker.contains(&entry.user) && marker.contains("created"),
        "{marker}"
    );
    assert!(!marker.contains(&b64(&key)), "the marker holds no secret");
    let mode = std::fs::metadata(&marker_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (again, source) = resolve(dir.path(), None, Some(&ring)).unwrap();
    assert_eq!((again, source), (key, KeySource::Keyring(entry)));
}

#[test]
fn two_data_dirs_get_two_entries_and_two_keys() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ring = FakeKeyring::new(Mode::Answers);
    let (ka, _) = resolve(a.path(), None, Some(&ring)).unwrap();
    let (kb, _) = resolve(b.path(), None, Some(&ring)).unwrap();
    assert_ne!(ka, kb);
    assert_eq!(ring.entries.lock().unwrap().len(), 2);
}

#[test]
fn with_a_marker_a_silent_keyring_is_an_error_and_no_new_key_is_made() {
    let dir = tempfile::tempdir().unwrap();
    resolve(dir.path(), None, Some(&FakeKeyring::new(Mode::Answers))).unwrap();

    let err = resolve(dir.path(), None, Some(&FakeKeyring::new(Mode::Down))).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, VaultError::KeyringUnavailable { .. }),
        "{text}"
    );
    assert!(
        text.contains("does not answer in this session") && text.contains("SWITCHBOARD_KEY"),
        "{text}"
    );
    assert!(text.contains("vault-key:/"), "names the entry: {text}");

    // A keyring that answers but lost the entry, or is switched off: the same refusal.
    let err = resolve(dir.path(), None, Some(&FakeKeyring::new(Mode::Answers))).unwrap_err();
    assert!(matches!(err, VaultError::KeyringMissing { .. }), "{err}");
    let err = resolve(dir.path(), None, None).unwrap_err();
    assert!(matches!(err, VaultError::KeyringOff { .. }), "{err}");
    assert!(err.to_string().contains("SWITCHBOARD_KEYRING=off"), "{err}");
    assert!(!has(dir.path(), KEY_FILE), "no key file was created");
}

#[test]
fn without_a_keyring_the_key_file_is_created_as_before() {
    for ring in [
        FakeKeyring::new(Mode::Down),
        FakeKeyring::new(Mode::Forgets),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = resolve(dir.path(), None, Some(&ring)).unwrap();
        assert_eq!(source, KeySource::File(dir.path().join(KEY_FILE)));
        assert!(!has(dir.path(), MARKER_FILE));
        let (again, _) = resolve(dir.path(), None, None).unwrap();
        assert_eq!(key, again);
    }
}

#[test]
fn an_entry_left_without_its_marker_is_adopted() {
    // A start that stored the key and stopped before writing the marker.
    let dir = tempfile::tempdir().unwrap();
    let ring = FakeKeyring::new(Mode::Answers);
    let entry = KeyringEntry::for_data_dir(dir.path());
    ring.put(&entry.user, &b64(&[9; 32]));
    let (key, source) = resolve(dir.path(), None, Some(&ring)).unwrap();
    assert_eq!((key, source), ([9; 32], KeySource::Keyring(entry)));
    assert!(has(dir.path(), MARKER_FILE));
}

#[test]
fn the_marker_names_the_entry_so_a_moved_directory_finds_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let ring = FakeKeyring::new(Mode::Answers);
    let old = KeyringEntry {
        service: KEYRING_SERVICE.into(),
        user: "vault-key:/where/it/was".into(),
    };
    ring.put(&old.user, &b64(&[3; 32]));
    write_marker(&dir.path().join(MARKER_FILE), &old).unwrap();
    let (key, source) = resolve(dir.path(), None, Some(&ring)).unwrap();
    assert_eq!((key, source), ([3; 32], KeySource::Keyring(old)));
}

#[test]
fn a_hung_keyring_call_gives_up_at_the_timeout() {
    let started = Instant::now();
    let result: Result<(), String> = bounded(Duration::from_millis(200), || {
        std::thread::sleep(Duration::from_secs(30));
        Ok(())
    });
    let err = result.unwrap_err();
    assert!(err.contains("did not answer within"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A key file that cannot even be looked at is an error, never "absent": treating it as absent
/// would make a new key (or ask the keyring for one) and orphan every stored token.
#[test]
fn a_key_file_that_cannot_be_looked_at_is_an_error_not_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the data directory should be: stat of `vault.key` under it fails
    // with "not a directory", not "not found".
    let not_a_dir = dir.path().join("data");
    std::fs::write(&not_a_dir, b"").unwrap();
    let ring = FakeKeyring::new(Mode::Answers);
    let err = resolve(&not_a_dir, None, Some(&ring)).unwrap_err();
    assert!(matches!(err, VaultError::KeyFile { .. }), "{err}");
}
