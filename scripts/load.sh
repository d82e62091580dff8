#!/usr/bin/env bash
# Proof under load: a release `reagent serve` on loopback over the corpus (and the US
# regulations when ../shared is present) with the rules generator, hammered by wrk
# (Debian package; installed if missing) posting inline analyses of six shapes to
# /api/v1/analyze (scripts/wrk-analyze.lua). Prints throughput, p50/p90/p99 latency,
# errors and non-2xx counts, and the server's RSS after warm-up and at the end. Exits
# non-zero on any error, any non-2xx answer, or a server that died.
#
#   scripts/load.sh                          200 clients for 60 s (the documented run)
#   LOAD_CLIENTS=50 LOAD_SECONDS=10 LOAD_PROFILE=debug scripts/load.sh   the short CI
#                                            variant, on the debug binary the test build made
#
# wrk cuts the requests in flight when it stops (clients hanging up), so after the run
# the script also checks durability: /ready reports a database that takes writes, a
# new analysis is answered, every analysis answered 2xx has its audit entry
# (`reagent audit export`), and `reagent audit verify` passes.
#
# Other knobs: LOAD_THREADS (wrk threads, default 2), LOAD_PORT (default 18080),
# LOAD_MAX_RSS_GROWTH_MB (fail if RSS grows more than this, default 64),
# LOAD_KEEP=1 (keep the work folder), LOAD_BINARY (a reagent binary to use instead of
# building one). The rate limit is raised for the run (one key sends everything); the
# limiter itself stays in the path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

clients="${LOAD_CLIENTS:-200}"
seconds="${LOAD_SECONDS:-60}"
threads="${LOAD_THREADS:-2}"
port="${LOAD_PORT:-18080}"
max_growth_mb="${LOAD_MAX_RSS_GROWTH_MB:-64}"

say() { printf 'load: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian)"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else sudo apt-get install -y wrk >/dev/null; fi
fi

scripts/setup-models.sh >/dev/null
# Figures come from a release build; CI's short run only checks errors and memory, on
# the debug binary it has already built (a second, release build would cost ~25 min).
profile="${LOAD_PROFILE:-release}"
if [ -n "${LOAD_BINARY:-}" ]; then profile=given; fi  # LOAD_BINARY=path: an already built reagent
case "$profile" in
  given) ;;
  release) cargo build --release --locked --bin reagent ;;
  debug) cargo build --locked --workspace --all-targets ;;  # what scripts/test.sh built: a no-op there
  *) say "LOAD_PROFILE must be release or debug, got $profile"; exit 2 ;;
esac
reagent="${LOAD_BINARY:-${CARGO_TARGET_DIR:-$root/target}/$profile/reagent}"

work="$(mktemp -d /tmp/reagent-load.XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${LOAD_KEEP:-0}" = 1 ]; then say "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

export REAGENT_STORE_DATA_DIR="$work/store"
export REAGENT_DATABASE_URL="sqlite://$work/reagent.db?mode=rwc"
export REAGENT_LOG="${REAGENT_LOG:-warn}"
export REAGENT_LIMITS_REQUESTS_PER_SECOND=1000000
export REAGENT_LIMITS_BURST=1000000

sources=(corpus)
[ -d ../shared/data/us-regulations ] && sources+=(../shared/data/us-regulations)
say "ingesting ${sources[*]}"
"$reagent" ingest "${sources[@]}" >/dev/null || [ $? -eq 2 ]
"$reagent" db seed >/dev/null

# Every API call needs a key: an analyst's.
key="$("$reagent" keys create --name load-test --role analyst | grep -o 'rk_[0-9a-zA-Z_]*' | head -n1)"
[ -n "$key" ] || { say "could not create an API key"; exit 1; }
auth_header="Bearer $key"
export WRK_API_KEY="$key"   # read by scripts/wrk-analyze.lua

"$reagent" serve --bind "127.0.0.1:$port" 2>"$work/serve.log" &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
  curl -fsS "$url/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { say "server exited:"; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }

