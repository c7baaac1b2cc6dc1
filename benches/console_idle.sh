#!/usr/bin/env bash
# The console in tmux (120x40) over N REST connections probed every 30 s against the lab's
# /health, measured from outside:
#   - start to first frame (tmux start to the table drawn with every connection),
#   - one keypress (j) to the frame that shows the selection moved (median and worst of 20),
#   - 50 x j sent at once to the frame that shows the 50th row selected,
#   - idle CPU of the console process over SECONDS (and its RSS),
#   - q to the terminal restored (the alternate screen left) and to the process gone.
# MODE `follower`: a `switchboard daemon` on the same data directory leads and the console
# follows it (the normal set-up for a large fleet); `leader`: the console leads itself, so the
# engine's probing runs in the console's process; `both` (default) runs one after the other.
# SEED_MINUTES=M (environment) first writes M minutes of probe results for every connection
# (two a minute, as a 30 s schedule leaves them) into the data directory: what a console
# started beside a daemon that has run a while reads before its first frame (the engine loads
# the last hour of probes).
# Numbers go to BENCHMARKS.md.
# SETTLE=S (environment, follower mode) starts the console S seconds after the daemon (3).
# STARTS=K (environment) times the start K times (median, min, max); the rest on the last.
# Usage: [SEED_MINUTES=M] [SETTLE=S] benches/console_idle.sh [N] [SECONDS] [BINARY] [MODE]
#        (default 100 60 target/release/switchboard both)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
SECS=${2:-60}
BIN=${3:-target/release/switchboard}
MODE=${4:-both}
[ -x "$BIN" ] || cargo build --release --bin switchboard
work=$(mktemp -d)
sock="sb-idle-$$"
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$BIN" lab serve --token-ttl 600s > "$work/lab.json" &
for _ in $(seq 100); do [ -s "$work/lab.json" ] && break; sleep 0.1; done
rest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rest_base"])' "$work/lab.json")
python3 - "$N" "$rest" > "$work/config.toml" <<'PY'
import sys
n, rest = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(f'[[connectors]]\nid = "c{i:05}"\nkind = "rest"\n[connectors.rest]\nbase_url = "{rest}"\nhealth_path = "/health"\n[connectors.schedule]\nprobe = "30s"\n')
PY
export SWITCHBOARD_KEYRING=off
SWITCHBOARD_KEY=$(head -c 32 /dev/urandom | base64)
export SWITCHBOARD_KEY

# One run of the console: $1 = follower|leader, on its own data directory.
run() {
  local mode=$1 data="$work/data-$1" daemon_pid=""
  mkdir -p "$data"
  if [ "${SEED_MINUTES:-0}" -gt 0 ]; then
    # A one-shot command creates the store and its schema; then the rows go in directly.
    "$BIN" --config "$work/config.toml" --data-dir "$data" status --json > /dev/null || true
    python3 - "$data/switchboard.db" "$N" "$SEED_MINUTES" <<'PY'
import sqlite3, sys, time
db, n, minutes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time() * 1000)
c = sqlite3.connect(db)
# Oldest first, as a daemon writes them: row ids follow time, which the start's replay reads by.
rows = ((f"c{i:05}", "default", now - k * 30_000 - (i * 997) % 30_000, "rest", 1, 5 + i % 40)
        for k in reversed(range(minutes * 2)) for i in range(n))
c.executemany("INSERT INTO probes (connector, account, at, via, ok, latency_ms) VALUES (?,?,?,?,?,?)", rows)
c.commit()
print(f"  seeded {minutes * 2 * n} probe rows ({minutes} min of {n} connections)")
PY
  fi
  if [ "$mode" = follower ]; then
    "$BIN" --config "$work/config.toml" --data-dir "$data" daemon 2> "$work/daemon.err" &
    daemon_pid=$!
    for _ in $(seq 600); do grep -q "switchboard daemon:" "$work/daemon.err" 2>/dev/null && break; sleep 0.1; done
    # The daemon takes the lease on its first scheduler pass; a console started before that
    # could lead instead. SETTLE=S waits longer: past the daemon's own start (its first probe
    # round and window read), which otherwise shares the two cores with the console's.
    sleep "${SETTLE:-3}"
  fi
  python3 benches/console_probe.py "$sock" "$BIN" "$work/config.toml" "$data" "$N" "$SECS" "$mode"
  if [ -n "$daemon_pid" ]; then
    local t0 t1
    t0=$(date +%s.%N)
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    t1=$(date +%s.%N)
    echo "  (daemon SIGTERM to exit: $(python3 -c "print(round(($t1-$t0)*1000))") ms)"
  fi
  # The log lines the console writes on its way to the first frame and out.
  grep -h "console starting\|engine started\|console: first frame\|console closed" "$data"/*.log* 2>/dev/null \
    | sed 's/^/  log: /' || true
}

case "$MODE" in
  both) run follower; run leader ;;
  *) run "$MODE" ;;
esac
