//! The vault key in a real OS keyring: the real binary against gnome-keyring's Secret Service on
//! a private D-Bus session (`dbus-run-session`, one per test, HOME and XDG_RUNTIME_DIR in the
//! test's temporary directory so no one's own keyring is touched).
//!
//! Contract under test: with no key file and an answering keyring the key goes there, with a
//! `vault.keyring` marker and no `vault.key`; where the keyring does not answer, a data
//! directory with a marker is refused with a clear error and no new key; an existing key file
//! or `SWITCHBOARD_KEY` keeps the keyring out.

#[path = "support/keyring.rs"]
mod session;
#[path = "support/cli.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use session::{COMMAND_DEADLINE, KeyringSession, outside, show, switchboard};
use support::{BIN, KillOnDrop, parse_json};

/// `switchboard demo --headless` inside the session until it has authorized its fleet (every
/// OAuth token stored, sealed with the vault key), then `f` while it runs, then SIGTERM.
fn with_demo(session: &KeyringSession, data: &Path, f: impl FnOnce()) {
    let mut cmd = session.command(BIN);
    cmd.arg("--data-dir")
        .arg(data)
        .args(["demo", "--headless", "--revoke-after", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut demo: Child = cmd.spawn().expect("start the demo");
    let stdout = demo.stdout.take().expect("piped stdout");
    let mut demo = KillOnDrop(demo);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(COMMAND_DEADLINE)
        .unwrap_or_else(|_| panic!("the demo did not start within {COMMAND_DEADLINE:?}"));
    assert!(line.starts_with("switchboard demo:"), "demo said {line:?}");
    f();
    let _ = Command::new("kill")
        .args(["-TERM", &demo.0.id().to_string()])
        .status();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = demo.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the demo ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = demo.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "demo exited {status:?}: {stderr}");
}

#[test]
fn the_key_lives_in_the_keyring_and_a_session_without_it_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let config = data.join("config.toml");
    let session = KeyringSession::start(root.path());

    with_demo(&session, &data, || {
        // A second process decrypts the demo's refresh token with the key from the keyring.
        let out = switchboard(
            session.command(BIN),
            &data,
            &config,
            &["refresh", "lab-mcp"],
        );
        assert!(out.status.success(), "{}", show(&out));
    });

    let out = switchboard(session.command(BIN), &data, &config, &["status"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("vault key: OS keyring"), "{}", show(&out));
    assert!(first.contains("vault-key:/"), "names the entry: {first}");
    assert!(stdout.contains("lab-mcp"), "{}", show(&out));
    // JSON keeps its shape: an array of connections, nothing about the key.
    let out = switchboard(session.command(BIN), &data, &config, &["status", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let rows = parse_json(&String::from_utf8_lossy(&out.stdout));
    let rows = rows.as_array().expect("status --json is an array");
    assert!(
        rows.iter()
            .any(|r| r["connection"] == "lab-mcp" && r["expires_at"].is_string()),
        "{rows:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("vault"));

    assert!(
        !data.join("vault.key").exists(),
        "no key file beside a keyring key"
    );
    let marker_path = data.join("vault.keyring");
    let marker = std::fs::read_to_string(&marker_path).expect("the marker exists");
    assert!(
        marker.contains("vault-key:") && marker.contains("created"),
        "{marker}"
    );
    let mode = std::fs::metadata(&marker_path)
        .expect("marker")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The real keyring holds a 32-byte key, and the marker does not.
    let found = session.lookup(&data);
    assert!(found.status.success(), "secret-tool: {}", show(&found));
    let text = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    let key = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .expect("the entry is base64");
    assert_eq!(key.len(), 32);
    assert!(!marker.contains(&text));

    // Where no keyring answers: a clear refusal, quickly, and no new key.
    let started = Instant::now();
    let out = switchboard(outside(BIN, root.path()), &data, &config, &["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the vault key is in the OS keyring (entry")
            && stderr.contains("which does not answer in this session")
            && stderr.contains("set SWITCHBOARD_KEY"),
        "{}",
        show(&out)
    );
    assert!(!stderr.contains(&text), "the key is never printed");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(!data.join("vault.key").exists(), "no new key was created");

    // SWITCHBOARD_KEYRING=off cannot paper over it either.
    let mut off = session.command(BIN);
    off.env("SWITCHBOARD_KEYRING", "off");
    let out = switchboard(off, &data, &config, &["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // Back in the session, the same key still opens the same tokens.
    let out = switchboard(session.command(BIN), &data, &config, &["status"]);
    assert!(out.status.success(), "{}", show(&out));
    let found = session.lookup(&data);
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        text,
        "the key was kept"
    );
    assert!(!data.join("vault.key").exists());
}

/// A config with nothing to authorize: enough for `status` to open the store.
fn plain_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    let mut f = std::fs::File::create(&path).expect("config");
    f.write_all(
        b"[[connectors]]\nid = \"plain\"\nkind = \"rest\"\n[connectors.rest]\n\
          base_url = \"http://127.0.0.1:9/api\"\nhealth_path = \"/me\"\n",
    )
    .expect("write config");
    path
}

#[test]
fn an_existing_key_file_or_env_key_keeps_the_keyring_out() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = plain_config(root.path());
    let session = KeyringSession::start(root.path());

    // An install from before the keyring: its key file stays the key.
    let old = root.path().join("old");
    std::fs::create_dir_all(&old).expect("mkdir");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let key_file = old.join("vault.key");
    std::fs::write(&key_file, [7u8; 32]).expect("key file");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = switchboard(session.command(BIN), &old, &config, &["status"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("vault key: file {}", key_file.display())),
        "{}",
        show(&out)
    );
    assert!(!old.join("vault.keyring").exists());
    assert_eq!(std::fs::read(&key_file).expect("key file"), [7u8; 32]);
    assert!(!session.lookup(&old).status.success(), "no keyring entry");

    // SWITCHBOARD_KEY: neither file nor keyring.
    let env = root.path().join("env");
    let mut cmd = session.command(BIN);
    cmd.env(
        "SWITCHBOARD_KEY",
        base64::engine::general_purpose::STANDARD.encode([8u8; 32]),
    );
    let out = switchboard(cmd, &env, &config, &["status"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("vault key: $SWITCHBOARD_KEY"),
        "{}",
        show(&out)
    );
    assert!(!env.join("vault.key").exists() && !env.join("vault.keyring").exists());
    assert!(!session.lookup(&env).status.success(), "no keyring entry");

    // And a fresh directory in the same session does use the keyring: the two above were not
    // just a keyring that failed.
    let fresh = root.path().join("fresh");
    let out = switchboard(session.command(BIN), &fresh, &config, &["status"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("vault key: OS keyring"),
        "{}",
        show(&out)
    );
    assert!(fresh.join("vault.keyring").exists() && !fresh.join("vault.key").exists());
    assert!(session.lookup(&fresh).status.success());
}

#[test]
fn a_keyring_that_hangs_does_not_hang_switchboard() {
    // A "session bus" that accepts connections and never says a word.
    let root = tempfile::tempdir().expect("tempdir");
    let config = plain_config(root.path());
    let socket = root.path().join("silent-bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let hung = |data: &Path| {
        let mut cmd = outside(BIN, root.path());
        cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        );
        let started = Instant::now();
        let out = switchboard(cmd, data, &config, &["status"]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
        out
    };

    // Nothing depends on the keyring yet: the key goes to a file.
    let fresh = root.path().join("fresh");
    let out = hung(&fresh);
    assert!(out.status.success(), "{}", show(&out));
    assert!(fresh.join("vault.key").exists() && !fresh.join("vault.keyring").exists());

    // A directory whose key is in the keyring: refused, saying so, and no key made.
    let marked = root.path().join("marked");
    std::fs::create_dir_all(&marked).expect("mkdir");
    std::fs::write(
        marked.join("vault.keyring"),
        "service = \"switchboard\"\nuser = \"vault-key:/elsewhere\"\ncreated = \"2026-01-01T00:00:00Z\"\n",
    )
    .expect("marker");
    let out = hung(&marked);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"vault-key:/elsewhere\"") && stderr.contains("did not answer within"),
        "{}",
        show(&out)
    );
    assert!(!marked.join("vault.key").exists());
}
