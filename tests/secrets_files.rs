//! Files that hold secrets are private even when they existed before switchboard opened them
//! (a restore, a copy made with a loose umask), and the vault key is only read from a regular
//! file of our own.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::mode;
use switchboard::store::{KeySource, Store, Vault};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The state `status` leaves behind, then loosened the way a `cp` or restore would.
#[test]
fn an_existing_database_log_and_data_dir_are_tightened() {
    let mut s = cli::Session::new("");
    s.expect(&["status", "--json"], 0);
    let db = s.data_dir.join("switchboard.db");
    let log = cli::log_files(&s.data_dir)
        .pop()
        .expect("status starts a log");
    assert!(db.exists() && log.exists(), "status creates both");
    chmod(&db, 0o644);
    chmod(&log, 0o644);
    chmod(&s.data_dir, 0o755);

    s.expect(&["status", "--json"], 0);

    assert_eq!(mode(&db), 0o600, "database");
    assert_eq!(mode(&log), 0o600, "log");
    assert_eq!(mode(&s.data_dir), 0o700, "data directory");
}

/// Side files exist while another process has the store open; a second process (here a second
/// `Store`) tightens them too, so SQLite never keeps writing pages into a 0644 `-wal`.
#[test]
fn wal_and_shm_left_open_to_others_are_tightened_by_the_next_open() {
    let (_tmp, dir) = support::data_dir();
    let vault = || Vault::from_key(&[7; 32], KeySource::Env);
    let first = Store::open_with_vault(&dir, vault()).expect("first store");
    let files = ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"];
    for f in files {
        let path = dir.join(f);
        assert!(path.exists(), "{f} exists while the store is open");
        chmod(&path, 0o644);
    }
    let _second = Store::open_with_vault(&dir, vault()).expect("second store");
    for f in files {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    drop(first);
}

/// A key file that is a link elsewhere is refused with a message saying what to do; the
/// old code read through the link (a key someone else can replace or read).
#[test]
fn a_symlinked_key_file_is_refused() {
    let mut s = cli::Session::new("");
    std::fs::create_dir_all(&s.data_dir).expect("data dir");
    chmod(&s.data_dir, 0o700);
    let elsewhere = s.dir.path().join("elsewhere.key");
    std::fs::write(&elsewhere, [9u8; 32]).expect("key");
    chmod(&elsewhere, 0o600);
    std::os::unix::fs::symlink(&elsewhere, s.data_dir.join("vault.key")).expect("symlink");

    let run = s.run(&["status", "--json"]);

    assert_ne!(run.code, 0, "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(
        run.stderr.contains("vault.key") && run.stderr.contains("symbolic link"),
        "{run}"
    );
    assert!(
        run.stderr.contains("replace the link") || run.stderr.contains("SWITCHBOARD_KEY"),
        "says what to do: {run}"
    );
}

/// A key file readable by others is ours and is tightened (with a warning in the log), not
/// refused: refusing would stop every token of a restored install.
#[test]
fn a_key_file_readable_by_others_is_tightened() {
    let mut s = cli::Session::new("");
    s.expect(&["status", "--json"], 0);
    let key = s.data_dir.join("vault.key");
    chmod(&key, 0o644);

    s.expect(&["status", "--json"], 0);

    assert_eq!(mode(&key), 0o600);
    let log = cli::log_text(&s.data_dir);
    assert!(
        log.contains("vault.key was mode 0644") && log.contains("tightened to 0600"),
        "{log}"
    );
}

/// A key file owned by another user could have been planted to read what we encrypt. Making
/// one needs root (chown); as root the test builds it, as anyone else it reads a root-owned
/// file through the same check.
#[test]
fn a_key_file_owned_by_another_user_is_refused() {
    let (_tmp, dir) = support::data_dir();
    std::fs::create_dir_all(&dir).expect("data dir");
    let key = dir.join("vault.key");
    std::fs::write(&key, [9u8; 32]).expect("key");
    chmod(&key, 0o600);
    if std::os::unix::fs::chown(&key, Some(65534), Some(65534)).is_ok() {
        let err = Vault::open(&dir, None, None).expect_err("a foreign key file");
        let shown = err.to_string();
        assert!(
            shown.contains("owned by user id 65534") && shown.contains("chown"),
            "{shown}"
        );
    } else {
        use switchboard::store::private::{OpenError, Untrusted, open_owned};
        assert!(matches!(
            open_owned(Path::new("/etc/passwd")),
            Err(OpenError::Untrusted(Untrusted::Foreign { owner: 0, .. }))
        ));
    }
}
