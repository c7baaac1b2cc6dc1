//! Several switchboard processes on several data directories sharing one fleet through a real
//! PostgreSQL (issue 14), against a real OpenID provider (oidc-provider: refresh tokens rotate
//! on every use, and a used one presented again revokes the whole grant, with no grace).
//!
//! What must hold: every rotation is made by exactly one process (the provider never sees a
//! used refresh token, never revokes a grant), whatever the processes do: refresh at once, get
//! killed with SIGKILL and restarted, or stopped with SIGSTOP past their leases and resumed.

#[path = "support/cli.rs"]
mod cli;
// Only its gated reply and request log are used here.
#[allow(dead_code)]
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/tmux.rs"]
#[allow(dead_code)]
mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cli::{BIN, KillOnDrop, log_text, scrubbed};
use hostile::{Hostile, Reply, Request};
use oidc::{
    OidcProvider, PUBLIC_CLIENT, assert_no_failed_refresh, authorize, code_spec, files_under,
};
use postgres::Postgres;
use switchboard::auth::{AuthSpec, Broker, Credential, LEASE_TTL, Need};
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::store::pg::PgStore;
use switchboard::store::{Grants, KeySource, Store, Vault};
use tokio::sync::Semaphore;

const KEY: [u8; 32] = [0x5a; 32];
const ACTOR: Actor = Actor::Cli;

fn vault() -> Vault {
    Vault::from_key(&KEY, KeySource::Env)
}

fn hex_key() -> String {
    KEY.iter().map(|b| format!("{b:02x}")).collect()
}

/// A broker as a process on its own host would have: its own data directory, and the grants
/// in the shared database through a pool of its own.
async fn host(dir: &Path, url: &str, spec: &AuthSpec, key: &ConnectionKey) -> Arc<Broker> {
    let store = Store::open_with_vault(dir, vault()).expect("store opens");
    let db = PgStore::connect(url, vault()).await.expect("the database");
    let b = Broker::with_grants(store, Grants::Shared(db), oidc::http(), LEASE_TTL);
    b.register(key.clone(), spec.clone(), false)
        .await
        .expect("register");
    b
}

async fn access_token(b: &Broker, key: &ConnectionKey) -> String {
    match b
        .obtain(key, ACTOR, Need::ValidFor(1_000))
        .await
        .expect("a token")
    {
        Credential::Bearer(t) => t.expose().to_string(),
        other => panic!("expected a bearer token, got {other:?}"),
    }
}

/// Two hosts' brokers, each with its own SQLite data directory, share one grant through
/// PostgreSQL: forced refreshes from both at once, and hot-path callers on both, rotate it once
/// per cycle; the provider never sees a used refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_rotate_one_grant_once_per_cycle() {
    const CYCLES: u64 = 6;
    let pg = Postgres::start();
    let url = pg.database("two_hosts");
    let p = OidcProvider::start(6);
    let spec = code_spec(&p);
    let key = ConnectionKey::new("oidc", "default");
    let dir = tempfile::tempdir().expect("tempdir");
    let a = host(&dir.path().join("a"), &url, &spec, &key).await;
    let b = host(&dir.path().join("b"), &url, &spec, &key).await;
    let token = authorize(&spec, &dir.path().join("browser.log")).await;
    a.install(&key, token, ACTOR).await.expect("install");
    assert!(
        b.sync_from_store(&key).await.expect("sync"),
        "the other host reads the grant from the shared database"
    );
    let start = p.stats().await;
    for cycle in 0..CYCLES {
        let (ra, rb, ta, tb) = tokio::join!(
            a.refresh_now(&key, ACTOR),
            b.refresh_now(&key, ACTOR),
            access_token(&a, &key),
            access_token(&b, &key),
        );
        ra.unwrap_or_else(|f| panic!("cycle {cycle}, a: {f}"));
        rb.unwrap_or_else(|f| panic!("cycle {cycle}, b: {f}"));
        assert!(!ta.is_empty() && !tb.is_empty());
    }
    let end = p.stats().await;
    assert_eq!(
        end.ok("refresh_token") - start.ok("refresh_token"),
        CYCLES,
        "one rotation per cycle, whichever host made it"
    );
    assert_no_failed_refresh(&end);
    // Each host hands out the newest token, and the provider takes it.
    b.sync_from_store(&key).await.expect("sync");
    a.sync_from_store(&key).await.expect("sync");
    let (ta, tb) = (access_token(&a, &key).await, access_token(&b, &key).await);
    assert_eq!(ta, tb, "both hosts hold the same grant");
    assert_eq!(p.userinfo_status(&ta).await, 200);
    // Sealed at rest in the database too: no token the provider issued is in it in clear.
    let dump = Command::new(postgres::bindir().join("pg_dump"))
        .args(["--data-only", &url])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    for t in end.issued_tokens() {
        assert!(!dump.contains(&t), "a token in clear in the database");
    }
}

