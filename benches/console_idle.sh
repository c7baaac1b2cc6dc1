#!/usr/bin/env bash
# The console in tmux over N REST connections probed every 30 s against the lab's /health:
# start to first frame (the table drawn with every connection), and CPU over a minute of idling
# (redraws on change plus the 1 s tick). Numbers go to BENCHMARKS.md.
# Usage: benches/console_idle.sh [N] [SECONDS] [BINARY]   (default 100 60 target/debug/switchboard)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
SECS=${2:-60}
BIN=${3:-target/debug/switchboard}
[ -x "$BIN" ] || cargo build
work=$(mktemp -d)
sock="sb-idle-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

"$BIN" lab serve --token-ttl 600s > "$work/lab.json" &
for _ in $(seq 50); do [ -s "$work/lab.json" ] && break; sleep 0.1; done
rest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rest_base"])' "$work/lab.json")
python3 - "$N" "$rest" > "$work/config.toml" <<'PY'
import sys
n, rest = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(f'[[connectors]]\nid = "c{i:05}"\nkind = "rest"\n[connectors.rest]\nbase_url = "{rest}"\nhealth_path = "/health"\n[connectors.schedule]\nprobe = "30s"\n')
PY
t0=$(date +%s.%N)
tmux -L "$sock" new-session -d -s c -x 120 -y 40 \
  "env SWITCHBOARD_KEYRING=off SWITCHBOARD_KEY=$(head -c 32 /dev/urandom | base64) $BIN --config $work/config.toml --data-dir $work/data"
until tmux -L "$sock" capture-pane -p -t c 2>/dev/null | grep -q "connections ($N)"; do sleep 0.01; done
t1=$(date +%s.%N)
echo "start to first frame: $(python3 -c "print(round(($t1-$t0)*1000))") ms"
pane=$(tmux -L "$sock" display-message -p -t c '#{pane_pid}')
pid=$(cat /proc/$pane/task/$pane/children | awk '{print $1}')
[ -n "$pid" ] || pid=$pane
sleep 10
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu); s0=$(date +%s.%N)
sleep "$SECS"
c1=$(cpu); s1=$(date +%s.%N)
python3 -c "print(f'idle CPU over {float($s1)-float($s0):.0f} s with $N connections: {100*($c1-$c0)/$ticks/(float($s1)-float($s0)):.2f}% of a core')"
