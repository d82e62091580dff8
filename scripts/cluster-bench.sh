#!/usr/bin/env bash
# Load benchmark (figures, no assertions): the same wrk load, POST /api/v1/analyze with
# the rules generator (scripts/wrk-analyze.lua), against
#   cluster   haproxy → 2 `reagent serve` replicas → the 3-node Qdrant cluster
#             (scripts/cluster-demo.sh, release build), and
#   embedded  one `reagent serve` on the embedded store (the default), same database,
#             same documents, same key, and
#   sqlite    that server on its own SQLite database (the one-machine default), seeded and
#             with the same sanctions lists,
# one after the other on the same machine. Prints requests/s, p50/p99 latency, errors,
# and the share of the analyses' time spent in retrieval (the store's searches with the
# query vectors and fusion; from /metrics: reagent_retrieval_duration_seconds over
# reagent_http_request_duration_seconds of /api/v1/analyze, summed over the servers),
# and the ingest rate of the same documents (corpus/ and the US regulations) into the
# cluster and into an embedded store.
#
#   BENCH_CONNECTIONS (default 32), BENCH_SECONDS (default 30), BENCH_THREADS (default 2)
#   CLUSTER_BINARY=path  an already built reagent instead of the release build
# Everything runs on one machine (3 Qdrant nodes, PostgreSQL, the servers, haproxy and wrk
# share its cores), so the cluster's figures show its overhead, not its capacity.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

connections="${BENCH_CONNECTIONS:-32}"
seconds="${BENCH_SECONDS:-30}"
threads="${BENCH_THREADS:-2}"
single_port=18081   # the embedded server runs after the cluster has stopped, on replica 1's port
say() { printf 'cluster-bench: %s\n' "$*" >&2; }

work="$(mktemp -d /tmp/reagent-cluster-bench.XXXXXX)"
single_pid=""
cleanup() {
  if [ -n "$single_pid" ] && kill -0 "$single_pid" 2>/dev/null; then
    kill -TERM "$single_pid"; wait "$single_pid" 2>/dev/null || true
  fi
  scripts/cluster-demo.sh stop
  rm -rf "$work"
}
trap cleanup EXIT

# The sum of a metric's samples on the servers' /metrics (labels given as a regex).
metric_sum() { # metric label-regex url...
  local metric=$1 labels=$2; shift 2
  local url
  for url in "$@"; do curl -fsS -m 30 -H "Authorization: Bearer $ADMIN_KEY" "$url/metrics"; done |
    awk -v m="$metric" -v l="$labels" '($1 == m || index($1, m "{") == 1) && $1 ~ l { s += $2 } END { printf "%.6f", s }'
}

# wrk against URL; the servers' metrics before and after give retrieval's share.
# Prints: rps p50 p99 errors share retrieval_ms
measure() { # name url metrics-url...
  local name=$1 url=$2; shift 2
  WRK_API_KEY="$ADMIN_KEY" wrk -t1 -c4 -d5s --timeout 30s -s scripts/wrk-analyze.lua "$url" >/dev/null   # warm-up
  local r0 a0 n0 r1 a1 n1 line
  r0="$(metric_sum reagent_retrieval_duration_seconds_sum . "$@")"
  n0="$(metric_sum reagent_retrieval_duration_seconds_count . "$@")"
  a0="$(metric_sum reagent_http_request_duration_seconds_sum 'route="/api/v1/analyze"' "$@")"
  say "$name: wrk, $connections connections for ${seconds}s"
  line="$(WRK_API_KEY="$ADMIN_KEY" wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 30s -s scripts/wrk-analyze.lua "$url" | tee "$work/wrk-$name.out" | grep '^RESULT ')"
  r1="$(metric_sum reagent_retrieval_duration_seconds_sum . "$@")"
  n1="$(metric_sum reagent_retrieval_duration_seconds_count . "$@")"
  a1="$(metric_sum reagent_http_request_duration_seconds_sum 'route="/api/v1/analyze"' "$@")"
  get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
  awk -v req="$(get requests)" -v us="$(get duration_us)" -v p50="$(get p50_ms)" -v p99="$(get p99_ms)" \
    -v err="$(( $(get non2xx) + $(get connect) + $(get read) + $(get write) + $(get timeout) ))" \
    -v r0="$r0" -v r1="$r1" -v a0="$a0" -v a1="$a1" -v n0="$n0" -v n1="$n1" 'BEGIN {
      r = r1 - r0; a = a1 - a0; n = n1 - n0
      printf "%.1f %s %s %d %.1f %.1f\n", req / (us / 1e6), p50, p99, err, (a > 0 ? 100 * r / a : 0), (n > 0 ? 1000 * r / n : 0)
    }'
}