// ---------------------------------------------------------------------------------------------
// three daemons

const CONNECTIONS: usize = 6;

fn fleet_config(p: &OidcProvider) -> String {
    let issuer = &p.issuer;
    (0..CONNECTIONS)
        .map(|i| {
            format!(
                r#"[[connectors]]
id = "oidc-{i}"
kind = "rest"
[connectors.rest]
base_url = "{issuer}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{PUBLIC_CLIENT}"
scopes = ["openid", "offline_access", "profile"]
extra_params = {{ prompt = "consent" }}

"#
            )
        })
        .collect()
}

struct Daemon {
    data_dir: PathBuf,
    child: Option<KillOnDrop>,
    config: PathBuf,
    url: String,
}

impl Daemon {
    fn start(config: &Path, data_dir: PathBuf, url: &str) -> Daemon {
        let mut d = Daemon {
            data_dir,
            child: None,
            config: config.to_path_buf(),
            url: url.to_string(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let err = std::fs::File::create(self.data_dir.join("daemon.err")).expect("stderr file");
        let child = scrubbed(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("daemon")
            .env("SWITCHBOARD_KEY", hex_key())
            .env("SWITCHBOARD_DATABASE_URL", &self.url)
            .env("SWITCHBOARD_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("the daemon starts");
        self.child = Some(KillOnDrop(child));
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().expect("running").0.id()).expect("a pid")
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({sig})");
    }

    fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.0.kill().expect("SIGKILL");
            let _ = c.0.wait();
        }
    }

    fn log(&self) -> String {
        log_text(&self.data_dir)
    }

    /// Token answers this daemon saved (the broker logs each, at debug).
    fn refreshes(&self) -> usize {
        self.log().matches("token answer after").count()
    }

    fn share(&self) -> Option<usize> {
        let log = self.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("this daemon now schedules"))?;
        let after = line.split("schedules ").nth(1)?;
        after.split(' ').next()?.parse().ok()
    }
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Three daemons on three data directories and one PostgreSQL, six connections with 8 s access
/// tokens that rotate on every refresh. They split the partitions; one is stopped (SIGSTOP)
/// past its share's lease and resumed, one is killed (SIGKILL) and restarted. Through all of it
/// the provider never sees a used refresh token, and every grant still works at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_share_a_fleet_through_stops_and_kills() {
    let pg = Postgres::start();
    let url = pg.database("three_daemons");
    let p = OidcProvider::start(8);
    let mut s = oidc::session(&fleet_config(&p));
    s.env.push(("SWITCHBOARD_KEY".into(), hex_key().into()));
    s.env
        .push(("SWITCHBOARD_DATABASE_URL".into(), url.clone().into()));
    for i in 0..CONNECTIONS {
        s.expect(&["auth", &format!("oidc-{i}")], 0);
    }
    let authorized = p.stats().await;
    assert_eq!(authorized.ok("authorization_code"), CONNECTIONS as u64);

