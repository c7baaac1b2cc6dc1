//! Helpers for tests that drive the real `switchboard` binary: a lab child process, a command
//! runner that keeps every command's output for later checks, JSON parsing.

// Shared by several test binaries; each uses a subset, so unused items are expected.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// Environment that would point the binary elsewhere, or through a proxy, than the test says.
pub const SCRUBBED_ENV: &[&str] = &[
    "SWITCHBOARD_CONFIG",
    "SWITCHBOARD_DATA_DIR",
    "SWITCHBOARD_KEY",
    "SWITCHBOARD_DATABASE_URL",
    "SWITCHBOARD_LOG",
    "BROWSER",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "NODE_OPTIONS",
];

pub fn scrubbed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for v in SCRUBBED_ENV {
        cmd.env_remove(v);
    }
    // Keys stay in each test's data directory, never in the keyring of whoever runs the tests
    // (tests/keyring.rs turns this back on inside a keyring of its own).
    cmd.env("SWITCHBOARD_KEYRING", "off");
    cmd.stdin(Stdio::null());
    cmd
}

/// Kills and reaps a child when dropped, also when the test panics.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `switchboard lab serve` as a child process; killed when dropped.
pub struct LabProcess {
    // Field order: the child is killed before its stdout pipe closes.
    _child: KillOnDrop,
    _stdout: BufReader<ChildStdout>,
    pub issuer: String,
    pub mcp_url: String,
    pub sse_url: String,
    pub rest_base: String,
}

