//! Daemons and one-shot commands on data directories of their own, sharing one PostgreSQL and
//! one vault key: what the shared-fleet tests run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use switchboard::store::{KeySource, Vault};

use crate::cli::{self, BIN, KillOnDrop, log_text, scrubbed};

pub const KEY: [u8; 32] = [0x5a; 32];

pub fn vault() -> Vault {
    Vault::from_key(&KEY, KeySource::Env)
}

pub fn hex_key() -> String {
    KEY.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Daemon {
    pub data_dir: PathBuf,
    pub child: Option<KillOnDrop>,
    config: PathBuf,
    url: String,
}

impl Daemon {
    pub fn start(config: &Path, data_dir: PathBuf, url: &str) -> Daemon {
        let mut d = Daemon {
            data_dir,
            child: None,
            config: config.to_path_buf(),
            url: url.to_string(),
        };
        d.spawn();
        d
    }

    pub fn spawn(&mut self) {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let err = std::fs::File::create(self.data_dir.join("daemon.err")).expect("stderr file");
        let child = scrubbed(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["daemon", "--listen", "127.0.0.1:0"])
            .env("SWITCHBOARD_KEY", hex_key())
            .env("SWITCHBOARD_DATABASE_URL", &self.url)
            .env("SWITCHBOARD_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("the daemon starts");
        self.child = Some(KillOnDrop(child));
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().expect("running").0.id()).expect("a pid")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({sig})");
    }

    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.0.kill().expect("SIGKILL");
            let _ = c.0.wait();
        }
    }

    /// Its `/metrics` now, once it has said where it serves them.
    pub fn metrics(&self) -> Option<String> {
        use std::io::{Read, Write};
        let err = std::fs::read_to_string(self.data_dir.join("daemon.err")).ok()?;
        let addr = err.split("metrics on http://").nth(1)?.split('/').next()?;
        let mut conn = std::net::TcpStream::connect(addr).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            conn,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        conn.read_to_string(&mut body).ok()?;
        Some(body)
    }

    pub fn log(&self) -> String {
        log_text(&self.data_dir)
    }

    /// Token answers this daemon saved (the broker logs each, at debug).
    pub fn refreshes(&self) -> usize {
        self.log().matches("token answer after").count()
    }

    pub fn share(&self) -> Option<usize> {
        let log = self.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("this daemon now schedules"))?;
        let after = line.split("schedules ").nth(1)?;
        after.split(' ').next()?.parse().ok()
    }
}

/// How many `kind` events by `actor` with `outcome` the event log in `dir` holds (0 while it
/// cannot be read).
pub fn logged(dir: &Path, kind: &str, actor: &str, outcome: &str) -> i64 {
    rusqlite::Connection::open(dir.join("switchboard.db"))
        .and_then(|db| {
            db.query_row(
                "SELECT count(*) FROM events WHERE kind = ?1 AND actor = ?2 AND outcome = ?3",
                [kind, actor, outcome],
                |r| r.get(0),
            )
        })
        .unwrap_or(0)
}

pub fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `switchboard ARGS` on another data directory, sharing the database and the vault key.
pub fn command(data_dir: &Path, config: &Path, url: &str, args: &[&str]) -> cli::Run {
    let out = scrubbed(BIN)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("SWITCHBOARD_KEY", hex_key())
        .env("SWITCHBOARD_DATABASE_URL", url)
        .output()
        .expect("switchboard runs");
    ran(&args.join(" "), out)
}

pub fn ran(args: &str, out: std::process::Output) -> cli::Run {
    cli::Run {
        args: args.into(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
