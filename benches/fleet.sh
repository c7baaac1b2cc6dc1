#!/usr/bin/env bash
# Issue 16's fleet figures, measured from outside a release daemon (/proc, the store with
# sqlite, the lab's per-client counters at /admin/clients). One line per measure, as markdown
# table rows: | N | mode | measure | value | goal |
#
# Usage: benches/fleet.sh MODE N [SECONDS]
#   rest N [60]      N REST connections probing the lab's /health every 30 s: probes run /
#                    configured, on time (each connection's probe gaps 30 s ± 1 s), RSS (every
#                    10 s and at the end), CPU, fds, `status --json`, SIGTERM → exit.
#   cc N [330]       N client-credentials connections (one lab client each) probing /api/me
#                    with 5-minute tokens: every token replaced before expiry, token requests per
#                    connection counted at the lab, refreshes per second, bring-up time.
#   refresh N [330]  N authorization-code connections holding rotating refresh tokens, seeded
#                    through the real `auth` flow (`switchboard lab authorize-all`); as cc.
#   mcp N [120]      N MCP connections over streamable HTTP to the lab's one MCP server
#                    (client credentials): probe rounds, `initialize` per connection at the lab.
# Environment: BIN or SWITCHBOARD_BIN (default target/release/switchboard, built when missing), TTL (token
# lifetime in seconds, default 300), WARM (seconds before the measured window, default 35: past
# the start round and each connection's first probe at its phase, so every gap measured is one
# of the schedule's), CONCURRENCY (the daemon's probe gate, for the implied warm MCP round),
# KEEP=1 keeps the work directory, PROFILE_STATUS=1 records one more `status --json` under
# `perf` into it (status.perf).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?usage: benches/fleet.sh rest|cc|refresh|mcp N [SECONDS]}
N=${2:?usage: benches/fleet.sh rest|cc|refresh|mcp N [SECONDS]}
case $MODE in
rest) SECS=${3:-60} ;;
cc | refresh) SECS=${3:-330} ;;
mcp) SECS=${3:-120} ;;
*) echo "unknown mode $MODE (rest, cc, refresh, mcp)" >&2; exit 2 ;;
esac
TTL=${TTL:-300}
WARM=${WARM:-35}
CONCURRENCY=${CONCURRENCY:-128}
BIN=${BIN:-${SWITCHBOARD_BIN:-target/release/switchboard}}
if [ ! -x "$BIN" ]; then cargo build --release --bin switchboard; fi
command -v python3 >/dev/null || { echo "fleet.sh needs python3" >&2; exit 2; }
if [ "${PROFILE_STATUS:-0}" = 1 ] && ! command -v perf >/dev/null; then
	echo "PROFILE_STATUS=1 needs perf (Debian: apt-get install linux-perf)" >&2
	exit 2
fi