impl LabProcess {
    pub fn start(token_ttl: &str) -> LabProcess {
        let child = scrubbed(BIN)
            .args(["lab", "serve", "--token-ttl", token_ttl])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `switchboard lab serve`: {e}"));
        let mut child = KillOnDrop(child);
        let mut stdout = BufReader::new(child.0.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let n = stdout
            .read_line(&mut line)
            .expect("read the lab's first line");
        assert!(n > 0, "the lab exited before printing its URLs");
        let info = parse_json(&line);
        let field = |k: &str| {
            info[k]
                .as_str()
                .unwrap_or_else(|| panic!("lab line lacks {k}: {line}"))
                .to_owned()
        };
        LabProcess {
            issuer: field("issuer"),
            mcp_url: field("mcp_url"),
            sse_url: field("sse_url"),
            rest_base: field("rest_base"),
            _child: child,
            _stdout: stdout,
        }
    }

    /// `POST /admin/revoke?client_id=...`: how many grants the lab revoked.
    pub fn revoke_client(&self, client_id: &str) -> u64 {
        let v = curl_json(&[
            "-X",
            "POST",
            &format!("{}/admin/revoke?client_id={client_id}", self.issuer),
        ]);
        v["revoked"]
            .as_u64()
            .unwrap_or_else(|| panic!("no revoked count: {v}"))
    }

    /// `GET /admin/stats`: the lab's counters (`LabStats`).
    pub fn stats(&self) -> serde_json::Value {
        curl_json(&[&format!("{}/admin/stats", self.issuer)])
    }
}

pub fn curl_json(args: &[&str]) -> serde_json::Value {
    let out = scrubbed("curl")
        .args(["-sS", "--fail", "--noproxy", "*", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_json(&String::from_utf8_lossy(&out.stdout))
}

#[track_caller]
/// A REST connector `id` on the lab's API, authorized as the lab's public `demo-console` client.
pub fn rest_connector(lab: &LabProcess, id: &str) -> String {
    format!(
        r#"[[connectors]]
id = "{id}"
kind = "rest"
[connectors.rest]
base_url = "{}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{}"
client_id = "demo-console"
scopes = ["api:read", "offline_access"]
"#,
        lab.rest_base, lab.issuer
    )
}

pub fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Writes an executable shell script (mode 0700).
pub fn write_script(path: &Path, body: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    f.write_all(body.as_bytes()).expect("write script");
    f.sync_all().expect("sync script");
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A command that takes longer than this is hung (auth waits up to 15 minutes for a browser).
pub const COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

/// One finished command: what was asked, how it ended, what it printed.
#[derive(Debug, Clone)]
pub struct Run {
    pub args: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`switchboard {}` exited {}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

/// A config, a data directory and a scripted browser (curl follows the AS's 302 to
/// switchboard's loopback callback, completing the login); every command's output is kept.
pub struct Session {
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub data_dir: std::path::PathBuf,
    /// `$BROWSER` for the commands: a program and its arguments.
    pub browser: std::ffi::OsString,
    /// More environment for every command.
    pub env: Vec<(String, std::ffi::OsString)>,
    pub transcript: Vec<Run>,
}

impl Session {
    pub fn new(config_text: &str) -> Session {
        let mut s = Session::with_browser(config_text, "");
        let browser = s.dir.path().join("browser.sh");
        write_script(
            &browser,
            "#!/bin/sh\nexec curl -s -L --noproxy '*' --max-time 30 -o /dev/null \"$1\"\n",
        );
        s.browser = browser.into_os_string();
        s
    }

    /// A session whose `$BROWSER` is `browser` (e.g. "node tests/peers/oidc/browser.mjs").
    pub fn with_browser(config_text: &str, browser: impl Into<std::ffi::OsString>) -> Session {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_text).expect("write config");
        Session {
            config,
            data_dir: dir.path().join("data"),
            browser: browser.into(),
            env: Vec::new(),
            dir,
            transcript: Vec::new(),
        }
    }

    /// `switchboard --config C --data-dir D ARGS...` with the scripted browser and debug logs
    /// (where a token would most likely slip out; secret checks read them), its output going to
    /// two files in the session directory.
    pub fn command(&self, args: &[&str]) -> (Command, std::path::PathBuf, std::path::PathBuf) {
        let n = self.transcript.len();
        let out = self.dir.path().join(format!("cmd{n}.out"));
        let err = self.dir.path().join(format!("cmd{n}.err"));
        let mut cmd = scrubbed(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .env("BROWSER", &self.browser)
            .env("SWITCHBOARD_LOG", "debug")
            .env("RUST_BACKTRACE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(std::fs::File::create(&out).expect("out")))
            .stderr(Stdio::from(std::fs::File::create(&err).expect("err")));
        (cmd, out, err)
    }

    /// Waits (up to the deadline) for a command started from `command`, and records it.
    pub fn finish(
        &mut self,
        args: &[&str],
        child: std::process::Child,
        out: &Path,
        err: &Path,
    ) -> Run {
        let mut child = KillOnDrop(child);
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.0.try_wait().expect("wait") {
                break s;
            }
            assert!(
                started.elapsed() < COMMAND_DEADLINE,
                "`switchboard {}` hung",
                args.join(" ")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let read =
            |p: &Path| String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned();
        let run = Run {
            args: args.join(" "),
            code: status.code().unwrap_or(-1),
            stdout: read(out),
            stderr: read(err),
        };
        self.transcript.push(run.clone());
        run
    }

    /// Runs a command to completion (or the deadline).
    pub fn run(&mut self, args: &[&str]) -> Run {
        let (mut cmd, out, err) = self.command(args);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
        self.finish(args, child, &out, &err)
    }

    /// Runs a command and asserts its exit code (and that nothing panicked).
    #[track_caller]
    pub fn expect(&mut self, args: &[&str], code: i32) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, code, "{run}");
        assert!(!run.stderr.contains("panicked"), "{run}");
        run
    }
}

/// What a command printed and how it exited.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `switchboard ARGS` with nothing configured (a fresh HOME), killed when `guard` passes: a hang
/// guard for tests of bounded failures, never a speed assertion.
pub async fn unconfigured(args: &[&str], guard: std::time::Duration) -> Ran {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = tokio::process::Command::from(scrubbed(BIN));
    cmd.args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"));
    output(cmd, guard).await
}

/// Runs `cmd` to its end and keeps what it printed; kills it when `guard` passes.
pub async fn output(mut cmd: tokio::process::Command, guard: std::time::Duration) -> Ran {
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(guard, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`switchboard` hung: {cmd:?}"))
        .expect("run switchboard");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The data directory's log files (`switchboard.YYYY-MM-DD.log`, or `.jsonl` from
/// `--log-format json`; one a day), oldest first.
pub fn log_files(data_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(data_dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with("switchboard.")
                            && (n.ends_with(".log") || n.ends_with(".jsonl"))
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

/// Everything the data directory's log files hold ("" before the first line is written).
pub fn log_text(data_dir: &Path) -> String {
    log_files(data_dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}
