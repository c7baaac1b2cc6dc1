//! Several switchboard processes on several data directories sharing one fleet through a real
//! PostgreSQL (issue 14), against a real OpenID provider (oidc-provider: refresh tokens rotate
//! on every use, and a used one presented again revokes the whole grant, with no grace).
//!
//! What must hold: every rotation is made by exactly one process (the provider never sees a
//! used refresh token, never revokes a grant), whatever the processes do: refresh at once, get
//! killed with SIGKILL and restarted, or stopped with SIGSTOP past their leases and resumed.
//! (A stale save through the daemon: `shared_fence.rs`; `store migrate`: `store_migrate.rs`.)

#[path = "support/cli.rs"]
mod cli;
#[path = "support/daemons.rs"]
mod daemons;
#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/tmux.rs"]
#[allow(dead_code)]
mod tmux;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use daemons::{Daemon, command, hex_key, logged, vault, wait_for};
use oidc::{
    OidcProvider, PUBLIC_CLIENT, assert_no_failed_refresh, authorize, code_spec, files_under,
};
use postgres::Postgres;
use switchboard::auth::{AuthSpec, Broker, Credential, LEASE_TTL, Need};
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::store::pg::PgStore;
use switchboard::store::{Grants, Store};

const ACTOR: Actor = Actor::Cli;

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
    let dump = postgres::dump(&url);
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

    // Every daemon serves the whole fleet as it stands, up: its own share as it probed it, the
    // rest as the daemons holding it did (the feed).
    wait_for(
        "every daemon's /metrics to show all six connections up",
        Duration::from_secs(40),
        || {
            daemons.iter().all(|d| {
                let metrics = d.metrics().unwrap_or_default();
                (0..CONNECTIONS).all(|i| {
                    metrics.contains(&format!(
                        "switchboard_connection_health{{connector=\"oidc-{i}\",account=\"default\",state=\"up\"}} 1"
                    ))
                })
            })
        },
    );

    // The operator's refresh is in the event log of a daemon's data directory too.
    wait_for(
        "the operator's refresh to reach a daemon's event log",
        Duration::from_secs(10),
        || logged(&daemons[0].data_dir, "refresh", "cli", "ok") >= 1,
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
    console.keys(&["r"]);
    wait_for(
        "the console's refresh to reach a daemon's event log",
        Duration::from_secs(15),
        || logged(&daemons[0].data_dir, "refresh", "console", "ok") >= 1,
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
