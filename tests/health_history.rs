//! Health over time through the real binary: probes recorded by one-shot commands are windows
//! (success rate, percentiles) in a later `status --json`, read from the store, so every process
//! shows the same numbers.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::hostile::{Hostile, Reply};

#[test]
fn status_shows_windows_from_the_probes_other_processes_recorded() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    // Every fourth probe fails.
    let api = rt.block_on(Hostile::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) % 4 == 3 {
            Reply::text(503, "text/plain", "maintenance")
        } else {
            Reply::json(200, serde_json::json!({"ok": true}))
        }
    }));
    let config = format!(
        "[[connectors]]\nid = \"api\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"{}\"\nhealth_path = \"/health\"\n",
        api.url("")
    );
    let mut s = cli::Session::new(&config);
    for _ in 0..8 {
        s.run(&["probe", "api"]);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 8);
    let status = s.expect(&["status", "--json"], 0);
    let rows = cli::parse_json(&status.stdout);
    let probes = &rows[0]["history"]["probes"];
    for window in ["5m", "1h", "24h", "7d"] {
        assert_eq!(probes[window]["samples"], 8, "{window}: {status}");
        assert_eq!(probes[window]["success_rate"], 0.75, "{window}: {status}");
        assert!(probes[window]["p95_ms"].is_u64(), "{window}: {status}");
    }
    // Nothing refreshed and no tool was called: no data, not 0%.
    let refreshes = &rows[0]["history"]["refreshes"]["1h"];
    assert_eq!(refreshes["samples"], 0, "{status}");
    assert!(refreshes["success_rate"].is_null(), "{status}");
}
