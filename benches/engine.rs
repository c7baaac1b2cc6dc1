//! Hot paths, measured: the broker handing out a cached token (every probe, tool call and MCP
//! request goes through it), the leader's look for tokens other processes wrote, building a
//! fleet snapshot, and rendering the dashboard.
//!
//! `cargo bench --bench engine`; numbers go to BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use switchboard::auth::{AuthSpec, Broker, OAuthEndpoints, OAuthSpec};
use switchboard::config::ProbeSchedule;
use switchboard::domain::{Actor, ConnectionKey, now_ms};
use switchboard::engine::{self, ConnectorSpec, EngineOptions};
use switchboard::probe::{ProbePlan, ProbeRoute, RestTarget};
use switchboard::store::{KeySource, NewToken, Store, Vault};
use switchboard::tui::{App, Theme};

fn oauth_spec() -> AuthSpec {
    AuthSpec::OAuth(OAuthSpec {
        endpoints: Some(OAuthEndpoints {
            authorize: None,
            token: "http://127.0.0.1:9/token".into(),
            revoke: None,
            device: None,
            client_secret_post: false,
        }),
        issuer: None,
        client_id: "bench".into(),
        client_secret: None,
        scopes: vec![],
        pkce: true,
        extra_params: vec![],
        redirect_port: None,
        token_auth: None,
        scope_separator: " ".into(),
        resource: None,
        mcp: None,
    })
}

fn token() -> NewToken {
    NewToken {
        access: "bench-access-token".into(),
        refresh: Some("bench-refresh-token".into()),
        expires_at: Some(now_ms() + 3_600_000),
        issued_at: now_ms(),
        scopes: vec![],
    }
}

fn bench_broker(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_vault(dir.path(), Vault::from_key(&[3; 32], KeySource::Env)).unwrap();
    let broker = Broker::new(store, reqwest::Client::new());
    let key = ConnectionKey::new("bench", "default");
    rt.block_on(async {
        broker
            .register(key.clone(), oauth_spec(), false)
            .await
            .unwrap();
        broker.install(&key, token(), Actor::Cli).await.unwrap();
    });
    c.bench_function("broker access_token, cached", |b| {
        // The cached path never awaits anything pending, so a minimal executor measures the
        // broker rather than a runtime.
        b.iter(|| {
            futures::executor::block_on(broker.access_token(black_box(&key), Actor::Scheduler))
                .unwrap()
        })
    });
}

/// What a leader pays every 2 s to notice tokens other processes wrote: one query over the
/// tokens table and a generation compare per connection, when nothing changed.
fn bench_sync_all(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_vault(dir.path(), Vault::from_key(&[3; 32], KeySource::Env)).unwrap();
    let broker = Broker::new(store, reqwest::Client::new());
    rt.block_on(async {
        for i in 0..500 {
            let key = ConnectionKey::new(format!("c{i}"), "default");
            broker
                .register(key.clone(), oauth_spec(), false)
                .await
                .unwrap();
            broker.install(&key, token(), Actor::Cli).await.unwrap();
        }
    });
    c.bench_function("broker sync_all, 500 connections, nothing changed", |b| {
        b.iter(|| {
            let changed = rt.block_on(broker.sync_all()).unwrap();
            assert!(changed.is_empty());
        })
    });
}

fn specs(n: usize) -> Vec<ConnectorSpec> {
    (0..n)
        .map(|i| ConnectorSpec {
            id: format!("c{i:04}"),
            name: format!("Connector {i}"),
            auth: AuthSpec::None,
            plan: ProbePlan {
                route: ProbeRoute::Rest(RestTarget {
                    url: "http://127.0.0.1:9/".into(),
                    expect_status: vec![],
                }),
                timeout: std::time::Duration::from_secs(1),
            },
            probe: ProbeSchedule::Every(std::time::Duration::from_secs(30)),
            health: Default::default(),
            refresh_lead: std::time::Duration::from_secs(300),
            missing_env: vec![],
            problem: None,
            protocol_version: None,
            roots: Vec::new(),
        })
        .collect()
}

fn bench_snapshot_and_render(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_vault(dir.path(), Vault::from_key(&[4; 32], KeySource::Env)).unwrap();
    let running = rt
        .block_on(engine::start(
            store,
            specs(500),
            EngineOptions {
                scheduler: false,
                ..Default::default()
            },
        ))
        .unwrap();
    c.bench_function("snapshot build, 500 connections", |b| {
        b.iter(|| black_box(running.build_snapshot(now_ms())))
    });

    // The fleet the daemon is asked to hold (issue 16): every row with its windows read from
    // the store, as a leader's rows are.
    let big = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open_with_vault(dir.path(), Vault::from_key(&[4; 32], KeySource::Env)).unwrap();
        // `cargo test --all-targets` runs this once without `--bench`: a small fleet will do.
        let n = if std::env::args().any(|a| a == "--bench") {
            10_000
        } else {
            100
        };
        let specs = specs(n);
        for s in &specs {
            let key = switchboard::domain::ConnectionKey::new(s.id.clone(), "default");
            let probe = switchboard::domain::ProbeResult {
                at: now_ms() - 1_000,
                via: switchboard::domain::ProbeVia::Rest,
                latency_ms: 12,
                failure: None,
                primary_failure: None,
            };
            store.record_probe(&key, &probe).await.unwrap();
        }
        let running = engine::start(
            store,
            specs,
            EngineOptions {
                history: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        (dir, running)
    });
    c.bench_function("snapshot build, 10,000 connections with windows", |b| {
        b.iter(|| black_box(big.1.build_snapshot(now_ms())))
    });
    rt.block_on(big.1.shutdown());

    let snapshot = Arc::new(running.build_snapshot(now_ms()));
    let app = App::new(snapshot);
    let theme = Theme::builtin_default();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let now = now_ms();
    c.bench_function("dashboard render 120x40, 500 connections", |b| {
        b.iter(|| {
            terminal
                .draw(|f| switchboard::tui::view::render(f, &app, &theme, now))
                .unwrap();
        })
    });
    rt.block_on(running.shutdown());
}

criterion_group!(
    benches,
    bench_broker,
    bench_sync_all,
    bench_snapshot_and_render
);
criterion_main!(benches);
