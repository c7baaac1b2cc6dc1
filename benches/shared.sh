#!/usr/bin/env bash
# Issue 14's figures: DAEMONS release daemons, each on a data directory of its own, sharing one
# PostgreSQL and N authorization-code connections that hold rotating refresh tokens (seeded
# through the real `auth` flow into the database) against the lab, for SECONDS. Measured from
# outside: tokens that expired before the next was obtained (from every daemon's event log), the
# lab's token requests per connection, refreshes per second, each daemon's RSS and CPU, and the
# database's CPU and transactions. One markdown table row per measure:
# | daemons | N | measure | value |
#
# Usage: benches/shared.sh DAEMONS N [SECONDS]
# Environment: BIN (default target/release/switchboard, built when missing), TTL (token
# lifetime, default 300 s), WARM (seconds before the measured window, default 35), KEEP=1.
# Needs Debian's postgresql (its binaries under /usr/lib/postgresql) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:?usage: benches/shared.sh DAEMONS N [SECONDS]}
N=${2:?usage: benches/shared.sh DAEMONS N [SECONDS]}
SECS=${3:-330}
TTL=${TTL:-300}
WARM=${WARM:-35}
BIN=${BIN:-target/release/switchboard}
BIN=$(realpath "$BIN" 2>/dev/null || echo "$BIN")
if [ ! -x "$BIN" ]; then cargo build --release --bin switchboard; BIN=$(realpath target/release/switchboard); fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "shared.sh needs PostgreSQL (apt-get install postgresql)" >&2; exit 2; }

work=$(mktemp -d)
chmod 755 "$work"
pids=() lab_pid="" pg_pid=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
	for p in "${pids[@]}" $lab_pid; do kill -KILL "$p" 2>/dev/null || true; done
	[ -n "$pg_pid" ] && as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now() { date +%s.%N; }
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
kib_of() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
pg_cpu() { local t=0; for p in $(pgrep -u postgres -f "postgres" || true); do t=$((t + $(cpu_of "$p"))); done; echo $t; }

# PostgreSQL: a cluster of its own in the work directory, on a free loopback port.
mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$PGBIN/initdb" -D "$work/pg" -U switchboard --auth=trust >"$work/initdb.log" 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
	-o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
pg_pid=1
URL="postgres://switchboard@127.0.0.1:$port/postgres?sslmode=disable"
psql() { "$PGBIN/psql" -qAt "$URL" -c "$1"; }

"$BIN" lab serve --token-ttl "${TTL}s" --rest-failure-rate 0 >"$work/lab.json" 2>"$work/lab.log" &
lab_pid=$!
for _ in $(seq 100); do [ -s "$work/lab.json" ] && break; sleep 0.1; done
[ -s "$work/lab.json" ] || { echo "the lab did not start: $(cat "$work/lab.log")" >&2; exit 1; }
issuer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' "$work/lab.json")
python3 - "$N" "$issuer" >"$work/config.toml" <<'PY'
import sys
n, iss = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(f'[[connectors]]\nid = "c{i:05}"\nkind = "rest"\n[connectors.rest]\n'
          f'base_url = "{iss}/api"\nhealth_path = "/me"\n[connectors.auth]\ntype = "oauth2"\n'
          f'authorize_url = "{iss}/authorize"\ntoken_url = "{iss}/token"\nclient_id = "fleet-{i:05}"\n'
          'scopes = ["mcp:tools", "api:read", "offline_access"]\nrotates_refresh_tokens = true\n'
          '[connectors.schedule]\nprobe = "30s"\n')
PY
SWITCHBOARD_KEY=$(head -c 32 /dev/urandom | base64)
SWITCHBOARD_DATABASE_URL=$URL
export SWITCHBOARD_KEY SWITCHBOARD_DATABASE_URL

s0=$(now)
"$BIN" --config "$work/config.toml" --data-dir "$work/seed" lab authorize-all --concurrency 64 \
	>"$work/seed.out" 2>"$work/seed.err" || { echo "seeding failed: $(tail -3 "$work/seed.err")" >&2; exit 1; }
seed_secs=$(python3 -c "print(f'{$(now) - $s0:.1f}')")

start=$(now)
for i in $(seq "$D"); do
	"$BIN" --config "$work/config.toml" --data-dir "$work/d$i" daemon 2>"$work/d$i.err" &
	pids+=($!)
