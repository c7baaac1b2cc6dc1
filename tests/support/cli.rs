//! Helpers for tests that drive the real `switchboard` binary: a lab child process, a command
//! runner that keeps every command's output for later checks, JSON parsing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// Environment that would point the binary elsewhere, or through a proxy, than the test says.
pub const SCRUBBED_ENV: &[&str] = &[
    "SWITCHBOARD_CONFIG",
    "SWITCHBOARD_DATA_DIR",
    "SWITCHBOARD_KEY",
    "SWITCHBOARD_LOG",
    "BROWSER",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
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

fn curl_json(args: &[&str]) -> serde_json::Value {
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
