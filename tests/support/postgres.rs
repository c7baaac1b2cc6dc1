//! A real PostgreSQL server for the store tests (issue 14): Debian's `postgresql` binaries
//! (installed by tests/run), `initdb` into a temporary directory, a loopback port, password
//! authentication over TCP, stopped when dropped. As root, the server runs as the `postgres`
//! user (PostgreSQL refuses to run as root).

// Shared by several test binaries; each uses a subset.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of the test role: the tests check it never reaches a message.
pub const PASSWORD: &str = "pg-test-secret-7d1c";

pub struct Postgres {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    /// Fails (never skips) when PostgreSQL is not installed.
    pub fn start() -> Postgres {
        Self::start_with(false).0
    }

    /// A server that also takes TLS, its certificate (for 127.0.0.1) signed by a test CA made
    /// here with openssl; the CA's PEM file, to trust as `sslrootcert`.
    pub fn start_tls() -> (Postgres, PathBuf) {
        let (pg, ca) = Self::start_with(true);
        (pg, ca.expect("a CA"))
    }

    fn start_with(tls: bool) -> (Postgres, Option<PathBuf>) {
        let bin = bindir();
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let ids = run_as();
        if let Some((uid, gid)) = ids {
            // The server's user must own its directory, and reach it.
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("write the password file");
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown");
        }
        let out = as_server_user(Command::new(bin.join("initdb")), ids)
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "switchboard",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let ca = tls.then(|| certificates(dir.path(), ids));
        let mut server = as_server_user(Command::new(bin.join("postgres")), ids);
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ]);
        if tls {
            server.args(["-c", "ssl=on", "-c"]);
            server.arg(format!(
                "ssl_cert_file={}",
                dir.path().join("server.crt").display()
            ));
            server.arg("-c");
            server.arg(format!(
                "ssl_key_file={}",
                dir.path().join("server.key").display()
            ));
        }
        let child = server
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let pg = Postgres {
            child,
            _dir: dir,
            port,
        };
        pg.wait_ready(&bin);
        (pg, ca)
    }

    /// A URL for the test role on database `postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgres://switchboard:{PASSWORD}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// A fresh database on this server, and its URL: each test gets its own.
    pub fn database(&self, name: &str) -> String {
        let bin = bindir();
        let out = Command::new(bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U"])
            .arg("switchboard")
            .arg(name)
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("createdb runs");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!(
            "postgres://switchboard:{PASSWORD}@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    fn wait_ready(&self, bin: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not accept connections within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it, in `dir`; the CA's path.
fn certificates(dir: &Path, ids: Option<(u32, u32)>) -> PathBuf {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (tests/run installs it with the other tools)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=switchboard test CA",
    ];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    // PostgreSQL refuses a key others can read, and must own it.
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    if let Some((uid, gid)) = ids {
        for f in ["server.key", "server.crt"] {
            std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid)).expect("chown");
        }
    }
    dir.join("ca.pem")
}

/// The newest installed server's binaries.
/// The database's rows, as `pg_dump --data-only` writes them: where a secret in clear would show.
pub fn dump(url: &str) -> String {
    let out = Command::new(bindir().join("pg_dump"))
        .args(["--data-only", url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn bindir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run tests/run, which installs Debian's postgresql"
        ),
    }
}

/// The `postgres` user's ids when running as root, else `None` (run as ourselves).
fn run_as() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!("no postgres user: run tests/run, which installs Debian's postgresql")
            })
    };
    Some((id("-u"), id("-g")))
}

fn as_server_user(mut cmd: Command, ids: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