ingest_rate() { # log: "N chunks written in T s (E% embedding)" → chunks/s, chunks, seconds, embedding share
  grep -E '^[0-9]+ ingested' "$1" | tail -n1 |
    sed -E 's/.* ([0-9]+) chunks written in ([0-9.]+)s \(([0-9]+)% embedding.*/\1 \2 \3/' |
    awk '{ printf "%.1f %d %.1f %d\n", $1 / $2, $1, $2, $3 }'
}

single="http://127.0.0.1:$single_port"
serve_single() { # one embedded server on replica 1's configuration and the environment's overrides
  "$REAGENT_BIN" serve --config "$REPLICA1_CONFIG" --bind "127.0.0.1:$single_port" >"$work/serve.log" 2>&1 &
  single_pid=$!
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$single/ready")" = 200 ] && return 0
    kill -0 "$single_pid" 2>/dev/null || { say "the embedded server exited:"; cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  say "the embedded server is not ready after 60 s"; exit 1
}
stop_single() { kill -TERM "$single_pid"; wait "$single_pid" 2>/dev/null || true; single_pid=""; }

# --- the cluster ---------------------------------------------------------------------------
export REAGENT_LIMITS_REQUESTS_PER_SECOND=0   # one key sends everything
export REAGENT_LOG="${REAGENT_LOG:-warn}"
CLUSTER_PROFILE=release scripts/cluster-demo.sh start >/dev/null
eval "$(scripts/cluster-demo.sh env)"
read -r cluster_ingest_rate chunks cluster_ingest_s cluster_embedding < <(ingest_rate "$CLUSTER_DIR/setup.log")
read -r c_rps c_p50 c_p99 c_err c_share c_ret < <(measure cluster "$BALANCER_URL" "$REPLICA1_URL" "$REPLICA2_URL")
scripts/cluster-demo.sh stop

# --- one embedded server on the same database and documents ----------------------------------
export REAGENT_STORE_BACKEND=embedded REAGENT_STORE_DATA_DIR="$work/store"
sources=(corpus); [ -d ../shared/data/us-regulations ] && sources+=(../shared/data/us-regulations)
say "embedded: ingesting ${sources[*]}"
"$REAGENT_BIN" ingest --config "$REPLICA1_CONFIG" "${sources[@]}" >"$work/ingest.log" 2>&1 || [ $? -eq 2 ]
read -r embedded_ingest_rate embedded_chunks embedded_ingest_s embedded_embedding < <(ingest_rate "$work/ingest.log")
serve_single
read -r e_rps e_p50 e_p99 e_err e_share e_ret < <(measure embedded "$single" "$single")
stop_single

# --- the same server on SQLite, the one-machine default: same documents, its own database ------
export REAGENT_DATABASE_URL="sqlite://$work/reagent.db?mode=rwc"
say "sqlite: seeding, loading the sanctions lists"
"$REAGENT_BIN" db seed --config "$REPLICA1_CONFIG" >>"$work/sqlite.log" 2>&1
for list in ../shared/data/sanctions/sdn-*.csv; do
  [ -f "$list" ] || continue   # as in the demo: every snapshot when ../shared is there
  published="$(basename "$list" .csv)"
  "$REAGENT_BIN" sanctions load --config "$REPLICA1_CONFIG" "$list" --published "${published#sdn-}" >>"$work/sqlite.log" 2>&1
done
ADMIN_KEY="$("$REAGENT_BIN" keys create --config "$REPLICA1_CONFIG" --role admin --name bench 2>/dev/null | grep -o 'rk_[0-9a-zA-Z_]*' | head -n1)"
serve_single
read -r s_rps s_p50 s_p99 s_err s_share s_ret < <(measure sqlite "$single" "$single")
stop_single

row() { printf '%-33s %-26s %-26s %s\n' "$@"; }
echo
echo "== reagent cluster bench: POST /api/v1/analyze, rules generator, wrk $connections connections x ${seconds}s, $REAGENT_BIN, $(nproc) cores shared by everything"
row "" "cluster (haproxy, 2" "embedded (1 server)," "embedded (1 server),"
row "" "replicas, 3 Qdrant nodes)" "PostgreSQL" "SQLite"
row "requests/s" "$c_rps" "$e_rps" "$s_rps"
row "latency p50 / p99 (ms)" "$c_p50 / $c_p99" "$e_p50 / $e_p99" "$s_p50 / $s_p99"
row "errors (socket + non-2xx)" "$c_err" "$e_err" "$s_err"
row "retrieval share of analyze time" "$c_share %" "$e_share %" "$s_share %"
row "retrieval per analysis (mean ms)" "$c_ret" "$e_ret" "$s_ret"
echo "ingest of ${sources[*]}: cluster $cluster_ingest_rate chunks/s ($chunks in ${cluster_ingest_s}s, ${cluster_embedding}% embedding), embedded $embedded_ingest_rate chunks/s ($embedded_chunks in ${embedded_ingest_s}s, ${embedded_embedding}% embedding)"