work=$(mktemp -d)
lab_pid="" daemon_pid=""
cleanup() {
	for p in $daemon_pid $lab_pid; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kib_of() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

"$BIN" lab serve --token-ttl "${TTL}s" --rest-failure-rate 0 >"$work/lab.json" 2>"$work/lab.log" &
lab_pid=$!
for _ in $(seq 100); do [ -s "$work/lab.json" ] && break; sleep 0.1; done
[ -s "$work/lab.json" ] || { echo "the lab did not start: $(cat "$work/lab.log")" >&2; exit 1; }
issuer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' "$work/lab.json")

python3 - "$MODE" "$N" "$issuer" >"$work/config.toml" <<'PY'
import sys
mode, n, iss = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    c = f'[[connectors]]\nid = "c{i:05}"\n'
    if mode == "mcp":
        c += f'kind = "mcp"\n[connectors.mcp]\ntransport = "streamable-http"\nurl = "{iss}/mcp"\n'
    else:
        path = "/health" if mode == "rest" else "/me"
        c += f'kind = "rest"\n[connectors.rest]\nbase_url = "{iss}/api"\nhealth_path = "{path}"\n'
    if mode in ("cc", "mcp"):
        c += (f'[connectors.auth]\ntype = "client-credentials"\ntoken_url = "{iss}/token"\n'
              f'client_id = "fleet-service-{i:05}"\nclient_secret = "demo-service-secret"\n'
              'scopes = ["mcp:tools", "api:read"]\n')
    elif mode == "refresh":
        c += (f'[connectors.auth]\ntype = "oauth2"\nauthorize_url = "{iss}/authorize"\n'
              f'token_url = "{iss}/token"\nclient_id = "fleet-{i:05}"\n'
              'scopes = ["mcp:tools", "api:read", "offline_access"]\nrotates_refresh_tokens = true\n')
    c += '[connectors.schedule]\nprobe = "30s"\n'
    print(c)
PY
SWITCHBOARD_KEY=$(head -c 32 /dev/urandom | base64)
export SWITCHBOARD_KEY
# Not a function for the daemon: `fn &` would fork a shell whose pid is not the daemon's.
SB=("$BIN" --config "$work/config.toml" --data-dir "$work/data")

seed_secs=""
if [ "$MODE" = refresh ]; then
	s0=$(now)
	"${SB[@]}" lab authorize-all --concurrency 64 >"$work/seed.out" 2>"$work/seed.err" ||
		{ echo "seeding failed: $(tail -3 "$work/seed.err")" >&2; exit 1; }
	seed_secs=$(python3 -c "print(f'{$(now) - $s0:.1f}')")
fi

start=$(now)
"${SB[@]}" daemon 2>"$work/daemon.err" &
daemon_pid=$!
lc_start=$(cpu_of "$lab_pid")
sleep "$WARM"
c0=$(cpu_of "$daemon_pid"); l0=$(cpu_of "$lab_pid"); t0=$(now)
# RSS every 10 s through the window, not only at its end: the whole-fleet window reads
# (every 30 s or more) peak between two samples of the end.
samples=""
for _ in $(seq $((SECS / 10))); do
	sleep 10
	samples="$samples $(kib_of "$daemon_pid" VmRSS)"
done
sleep $((SECS % 10))
c1=$(cpu_of "$daemon_pid"); l1=$(cpu_of "$lab_pid"); t1=$(now)
rss=$(kib_of "$daemon_pid" VmRSS); hwm=$(kib_of "$daemon_pid" VmHWM)
load=$(cut -d' ' -f1 /proc/loadavg)
fds=$(ls "/proc/$daemon_pid/fd" | wc -l)
# The first `status` pays for whatever of the binary's 40-odd MB of code the page cache
# lost (builds and test runs push it out); the next five show the steady cost.
s0=$(now)
"${SB[@]}" status --json >"$work/status.json" 2>"$work/status.err" || true
s1=$(now)
warm=""
# The daemon's CPU over the five answers, less what its probes took at the window's rate: what
# answering costs it (a `status` it answers moves work there, not only away).
a0=$(cpu_of "$daemon_pid"); at0=$(now)
for _ in 1 2 3 4 5; do
	w0=$(now)
	"${SB[@]}" status --json >/dev/null 2>&1 || true
	warm="$warm $(python3 -c "print($(now) - $w0)")"
done
a1=$(cpu_of "$daemon_pid"); at1=$(now)
# The daemon answers the `status` above from what it holds (its socket in the data
# directory); five more read the store themselves, as with no daemon running.
direct=""
for _ in 1 2 3 4 5; do
	w0=$(now)
	"${SB[@]}" status --json --no-daemon >/dev/null 2>&1 || true
	direct="$direct $(python3 -c "print($(now) - $w0)")"
done
# PROFILE_STATUS=1: one more `status`, under perf, kept with the work directory.
if [ "${PROFILE_STATUS:-0}" = 1 ]; then
	perf record -q -F 4000 --call-graph dwarf,32768 -o "$work/status.perf" -- \
		"${SB[@]}" status --json >/dev/null 2>"$work/perf.err" || true
	KEEP=1
fi
curl -sf "$issuer/admin/stats" >"$work/stats.json" || echo '{}' >"$work/stats.json"
curl -sf "$issuer/admin/clients" >"$work/clients.json" || echo '{}' >"$work/clients.json"
# SIGTERM → exit, bounded: a daemon that hangs is killed and reported as such.
k0=$(now)
kill -TERM "$daemon_pid"
exited=""
for _ in $(seq 6000); do
	kill -0 "$daemon_pid" 2>/dev/null || { exited=$(now); break; }
	sleep 0.01
done
[ -n "$exited" ] || kill -KILL "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""
lost=$(cat "$work"/data/*.log* "$work/daemon.err" 2>/dev/null | grep -c "still running at shutdown" || true)

export samples CONCURRENCY load MODE N SECS TTL work start t0 t1 ticks c0 c1 l0 l1 lc_start rss hwm fds s0 s1 warm direct a0 a1 at0 at1 k0 exited lost seed_secs
python3 - <<'PY'
import json, os, sqlite3
e = os.environ
mode, n, secs, ttl, work = e["MODE"], int(e["N"]), int(e["SECS"]), int(e["TTL"]), e["work"]
start, t0, t1, s0, s1, k0 = (float(e[k]) for k in ("start", "t0", "t1", "s0", "s1", "k0"))
ticks, c0, c1, l0, l1, lc_start = (float(e[k]) for k in ("ticks", "c0", "c1", "l0", "l1", "lc_start"))
a0, a1, at0, at1 = (float(e[k]) for k in ("a0", "a1", "at0", "at1"))
rss, hwm, fds = int(e["rss"]), int(e["hwm"]), int(e["fds"])
exited, lost, seed = e["exited"], int(e["lost"] or 0), e["seed_secs"]
label = {"rest": "REST", "cc": "client credentials", "refresh": "refresh token", "mcp": "MCP"}[mode]
def row(measure, value, goal=""):
    print(f"| {n:,} | {label} | {measure} | {value} | {goal} |")
def pct(a, b):
    return f"{100 * a / b:.1f} %" if b else "n/a"
def quant(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0

db = sqlite3.connect(f"file:{work}/data/switchboard.db?mode=ro", uri=True)
w0, w1 = int(t0 * 1000), int(t1 * 1000)
probes = {}
for key, at, ok, ms in db.execute("SELECT connector, at, ok, latency_ms FROM probes ORDER BY at"):
    probes.setdefault(key, []).append((at, ok, ms))
in_window = sum(1 for ps in probes.values() for at, _, _ in ps if w0 <= at < w1)
configured = n * secs / 30
# A probe is on time when it starts 30 s ± 1 s after the connection's previous one; a missed
# probe leaves one long gap and one configured probe without a gap, so neither counts.
on_time = sum(1 for ps in probes.values() for (a, _, _), (b, _, _) in zip(ps, ps[1:])
              if w0 <= b < w1 and abs(b - a - 30000) <= 1000)
row(f"probes run / configured ({secs} s)", f"{in_window:,} / {configured:,.0f} ({pct(in_window, configured)})", "≥ 99 %")
row("probes on time (gap 30 s ± 1 s) / configured", pct(on_time, configured), "≥ 99 %")
lat = [ms for ps in probes.values() for at, _, ms in ps if w0 <= at < w1]
if lat:
    row("probe latency p50 / p99 / max", f"{quant(lat, .5)} / {quant(lat, .99)} / {max(lat)} ms")
first_ok = [next((at for at, ok, _ in ps if ok), None) for ps in probes.values()]
up = [a for a in first_ok if a is not None]
row("connections up at least once / N", f"{len(up):,} / {n:,}")
if len(up) == n:
    row("start → every connection probed ok", f"{max(up) / 1000 - start:.1f} s")
row("daemon RSS (peak)", f"{rss / 1024:.0f} MiB ({hwm / 1024:.0f} MiB)",
    {"rest": "≤ 128 MiB", "cc": "≤ 256 MiB", "refresh": "≤ 256 MiB"}.get(mode, ""))
rs = sorted(int(x) for x in e["samples"].split())
if rs:
    row("daemon RSS every 10 s over the window: min / median / max",
        f"{rs[0] / 1024:.0f} / {rs[len(rs) // 2] / 1024:.0f} / {rs[-1] / 1024:.0f} MiB",
        "max ≤ 128 MiB" if mode == "rest" else "")
row("daemon CPU over the window (one core = 100 %)", f"{(c1 - c0) / ticks / (t1 - t0) * 100:.1f} %",
    "≤ 25 %" if mode == "rest" else "")
row("daemon open fds", f"{fds:,}")
row("machine load average (1 min) at the end of the window", e["load"])
row("lab CPU over the window / over the run", f"{(l1 - l0) / ticks / (t1 - t0) * 100:.1f} % / {(l1 - lc_start) / ticks / (t1 - start) * 100:.1f} %")
try:
    rows = json.load(open(f"{work}/status.json"))
    by = {}
    for r in rows:
        by[r["health"]] = by.get(r["health"], 0) + 1
    health = ", ".join(f"{v:,} {k}" for k, v in sorted(by.items()))
except Exception as e:
    health = f"unreadable ({e})"
warm = sorted(float(w) for w in e["warm"].split())
row("`status --json`: the first / the median of the next five",
    f"{s1 - s0:.2f} s / {warm[len(warm) // 2]:.2f} s" if warm else f"{s1 - s0:.2f} s", "≤ 0.2 s")
answer_cpu = ((a1 - a0) / ticks - (c1 - c0) / ticks / (t1 - t0) * (at1 - at0)) / 5
row("daemon CPU per `status` it answered (beyond its probes' rate)", f"{max(answer_cpu, 0) * 1000:.0f} ms")
answered = open(f"{work}/status.err").read().strip()
row("`status` answered by the daemon", "yes" if not answered else f"no: {answered[:200]}")
direct = sorted(float(w) for w in e["direct"].split())
if direct:
    row("`status --json --no-daemon` (reads the store itself): median of five", f"{direct[len(direct) // 2]:.2f} s")
row("health at the end", health)
row("SIGTERM → exit", f"{float(exited) - k0:.2f} s" if exited else "> 60 s (killed)", "≤ 2 s")
row("'still running at shutdown' in the log", lost, "0")

stats = json.load(open(f"{work}/stats.json"))
clients = json.load(open(f"{work}/clients.json"))
def hist(name):
    h = clients.get(name, {})
    return ", ".join(f"{int(k)}: {v:,}" for k, v in sorted(h.items(), key=lambda kv: int(kv[0]))) or "none"
if mode in ("cc", "refresh", "mcp"):
    row("token requests at the lab / connections", f"{stats.get('token_requests', 0):,} / {n:,}")
    row("token requests per connection (requests: connections)", hist("token_requests"))
    row("expired tokens presented (lab)", stats.get("expired_token_uses", "?"), "0")
    row("refresh-token reuse detected (lab)", stats.get("reuse_detected", "?"), "0")
if mode in ("cc", "refresh"):
    got = {}
    # Every token obtained: the seeding's `auth` (refresh mode), then the daemon's refreshes.
    for key, at, ms in db.execute("SELECT connector, at, latency_ms FROM events WHERE kind IN ('refresh', 'auth') AND outcome = 'ok' ORDER BY at"):
        got.setdefault(key, []).append((at, ms))
    failed = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'refresh' AND outcome = 'failed'").fetchone()[0]
    end = int(t1 * 1000)
    # The token a connection held ran out before the next one came (or before the end).
    # A token seeded long before the daemon started is not the daemon's to have refreshed.
    born = int(start * 1000) - ttl * 1000
    late = sum(1 for ts in got.values() for (a, _), (b, _) in zip(ts, ts[1:]) if b - a > ttl * 1000 and a > born)
    late += sum(1 for ts in got.values() if end - ts[-1][0] > ttl * 1000)
    late += n - len(got)
    row("tokens that expired before the next was obtained", late, "0")
    later = [at for ts in got.values() for at, _ in ts[1:]]
    row("refreshes (after the first token) / failed", f"{len(later):,} / {failed:,}")
    asked = stats.get("token_requests", 0)
    logged = sum(len(ts) for ts in got.values()) + failed
    row("token requests at the lab beyond those the store logged", f"{asked - logged:,} ({pct(asked - logged, logged)})", "0")
    per_sec = {}
    for at in later:
        per_sec[at // 1000] = per_sec.get(at // 1000, 0) + 1
    if per_sec:
        top = max(per_sec.values())
        row("most refreshes in one second", f"{top:,} ({pct(top, n)} of the fleet)", "a few %")
    firsts = [ts[0][0] for ts in got.values()]
    if firsts:
        per_sec = {}
        for at in firsts:
            per_sec[at // 1000] = per_sec.get(at // 1000, 0) + 1
        row("bring-up: first tokens over / most in one second", f"{(max(firsts) - min(firsts)) / 1000:.1f} s / {max(per_sec.values()):,}")
    lat = [ms for ts in got.values() for _, ms in ts[1:] if ms is not None]
    if lat:
        row("refresh latency p50 / p99 / max", f"{quant(lat, .5)} / {quant(lat, .99)} / {max(lat)} ms")
if mode == "refresh" and seed:
    row(f"seeding {n:,} grants (`lab authorize-all`)", f"{seed} s")
if mode == "mcp":
    row("`initialize` at the lab / connections", f"{stats.get('mcp_initialize', 0):,} / {n:,}", "1 per connection")
    row("`initialize` per connection (initializes: connections)", hist("mcp_initialize"), "1: N")
    rounds = [len(ps) for ps in probes.values()]
    row("probes per connection min / max", f"{min(rounds, default=0)} / {max(rounds, default=0)}")
    # Round k: every connection's k-th probe, from the first start to the last end.
    for k in range(max(rounds, default=0)):
        kth = [ps[k] for ps in probes.values() if len(ps) > k]
        if len(kth) < n:
            break
        span = max(at + ms for at, _, ms in kth) - min(at for at, _, _ in kth)
        ok = sum(1 for _, o, _ in kth if o)
        if k == 0:
            row("round 1 (cold: token, initialize, ping; all due at start): first start → last end, ok", f"{span / 1000:.2f} s, {ok:,} ok", "< 2 s")
            continue
        # Spread probes make a round span the interval by design; what the gate needs for
        # one warm round is the probes' summed time over its width.
        busy = sum(ms for _, _, ms in kth) / int(e["CONCURRENCY"])
        row(f"round {k + 1} (warm): first start → last end; summed probe time / {e['CONCURRENCY']} slots; ok", f"{span / 1000:.2f} s; {busy / 1000:.2f} s; {ok:,} ok", "< 2 s")
PY
