#!/usr/bin/env bash
# The part of the kill -9 window that is switchboard's own: from the token endpoint's answer to
# the committed save, over N `switchboard refresh` runs against the lab (client credentials).
# Every refresh logs it at debug level ("token answer after A ms, saved B us later").
#
#   benches/kill_window.sh            # N=100, the debug binary
#   N=300 BIN=target/release/switchboard benches/kill_window.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/switchboard}
N=${N:-100}
[ -x "$BIN" ] || cargo build --quiet
export SWITCHBOARD_KEYRING=off
work=$(mktemp -d)
"$BIN" lab serve --token-ttl 600s >"$work/lab.out" 2>/dev/null &
lab=$!
trap 'kill $lab 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/lab.out" ] && break; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.loads(open('$work/lab.out').readline())['$1'])"; }
issuer=$(field issuer)
cat >"$work/config.toml" <<EOF
[[connectors]]
id = "svc"
kind = "rest"
[connectors.rest]
base_url = "$(field rest_base)"
[connectors.auth]
type = "client-credentials"
token_url = "$issuer/token"
client_id = "demo-service"
client_secret = "demo-service-secret"
EOF
for _ in $(seq "$N"); do
  SWITCHBOARD_LOG=debug "$BIN" --config "$work/config.toml" --data-dir "$work/data" refresh svc >/dev/null
done
grep -o "saved [0-9]* us later" "$work/data/switchboard.log" | awk '{print $2}' | sort -n | awk '
  {s[NR]=$1}
  END {printf "answer -> committed save over %d refreshes (us): min %d p50 %d p90 %d p99 %d max %d\n",
       NR, s[1], s[int(NR*0.5)], s[int(NR*0.9)], s[int(NR*0.99)], s[NR]}'