done
sleep "$WARM"
declare -A c0
for p in "${pids[@]}"; do c0[$p]=$(cpu_of "$p"); done
g0=$(pg_cpu); l0=$(cpu_of "$lab_pid"); t0=$(now)
x0=$(psql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'")
f0=$(psql "SELECT COALESCE(max(id), 0) FROM feed")
sleep "$SECS"
t1=$(now); g1=$(pg_cpu); l1=$(cpu_of "$lab_pid")
x1=$(psql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'")
f1=$(psql "SELECT COALESCE(max(id), 0) FROM feed")
feed_mb=$(psql "SELECT round(pg_total_relation_size('feed') / 1048576.0, 1)")
per=""
for p in "${pids[@]}"; do
	per="$per $(cpu_of "$p"):${c0[$p]}:$(kib_of "$p" VmRSS):$(kib_of "$p" VmHWM)"
done
parts=$(psql "SELECT holder, count(*) FROM leases WHERE name LIKE 'partition:%' AND expires_at > switchboard_now_ms() GROUP BY holder ORDER BY holder" | tr '\n' ' ')
curl -sf "$issuer/admin/clients" >"$work/clients.json" || echo '{}' >"$work/clients.json"
curl -sf "$issuer/admin/stats" >"$work/stats.json" || echo '{}' >"$work/stats.json"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

export D N SECS TTL work start t0 t1 ticks g0 g1 l0 l1 x0 x1 f0 f1 feed_mb per parts seed_secs
python3 - <<'PY'
import json, os, sqlite3, glob
e = os.environ
d, n, ttl = int(e["D"]), int(e["N"]), int(e["TTL"])
t0, t1, start = float(e["t0"]), float(e["t1"]), float(e["start"])
wall, ticks = t1 - t0, int(e["ticks"])
def row(k, v): print(f"| {d} | {n:,} | {k} | {v} |")
born = int(start * 1000)
# Each daemon's log also holds the others' lines (the feed), so a refresh counts once by its
# connection and instant.
got, failed = {}, set()
for db in sorted(glob.glob(f"{e['work']}/d*/switchboard.db")) + [f"{e['work']}/seed/switchboard.db"]:
    c = sqlite3.connect(db)
    for key, at in c.execute("SELECT connector, at FROM events WHERE kind IN ('refresh', 'auth') AND outcome = 'ok'"):
        got.setdefault(key, set()).add(at)
    failed |= set(c.execute("SELECT connector, at FROM events WHERE kind = 'refresh' AND outcome != 'ok'"))
failed = len(failed)
end = int(t1 * 1000)
got = {k: sorted(v) for k, v in got.items()}
late = sum(1 for ts in got.values() for a, b in zip(ts, ts[1:]) if b - a > ttl * 1000 and a > born)
late += sum(1 for ts in got.values() if end - ts[-1] > ttl * 1000)
late += n - len(got)
refreshes = [at for ts in got.values() for at in ts[1:] if at > born]
row("tokens that expired before the next was obtained", late)
row("refreshes / failed", f"{len(refreshes):,} / {failed:,}")
if refreshes:
    per_s = {}
    for at in refreshes: per_s[at // 1000] = per_s.get(at // 1000, 0) + 1
    row("refreshes per second: mean over the run / busiest second", f"{len(refreshes) / (end / 1000 - start):.1f} / {max(per_s.values())}")
clients = json.load(open(f"{e['work']}/clients.json"))
stats = json.load(open(f"{e['work']}/stats.json"))
h = clients.get("token_requests", {})
row("token requests per connection (requests: connections, seeding included)",
    ", ".join(f"{int(k)}: {v:,}" for k, v in sorted(h.items(), key=lambda kv: int(kv[0]))) or "none")
row("refresh-token reuse detected / expired tokens presented (lab)",
    f"{stats.get('reuse_detected', '?')} / {stats.get('expired_token_uses', '?')}")
for i, item in enumerate(e["per"].split()):
    c1, c0, rss, hwm = (int(x) for x in item.split(":"))
    row(f"daemon {i + 1}: CPU / RSS (peak)", f"{100 * (c1 - c0) / ticks / wall:.1f} % / {rss // 1024} MiB ({int(hwm) // 1024})")
row("PostgreSQL CPU (all its processes)", f"{100 * (int(e['g1']) - int(e['g0'])) / ticks / wall:.1f} %")
row("PostgreSQL transactions per second", f"{(int(e['x1']) - int(e['x0'])) / wall:.1f}")
row("feed rows published per second / its table at the end", f"{(int(e['f1']) - int(e['f0'])) / wall:.1f} / {e['feed_mb']} MiB")
row("lab CPU", f"{100 * (int(e['l1']) - int(e['l0'])) / ticks / wall:.1f} %")
row("partitions held at the end (per daemon)", " ".join(p.split("|")[1] for p in e["parts"].split()) or "—")
row(f"seeding {n:,} grants into PostgreSQL", f"{e['seed_secs']} s")
PY