# Write back what earlier steps (a fresh build writes gigabytes) left in the page cache,
# so that the disk flushing it does not stall the database during the measurement.
sync
# Warm-up: the query-vector cache fills the way a running service has it.
wrk -t1 -c4 -d3s --timeout 30s -s scripts/wrk-analyze.lua "$url/api/v1/analyze" >/dev/null
rss_start="$(rss_kb)"
say "server pid $server_pid, RSS after warm-up ${rss_start} kB; $clients clients for ${seconds}s"
wrk -t"$threads" -c"$clients" -d"${seconds}s" --timeout 30s -s scripts/wrk-analyze.lua "$url/api/v1/analyze" | tee "$work/wrk.out"
alive=1
kill -0 "$server_pid" 2>/dev/null || alive=0
rss_end="$( [ "$alive" = 1 ] && rss_kb || echo 0)"
health="$(curl -s -o /dev/null -w '%{http_code}' "$url/health" || true)"
# After the hang-ups: does the database still take writes?
ready="$(curl -s -m 30 -o "$work/ready.json" -w '%{http_code}' "$url/ready" || true)"
after="$(curl -s -m 60 -o /dev/null -w '%{http_code}' -H "Authorization: $auth_header" -H 'Content-Type: application/json' \
  -d '{"transaction":{"transaction_id":"LOADAFTER","customer_id":"LCAFTER","amount":15000.0,"currency":"USD","transaction_type":"CASH_DEPOSIT","direction":"INBOUND","origin_country":"US","destination_country":"US","timestamp":"2026-03-10T14:20:00Z"},"customer":{"customer_id":"LCAFTER","name":"Load Tester","customer_type":"INDIVIDUAL","risk_rating":"LOW","kyc_status":"COMPLETE","is_pep":false,"country":"US"}}' \
  "$url/api/v1/analyze" || true)"
audited="$("$reagent" audit export --out - 2>/dev/null | grep -c '"action":"analysis.create"' || true)"
verify_ok=1
"$reagent" audit verify >"$work/verify.out" 2>&1 || verify_ok=0

line="$(grep '^RESULT ' "$work/wrk.out" || true)"
[ -n "$line" ] || { say "wrk printed no result"; exit 1; }
get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
requests="$(get requests)"; duration_us="$(get duration_us)"; non2xx="$(get non2xx)"
errors=$(( $(get connect) + $(get read) + $(get write) + $(get timeout) ))
rps="$(awk -v r="$requests" -v d="$duration_us" 'BEGIN {printf "%.1f", r / (d / 1e6)}')"
growth_mb=$(( (rss_end - rss_start) / 1024 ))

cat <<EOF

== reagent load: POST /api/v1/analyze, rules generator, $clients clients, ${seconds}s, loopback
requests        $requests
throughput      $rps req/s
latency p50     $(get p50_ms) ms
latency p90     $(get p90_ms) ms
latency p99     $(get p99_ms) ms
latency max     $(get max_ms) ms
non-2xx         $non2xx
socket errors   $errors
server RSS      start ${rss_start} kB, end ${rss_end} kB (growth ${growth_mb} MB)
server alive    $([ "$alive" = 1 ] && echo yes || echo NO), /health $health
after the run   /ready $ready, new analysis $after, analyses audited $audited (answered 2xx $(( requests - non2xx ))), audit verify $([ "$verify_ok" = 1 ] && echo ok || echo FAILED)
EOF

status=0
[ "$alive" = 1 ] && [ "$health" = 200 ] || { say "FAIL: the server is not healthy after the run"; status=1; }
[ "$requests" -gt 0 ] || { say "FAIL: no requests completed"; status=1; }
[ "$non2xx" -eq 0 ] || { say "FAIL: $non2xx non-2xx answers"; tail -n 20 "$work/serve.log" >&2; status=1; }
[ "$errors" -eq 0 ] || { say "FAIL: $errors socket errors"; status=1; }
[ "$ready" = 200 ] || { say "FAIL: /ready answered $ready after the run: $(cat "$work/ready.json" 2>/dev/null)"; status=1; }
[ "$after" = 200 ] || { say "FAIL: an analysis after the run answered $after"; status=1; }
[ "$audited" -ge $(( requests - non2xx )) ] || { say "FAIL: $(( requests - non2xx )) analyses answered 2xx but only $audited audited"; status=1; }
[ "$verify_ok" = 1 ] || { say "FAIL: reagent audit verify:"; cat "$work/verify.out" >&2; status=1; }
[ "$growth_mb" -le "$max_growth_mb" ] || { say "FAIL: RSS grew by ${growth_mb} MB (limit $max_growth_mb)"; status=1; }
exit "$status"
