#!/usr/bin/env bash
# run.sh builds and starts cmd/mangosim on a free loopback port, installs the official Mangopay
# Node SDK (package.json pins mangopay4-nodejs-sdk) and runs check.js against the simulator.
# Exit status is check.js's. Needs go, node and npm (registry access for npm install).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

client_id=${MANGOSIM_CLIENT_ID:-nodesdk-client}
api_key=${MANGOSIM_API_KEY:-nodesdk-api-key}

(cd "$root" && go build -o "$tmp/mangosim" ./cmd/mangosim)
# Port 0: the kernel picks a free port; the simulator prints the address it got.
"$tmp/mangosim" -addr 127.0.0.1:0 -client-id "$client_id" -api-key "$api_key" >"$tmp/sim.out" 2>&1 &
pid=$!

addr=""
for _ in $(seq 1 100); do
	addr=$(sed -n 's/^mangosim listening addr=//p' "$tmp/sim.out")
	[ -n "$addr" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/sim.out" >&2; exit 1; }
	sleep 0.1
done
[ -n "$addr" ] || { echo "mangosim did not start" >&2; cat "$tmp/sim.out" >&2; exit 1; }
echo "mangosim started addr=$addr"

cd "$here"
npm install --no-audit --no-fund --loglevel=error
MANGOSIM_URL="http://$addr" MANGOSIM_CLIENT_ID="$client_id" MANGOSIM_API_KEY="$api_key" node check.js
