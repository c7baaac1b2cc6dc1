#!/usr/bin/env bash
# A daemon holding N REST connections probed every 30 s against the lab's /health (no auth),
# measured from outside: RSS, CPU over a minute, open fds, and how long `status --json` takes.
# Usage: benches/fleet_idle.sh [N] [SECONDS]   (release binary; numbers go to BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
SECS=${2:-60}
BIN=${SWITCHBOARD_BIN:-target/release/switchboard}
[ -x "$BIN" ] || cargo build --release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

"$BIN" lab serve --token-ttl 600s > "$work/lab.json" &
for _ in $(seq 50); do [ -s "$work/lab.json" ] && break; sleep 0.1; done
rest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rest_base"])' "$work/lab.json")
python3 - "$N" "$rest" > "$work/config.toml" <<'PY'
import sys
n, rest = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(f'[[connectors]]\nid = "c{i:05}"\nkind = "rest"\n[connectors.rest]\nbase_url = "{rest}"\nhealth_path = "/health"\n[connectors.schedule]\nprobe = "30s"\n')
PY
export SWITCHBOARD_KEY=$(head -c 32 /dev/urandom | base64)
"$BIN" --config "$work/config.toml" --data-dir "$work/data" daemon 2>"$work/daemon.log" &
pid=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# Past start-up and the first round.
sleep 20
c0=$(cpu); t0=$(date +%s.%N)
sleep "$SECS"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
fds=$(ls "/proc/$pid/fd" | wc -l)
s0=$(date +%s.%N)
"$BIN" --config "$work/config.toml" --data-dir "$work/data" status --json > "$work/status.json"
s1=$(date +%s.%N)
probes=$(sqlite3 "$work/data/switchboard.db" "SELECT COUNT(*) FROM probes WHERE at >= (strftime('%s','now') - $SECS) * 1000" 2>/dev/null || echo "?")
python3 - "$N" "$SECS" "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$fds" "$s0" "$s1" "$probes" "$work/status.json" <<'PY'
import json, sys
n, secs, c0, c1, t0, t1, ticks, rss, fds, s0, s1, probes, status = sys.argv[1:]
cpu = (float(c1) - float(c0)) / float(ticks) / (float(t1) - float(t0)) * 100
rows = json.load(open(status))
by = {}
for r in rows:
    by[r["health"]] = by.get(r["health"], 0) + 1
print(f"N={n}: RSS {int(rss)/1024:.0f} MiB, CPU {cpu:.1f}% of a core over {secs}s, {fds} fds, "
      f"status --json {float(s1)-float(s0):.2f}s, probes in the last {secs}s: {probes} "
      f"(schedule asks {int(n)*int(secs)//30}), health {by}")
PY
kill -TERM "$pid"