    let root = s.dir.path().to_path_buf();
    let mut daemons: Vec<Daemon> = (0..3)
        .map(|i| Daemon::start(&s.config, root.join(format!("host{i}")), &url))
        .collect();
    wait_for(
        "the three daemons to split the partitions",
        Duration::from_secs(40),
        || {
            let shares: Vec<Option<usize>> = daemons.iter().map(Daemon::share).collect();
            shares.iter().all(|s| s.is_some_and(|n| n >= 21))
        },
    );
    // Two token lifetimes with everyone up.
    std::thread::sleep(Duration::from_secs(16));

    // SIGSTOP past the share's lease (15 s): the others take its partitions, then it resumes
    // believing it still holds them until its next step.
    daemons[1].signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(24));
    daemons[1].signal(libc::SIGCONT);
    wait_for(
        "the resumed daemon to take a share again",
        Duration::from_secs(40),
        || {
            daemons[1]
                .log()
                .matches("this daemon now schedules")
                .count()
                >= 2
        },
    );

    // An operator on a fourth data directory (a console's or a one-shot's) sees the same fleet
    // and acts on it: a forced refresh there is one more rotation, which the daemons adopt.
    let before = p.stats().await.ok("refresh_token");
    let run = s.expect(&["refresh", "oidc-0"], 0);
    assert!(run.stdout.starts_with("refreshed oidc-0"), "{run}");
    assert!(p.stats().await.ok("refresh_token") > before);
    let run = s.expect(&["status", "--json"], 0);
    let rows = cli::parse_json(&run.stdout);
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), CONNECTIONS, "{run}");
    for r in rows {
        assert!(
            r["expires_at"].is_string(),
            "not authorized as seen from elsewhere: {r}"
        );
        assert_ne!(r["health"], "needs_reauth", "{r}");
        // Nothing probes on this data directory: what it shows, the daemons probed (the feed).
        assert_ne!(
            r["health"], "pending",
            "the daemons' probes not shown here: {r}"
        );
    }

    // The operator's refresh is in the event log of a daemon's data directory too.
    let cli_refreshes = |dir: &Path| -> i64 {
        rusqlite::Connection::open(dir.join("switchboard.db"))
            .and_then(|db| {
                db.query_row(
                    "SELECT count(*) FROM events WHERE kind = 'refresh' AND actor = 'cli'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0)
    };
    wait_for(
        "the operator's refresh to reach a daemon's event log",
        Duration::from_secs(10),
        || cli_refreshes(&daemons[0].data_dir) >= 1,
    );

    // `status` says where the tokens are and how the daemons split the fleet.
    let run = s.expect(&["status"], 0);
    assert!(
        run.stdout.contains(
            "3 daemons share the fleet, none on this data directory; health below is what they probed"
        ),
        "{run}"
    );
    assert!(!run.stdout.contains(postgres::PASSWORD), "{run}");
    let run = command(&daemons[0].data_dir, &s.config, &url, &["status"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .contains("3 daemons share 64 partitions, this host's holds"),
        "{run}"
    );

    // A console on an operator's laptop (a data directory of its own, the same database):
    // every connection up as the daemons probed it, none probed by the console itself; and
    // what it does reaches the daemons' hosts.
    let laptop = root.join("laptop");
    let key = hex_key();
    let console = tmux::Tmux::console_with(
        "shared-fleet",
        &s.config,
        &laptop,
        (120, 40),
        &[
            ("SWITCHBOARD_KEY", key.as_str()),
            ("SWITCHBOARD_DATABASE_URL", url.as_str()),
        ],
    );
    console.wait_until(
        "the six connections up, as the daemons probed them",
        |screen| {
            (0..CONNECTIONS).all(|i| {
                screen
                    .lines()
                    .any(|l| l.contains(&format!("oidc-{i} ")) && l.contains("● up"))
            })
        },
    );
    let console_probes = |dir: &Path| -> i64 {
        rusqlite::Connection::open(dir.join("switchboard.db"))
            .and_then(|db| db.query_row("SELECT count(*) FROM probes", [], |r| r.get(0)))
            .unwrap_or(-1)
    };
    assert_eq!(
        console_probes(&laptop),
        0,
        "the console probed on schedule beside the daemons"
    );
    let console_refreshes = |dir: &Path| -> i64 {
        rusqlite::Connection::open(dir.join("switchboard.db"))
            .and_then(|db| {
                db.query_row(
                    "SELECT count(*) FROM events WHERE kind = 'refresh' AND actor = 'console' AND outcome = 'ok'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0)
    };
    console.keys(&["r"]);
    wait_for(
        "the console's refresh to reach a daemon's event log",
        Duration::from_secs(15),
        || console_refreshes(&daemons[0].data_dir) >= 1,
    );
    drop(console);

    // SIGKILL, and a restart on the same data directory.
    daemons[2].kill_9();
    std::thread::sleep(Duration::from_secs(4));
    daemons[2].spawn();
    std::thread::sleep(Duration::from_secs(20));

    let end = p.stats().await;
    assert_no_failed_refresh(&end);
    let rotations = end.ok("refresh_token") - authorized.ok("refresh_token");
    let by: Vec<usize> = daemons.iter().map(Daemon::refreshes).collect();
    // Over about 80 s, 6 connections with 8 s tokens rotate dozens of times; each rotation is
    // one token request from one daemon.
    assert!(
        rotations >= 6 * 4,
        "only {rotations} rotations in the run (by daemon: {by:?})"
    );
    eprintln!(
        "three daemons: {rotations} rotations at the provider, token answers saved by daemon {by:?}, \
         final shares {:?}",
        daemons.iter().map(Daemon::share).collect::<Vec<_>>()
    );
    assert!(
        by.iter().filter(|&&n| n > 0).count() >= 2,
        "the work was not shared: refreshes by daemon {by:?}"
    );
    for d in &daemons {
        let log = d.log();
        assert!(!log.contains("panicked"), "{log}");
        // Logs, the SQLite files and stderr: no token in clear anywhere a daemon writes.
        for f in files_under(&d.data_dir) {
            let bytes =
                String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
            for t in end.issued_tokens() {
                assert!(!bytes.contains(&t), "a token in clear in {}", f.display());
            }
        }
    }

    // Every grant works: a one-shot command on a fourth data directory reads it from the
    // database, and the provider takes it.
    let mut stopped = Vec::new();
    for mut d in daemons {
        d.signal(libc::SIGTERM);
        if let Some(mut c) = d.child.take() {
            stopped.push(c.0.wait().expect("wait"));
        }
    }
    assert!(stopped.iter().all(|st| st.success()), "{stopped:?}");
    for i in 0..CONNECTIONS {
        let run = s.expect(&["token", &format!("oidc-{i}")], 0);
        let token = run.stdout.trim();
        assert_eq!(
            p.userinfo_status(token).await,
            200,
            "oidc-{i}'s grant does not work after the run"
        );
    }
    assert_no_failed_refresh(&p.stats().await);
}

// ---------------------------------------------------------------------------------------------
// store migrate

fn token(rt: &str) -> switchboard::store::NewToken {
    switchboard::store::NewToken {
        access: switchboard::secret::Secret::from(format!("access-for-{rt}")),
        refresh: Some(switchboard::secret::Secret::from(rt)),
        expires_at: Some(switchboard::domain::now_ms() + 300_000),
        issued_at: switchboard::domain::now_ms(),
        scopes: vec!["read".into()],
    }
}

fn migrate(data_dir: &Path, url: &str, key: &str) -> cli::Run {
    let out = scrubbed(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["store", "migrate"])
        .env("SWITCHBOARD_KEY", key)
        .env("SWITCHBOARD_DATABASE_URL", url)
        .output()
        .expect("switchboard runs");
    ran("store migrate", out)
}

/// `switchboard ARGS` on another data directory, sharing the database and the vault key.
fn command(data_dir: &Path, config: &Path, url: &str, args: &[&str]) -> cli::Run {
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

fn ran(args: &str, out: std::process::Output) -> cli::Run {
    cli::Run {
        args: args.into(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `switchboard store migrate` copies a data directory's tokens into PostgreSQL still sealed,
/// reads each back identical, carries re-auth marks over, never overwrites a token the
/// database already has, refuses while a daemon uses the directory, and refuses a database
/// sealed under another key without writing to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_copies_sealed_tokens_and_verifies_them() {
    let pg = Postgres::start();
    let url = pg.database("migrate");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let store = Store::open_with_vault(&data, vault()).expect("store");
    let (a, b, c) = (
        ConnectionKey::new("jira", "default"),
        ConnectionKey::new("slack", "ops"),
        ConnectionKey::new("github", "default"),
    );
    let saved_a = store.save_token(&a, token("rt-a")).await.expect("save");
    store.save_token(&b, token("rt-b")).await.expect("save");
    store
        .save_token(&b, token("rt-b2"))
        .await
        .expect("a second generation");
    store
        .set_needs_reauth(&c, "the grant was refused")
        .await
        .expect("mark");

    // A daemon on the directory (its scheduler lease): refused, nothing copied.
    store
        .acquire_lease("scheduler", "4242@elsewhere#ns", 60_000)
        .await
        .expect("lease");
    let run = migrate(&data, &url, &hex_key());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("stop the daemon"), "{run}");
    store
        .release_lease("scheduler", "4242@elsewhere#ns")
        .await
        .expect("release");

    let run = migrate(&data, &url, &hex_key());
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("copied 2 tokens"), "{run}");
    assert!(run.stdout.contains("github"), "the re-auth mark: {run}");
    assert!(!run.stdout.contains(postgres::PASSWORD) && !run.stderr.contains(postgres::PASSWORD));

    let db = PgStore::connect(&url, vault()).await.expect("the database");
    let copied = db.load_token(&a).await.expect("read").expect("a's token");
    assert_eq!(copied.refresh, saved_a.refresh);
    assert_eq!(copied.generation, saved_a.generation);
    let copied_b = db.load_token(&b).await.expect("read").expect("b's token");
    assert_eq!(
        copied_b.refresh.as_ref().map(|r| r.expose().to_string()),
        Some("rt-b2".into())
    );
    assert_eq!(copied_b.generation, 2, "generations carry over");
    let marks = db.connections().await.expect("connections");
    assert!(
        marks.iter().any(|m| m.key == c && m.needs_reauth),
        "{marks:?}"
    );
    // Sealed at rest: no secret in a dump of the database.
    let dump = Command::new(postgres::bindir().join("pg_dump"))
        .args(["--data-only", &url])
        .output()
        .expect("pg_dump runs");
    let dump = String::from_utf8_lossy(&dump.stdout);
    for secret in ["rt-a", "rt-b2", "access-for-rt-a"] {
        assert!(!dump.contains(secret), "{secret} in clear in the database");
    }
    // The database's tokens are the ones to trust now: saved under a lease tenure there, and
    // a second migration keeps them.
    db.save_token(&a, token("rt-a-rotated-on-another-host"))
        .await
        .expect("save");
    let run = migrate(&data, &url, &hex_key());
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("kept the database's own token"),
        "{run}"
    );
    let still = db.load_token(&a).await.expect("read").expect("token");
    assert_eq!(
        still.refresh.map(|r| r.expose().to_string()),
        Some("rt-a-rotated-on-another-host".into())
    );

    // A database sealed under another key: refused before anything is written.
    let other = pg.database("other_key");
    PgStore::connect(&other, Vault::from_key(&[0x11; 32], KeySource::Env))
        .await
        .expect("the other deployment");
    let run = migrate(&data, &other, &hex_key());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.to_lowercase().contains("key"), "{run}");
    let other_db = PgStore::connect(&other, Vault::from_key(&[0x11; 32], KeySource::Env))
        .await
        .expect("connect");
    assert!(other_db.load_token(&a).await.expect("read").is_none());
}

// ---------------------------------------------------------------------------------------------
// a stale save, through the daemon

/// The token server's answers: request `n` (from 1) gets these.
fn access(n: usize) -> String {
    format!("fence-at-{n}")
}

fn refresh_token(n: usize) -> String {
    format!("fence-rt-{n}")
}

/// Short enough that a stop past it ends well inside the token request's 20 s timeout.
const STALE_LEASE_SECS: u64 = 6;

fn stale_save_config(base: &str) -> String {
    format!(
        r#"[store]
refresh_lease = "{STALE_LEASE_SECS}s"

[[connectors]]
id = "fenced"
kind = "rest"
[connectors.rest]
base_url = "{base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
client_id = "fence-test"
scopes = ["read"]
[connectors.schedule]
probe = "1s"
"#
    )
}

/// Every thread of `pid` is stopped: a signal is delivered after `kill` returns, and until then
/// the process could still read its socket.
fn wait_stopped(pid: i32) {
    wait_for("the daemon to stop", Duration::from_secs(10), || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.flatten().all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| {
                    let (_, after) = s.rsplit_once(')')?;
                    after.trim_start().chars().next()
                })
                .is_some_and(|state| state == 'T')
        })
    });
}

/// The bearer tokens on the probe requests, oldest first.
fn probe_bearers(peer: &Hostile) -> Vec<String> {
    peer.requests_to("/me")
        .iter()
        .map(|r| {
            r.header("authorization")
                .unwrap_or_default()
                .trim_start_matches("Bearer ")
                .to_string()
        })
        .collect()
}

/// Issue 14's stale save, through the real daemon. Daemon A's refresh request reaches the token
/// server, which holds the answer until A is stopped (SIGSTOP), then writes it into A's
/// socket. A stays stopped past its refresh lease; a one-shot `refresh` from another data
/// directory takes the lapsed lease under a newer tenure, finds the generation A never
/// advanced, spends the same refresh token and saves. A resumes, reads its answer and tries to
/// save it: the fence refuses it, the newer token stands, and A hands out the newer token.
///
/// Deterministic because of the short lease (`[store] refresh_lease`): with the default 30 s, A
/// would have to stay stopped past 30 s, beyond its request's own 20 s timeout (which runs from
/// the send, and on through the stop), and would wake to a timeout instead of an answer. Here
/// the stop is the 6 s lease, 2 s of margin and the one-shot's run, about 8 s: when A resumes,
/// its request's timer has not run out and the answer is already in its socket buffer, so the
/// read completes with the answer. (tokio's timeout also polls the request before its timer,
/// but what this rests on is the margin, not that order.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_daemons_stale_save_is_refused_by_its_fence() {
    let pg = Postgres::start();
    let url = pg.database("stale_save");
    let gate = Arc::new(Semaphore::new(0));
    let refreshes = Arc::new(AtomicUsize::new(0));
    let peer = {
        let (gate, refreshes) = (gate.clone(), refreshes.clone());
        Hostile::start(move |req: &Request| match req.path() {
            "/token" if req.form("grant_type").as_deref() == Some("refresh_token") => {
                let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                let answer = Reply::json(
                    200,
                    serde_json::json!({
                        "access_token": access(n),
                        "token_type": "Bearer",
                        "refresh_token": refresh_token(n),
                        "expires_in": 600,
                    }),
                )
                .with_header("connection", "close");
                if n == 1 {
                    Reply::Gated(gate.clone(), Box::new(answer))
                } else {
                    answer
                }
            }
            "/me" => Reply::json(200, serde_json::json!({"ok": true})),
            _ => Reply::json(400, serde_json::json!({"error": "invalid_request"})),
        })
        .await
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, stale_save_config(&peer.url(""))).expect("config");

    // A grant that has lived most of its life: due for a refresh at once, still valid for a
    // minute, so probes carry it meanwhile.
    let key = ConnectionKey::new("fenced", "default");
    let db = PgStore::connect(&url, vault()).await.expect("the database");
    let now = switchboard::domain::now_ms();
    let seeded = db
        .save_token(
            &key,
            switchboard::store::NewToken {
                access: switchboard::secret::Secret::from(access(0)),
                refresh: Some(switchboard::secret::Secret::from(refresh_token(0))),
                expires_at: Some(now + 60_000),
                issued_at: now - 600_000,
                scopes: vec!["read".into()],
            },
        )
        .await
        .expect("seed");
    assert_eq!(seeded.generation, 1);

    let mut a = Daemon::start(&config, dir.path().join("a"), &url);
    peer.arrived("/token", Duration::from_secs(60)).await;
    a.signal(libc::SIGSTOP);
    wait_stopped(a.pid());
    let stopped = Instant::now();
    gate.add_permits(1);

    // Past A's lease (renewed at most a third of it before the stop), then another process.
    tokio::time::sleep(Duration::from_secs(STALE_LEASE_SECS + 2)).await;
    let run = command(&dir.path().join("b"), &config, &url, &["refresh", "fenced"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("refreshed fenced"), "{run}");
    let stored = db.load_token(&key).await.expect("read").expect("a token");
    assert_eq!(
        (stored.access.expose(), stored.generation),
        (access(2).as_str(), 2)
    );
    let stop = stopped.elapsed();
    a.signal(libc::SIGCONT);

    // Its save, refused or (were the fence not checked) landed.
    let refused = format!("the new token of {key} was not saved");
    let saved = format!("{key}: token answer after");
    wait_for(
        "the resumed daemon to act on its answer",
        Duration::from_secs(20),
        || {
            let log = a.log();
            log.contains(&refused) || log.contains(&saved)
        },
    );
    // Time to act on the refusal: a save written over the newer one, a second request, a
    // retry would all land by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored = db.load_token(&key).await.expect("read").expect("a token");
    assert_eq!(
        (stored.access.expose(), stored.generation),
        (access(2).as_str(), 2),
        "the newer token stands; daemon log:\n{}",
        a.log()
    );
    assert!(a.log().contains(&refused), "{}", a.log());
    let presented: Vec<String> = peer
        .requests_to("/token")
        .iter()
        .map(|r| r.form("refresh_token").unwrap_or_default())
        .collect();
    // The one-shot spent the refresh token A had spent: A never saved its answer, so nothing
    // newer existed. A made no second request after the refusal.
    assert_eq!(presented, [refresh_token(0), refresh_token(0)]);

    // A hands out the stored token now: its probes carry it, never the one it was refused.
    let since = peer.requests_to("/me").len();
    wait_for("three more probes", Duration::from_secs(20), || {
        peer.requests_to("/me").len() >= since + 3
    });
    let bearers = probe_bearers(&peer);
    assert!(
        bearers[since..].iter().all(|b| *b == access(2)),
        "probes after the refusal: {:?}; daemon log:\n{}",
        &bearers[since..],
        a.log()
    );
    assert!(
        !bearers.contains(&access(1)),
        "the refused token was used: {bearers:?}"
    );

    // The refusal answered the refresh with the grant that stands: not a failure to back off
    // from, and never a reason to ask for re-auth.
    let log = a.log();
    for wrong in ["panicked", "refresh failed", "needs re-auth"] {
        assert!(!log.contains(wrong), "{wrong}:\n{log}");
    }
    a.signal(libc::SIGTERM);
    let exit = a.child.take().expect("running").0.wait().expect("wait");
    assert!(exit.success(), "{exit:?}; daemon log:\n{log}");
    // Nothing the server issued is in clear in either data directory or the database.
    let dump = Command::new(postgres::bindir().join("pg_dump"))
        .args(["--data-only", &url])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut places = vec![(
        "pg_dump".to_string(),
        String::from_utf8_lossy(&dump.stdout).into_owned(),
    )];
    for f in files_under(dir.path()).into_iter().filter(|f| *f != config) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        places.push((f.display().to_string(), text));
    }
    for n in 0..=2 {
        for secret in [access(n), refresh_token(n)] {
            for (place, text) in &places {
                assert!(!text.contains(&secret), "{secret} in clear in {place}");
            }
        }
    }
    eprintln!(
        "stale save: A stopped for {} ms, its save refused, {} probes after",
        stop.as_millis(),
        bearers.len() - since
    );
}
