#!/usr/bin/env bash
# Browser tests of the web interface: build reagent, ingest the demo corpus into a
# temporary data folder, seed the database, create an API key per role, serve on a
# free port, run e2e/ (playwright-core driving Debian's headless Chromium), stop the
# server. Screenshots go to artifacts/screenshots/ (git-ignored).
#   scripts/e2e.sh            everything
#   E2E_KEEP=1 ...    keep the temporary folder (its path is printed)
#   E2E_SKIP_BUILD=1  use the debug binary already built (scripts/test.sh does)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

scripts/setup-models.sh
scripts/setup-browser.sh

# The binary as the test build makes it (same features as `cargo test`, so nothing is
# rebuilt after scripts/test.sh's build, which sets E2E_SKIP_BUILD=1).
if [ "${E2E_SKIP_BUILD:-0}" != 1 ]; then
  cargo test --locked --no-run --test it
fi
bin="${CARGO_TARGET_DIR:-$root/target}/debug/reagent"
[ -x "$bin" ] || { echo "e2e: $bin is missing; build it first" >&2; exit 1; }

work="$(mktemp -d -t reagent-e2e-XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${E2E_KEEP:-0}" = 1 ]; then echo "e2e: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Everything the server writes lives in $work; no reagent.toml is read.
export REAGENT_CONFIG="$work/reagent.toml"
: > "$REAGENT_CONFIG"
export REAGENT_STORE_DATA_DIR="$work/qdrant"
export REAGENT_DATABASE_URL="sqlite://$work/reagent.db?mode=rwc"
export REAGENT_LLM_ENABLED=false
export REAGENT_WEB_EVAL_REPORTS_DIR="${E2E_EVAL_REPORTS:-$root/eval/reports}"
# One browser from one address signs in several times: no rate limit in this run.
export REAGENT_LIMITS_REQUESTS_PER_SECOND=0

"$bin" ingest corpus >"$work/ingest.log"
"$bin" db seed >/dev/null

key() { # role → the new key (the line starting rk_)
  "$bin" keys create --name "e2e-$1" --role "$1" | grep -o 'rk_[0-9a-f]*_[0-9a-f]*' | head -n1
}
E2E_KEY_OFFICER="$(key compliance_officer)"
E2E_KEY_VIEWER="$(key viewer)"
E2E_KEY_EDITOR="$(key policy_editor)"
export E2E_KEY_OFFICER E2E_KEY_VIEWER E2E_KEY_EDITOR
for k in "$E2E_KEY_OFFICER" "$E2E_KEY_VIEWER" "$E2E_KEY_EDITOR"; do
  [ -n "$k" ] || { echo "e2e: could not create API keys (reagent keys create)" >&2; exit 1; }
done

# A new version of the wire transfer manual: later date, one section reworded.
upload="$work/upload/wire-transfer-manual.md"
mkdir -p "$(dirname "$upload")"
sed -e 's/^version: .*/version: "2026-06-01"/' \
    -e 's/^effective_from: .*/effective_from: 2026-06-01/' \
    corpus/wire-transfer-manual.md >"$upload"
# Reword the first paragraph after the first level-3 heading.
awk 'BEGIN{done=0; seen=0} /^### /{seen=1} { if (seen && !done && $0 != "" && $0 !~ /^#/) { print $0 " This sentence was added in the 2026-06-01 revision."; done=1 } else print }' \
  "$upload" >"$upload.tmp" && mv "$upload.tmp" "$upload"
export E2E_UPLOAD_FILE="$upload" E2E_UPLOAD_DOC=hfb-wire-transfer-manual E2E_UPLOAD_VERSION=2026-06-01

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
export E2E_URL="http://127.0.0.1:$port"
healthy() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)' "$E2E_URL" 2>/dev/null; }
for _ in $(seq 1 120); do
  healthy && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "e2e: the server exited" >&2; exit 1; }
  sleep 0.5
done
healthy || { echo "e2e: the server did not come up" >&2; exit 1; }

export E2E_SCREENSHOTS="$root/artifacts/screenshots"
mkdir -p "$E2E_SCREENSHOTS"
status=0
(cd e2e && node --test --test-concurrency=1 web.test.js) || status=$?
if [ "$status" -ne 0 ]; then
  echo "e2e: tests failed; server log:" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
