//! A private D-Bus session with gnome-keyring's Secret Service for tests/keyring.rs, and running
//! the real binary inside it or outside any session.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::support::{KillOnDrop, scrubbed};

/// A command that takes longer than this is hung (a keyring call is bounded at 5 s).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Fails (never skips) when the keyring tools are missing.
pub fn require_tools() {
    for tool in ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: run tests/run, which installs gnome-keyring, dbus and libsecret-tools"
        );
    }
}

/// A D-Bus session bus with an unlocked gnome-keyring on it, ended when dropped.
pub struct KeyringSession {
    bus: String,
    home: PathBuf,
    runtime: PathBuf,
    // The session lives as long as its shell reads stdin; closing it ends bus and daemon.
    stdin: Option<std::process::ChildStdin>,
    child: KillOnDrop,
}

impl KeyringSession {
    pub fn start(root: &Path) -> KeyringSession {
        require_tools();
        let home = root.join("home");
        let runtime = root.join("run");
        for d in [&home, &runtime] {
            std::fs::create_dir_all(d).expect("mkdir");
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        // --unlock with a password on stdin creates and unlocks a login keyring under HOME, so
        // no prompt is ever needed; then the shell prints the bus address and waits.
        let script = "echo -n test-password | gnome-keyring-daemon --unlock --components=secrets \
                      --daemonize >/dev/null || exit 1; echo \"$DBUS_SESSION_BUS_ADDRESS\"; exec cat";
        let mut child = scrubbed("dbus-run-session")
            .args(["--", "sh", "-c", script])
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("XDG_DATA_HOME")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run dbus-run-session: {e}; run tests/run"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the session's bus address");
        let bus = line.trim().to_owned();
        assert!(
            bus.starts_with("unix:"),
            "the keyring session did not start (bus address {bus:?}); run tests/run"
        );
        KeyringSession {
            bus,
            home,
            runtime,
            stdin,
            child: KillOnDrop(child),
        }
    }

    /// `program` inside the session: its bus, its HOME, the keyring left on.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = scrubbed(program);
        cmd.env_remove("SWITCHBOARD_KEYRING")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("RUST_BACKTRACE", "1");
        cmd
    }

    /// What `secret-tool` finds under switchboard's entry for `data_dir`.
    pub fn lookup(&self, data_dir: &Path) -> Output {
        let canonical = std::fs::canonicalize(data_dir).expect("canonical data dir");
        let user = format!("vault-key:{}", canonical.display());
        run(self.command("secret-tool").args([
            "lookup",
            "service",
            "switchboard",
            "username",
            &user,
        ]))
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // KillOnDrop ends it.
    }
}

/// `program` outside any D-Bus session: no bus address, and an empty runtime directory so the
/// default `$XDG_RUNTIME_DIR/bus` is not there either (like an SSH login).
pub fn outside(program: &str, root: &Path) -> Command {
    let runtime = root.join("run-outside");
    std::fs::create_dir_all(&runtime).expect("mkdir");
    let mut cmd = scrubbed(program);
    cmd.env_remove("SWITCHBOARD_KEYRING")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", root.join("home"))
        .env("RUST_BACKTRACE", "1");
    cmd
}

/// Runs to completion within the deadline; output kept.
pub fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_DEADLINE) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} hung");
        }
    }
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn switchboard(mut cmd: Command, data: &Path, config: &Path, args: &[&str]) -> Output {
    run(cmd
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .args(args))
}
