#!/usr/bin/env bash
# The scale-out topology on one machine: a 3-node Qdrant cluster holding the chunks
# (3 shards, 2 copies of each), one PostgreSQL database shared by two `reagent serve`
# replicas (sessions, jobs, analyses, the audit chain), and haproxy balancing them
# round robin with health checks on /ready.
#
#   scripts/cluster-demo.sh start    build, start everything fresh, ingest, analyze one transaction
#   scripts/cluster-demo.sh status   what runs, and whether each replica and the balancer are ready
#   scripts/cluster-demo.sh env      shell assignments for scripts (URLs, key, pids, configs): eval "$(... env)"
#   scripts/cluster-demo.sh stop     stop what `start` started (by its pid files), nothing else
#
#   balancer  http://127.0.0.1:18080   → replica 1 http://127.0.0.1:18081 (store url: Qdrant node 1's gRPC, 17334)
#                                      → replica 2 http://127.0.0.1:18082 (store url: Qdrant node 2's gRPC, 17344)
#   Qdrant    nodes on 17333/17343/17353 (HTTP; gRPC +1, P2P +2) from ../shared/qdrant
#   PostgreSQL database reagent_demo on the local server of scripts/setup-postgres.sh (dropped and
#             created again by every `start`)
#
# `start` installs haproxy (and wrk, for scripts/cluster-bench.sh) from Debian when
# missing, migrates and seeds the database, loads the sanctions lists and ingests corpus/
# and ../shared/data/us-regulations through replica 1's configuration (`reagent ingest`),
# as scripts/run.sh does on one machine, then starts the replicas and the balancer,
# analyzes TXN003 through the balancer and prints the URLs and two demo keys (an admin
# and a compliance officer). Everything lives in $REAGENT_CACHE/cluster-demo (configs,
# logs, setup.log, pid files, Qdrant storage).
#
#   CLUSTER_PROFILE=debug|release   which build to run (default debug; built if needed)
#   CLUSTER_BINARY=path             an already built reagent instead
#   CLUSTER_SOURCES="corpus ..."    what to ingest (default: corpus/ and the US regulations)
#   CLUSTER_DATABASE=name           the PostgreSQL database (default reagent_demo)
# REAGENT_* variables set when calling `start` reach both replicas (e.g.
# REAGENT_LIMITS_REQUESTS_PER_SECOND=0 for load tests with one key).
# Exit 3 when ../shared/qdrant is absent (no Qdrant server to run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

dir="$REAGENT_CACHE/cluster-demo"
shared="${REAGENT_QDRANT_SHARED:-$root/../shared/qdrant}"
qdrant_port=17333
replica_ports=(18081 18082)
balancer_port=18080
database="${CLUSTER_DATABASE:-reagent_demo}"
balancer="http://127.0.0.1:$balancer_port"
# The server reads these as its own --uri/--bootstrap; never pass them on.
unset QDRANT_URI QDRANT_BOOTSTRAP

say() { printf 'cluster-demo: %s\n' "$*" >&2; }

# A pid from FILE, printed only while that process is alive and its command line
# contains WORD (so a recycled pid is never signalled).
live_pid() {
  local file=$1 word=$2 pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$word" || return 1
  echo "$pid"
}

# TERM the process of FILE, KILL it after 30 s, remove FILE.
stop_pid() {
  local file=$1 word=$2 name=$3 pid
  if pid="$(live_pid "$file" "$word")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    say "stopped $name (pid $pid)"
  fi
  rm -f "$file"
}

apt_install() { # package: installed from Debian when its command is missing
  local package=$1
  command -v "$package" >/dev/null && return 0
  say "installing $package (Debian)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq "$package" >&2 || { $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq "$package" >&2; }
}

# The analysis printed in short: id, risk, each required action with its citations.
summary_py='
import json, sys
a = json.load(sys.stdin)
print("analysis %s: %s risk %s, review %s" % (a["analysis_id"], a["transaction_id"], a["risk_level"], a["requires_review"]))
for action in a["required_actions"]:
    print("  %s: %s" % (action["code"], ", ".join(c["citation"] or c["document_id"] for c in action["citations"])))
'

# Run a set-up command with its output in setup.log; on failure show the log's tail.
logged() {
  local rc=0
  "$@" >>"$dir/setup.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { say "$(basename "$1") $2 failed (exit $rc); end of $dir/setup.log:"; tail -n 20 "$dir/setup.log" >&2; }
  return "$rc"
}

http_code() { curl -s -m "${2:-10}" -o /dev/null -w '%{http_code}' "$1" || true; }

wait_ready() { # url pid-file word name
  local url=$1 file=$2 word=$3 name=$4
  for _ in $(seq 1 1200); do
    [ "$(http_code "$url/ready")" = 200 ] && return 0
    live_pid "$file" "$word" >/dev/null || { say "$name exited; its log:"; tail -n 30 "$dir/$name.log" >&2 2>/dev/null; return 1; }
    sleep 0.1
  done
  say "$name not ready after 120 s: $(curl -s -m 10 "$url/ready")"; return 1
}

reagent_binary() {
  if [ -n "${CLUSTER_BINARY:-}" ]; then echo "$CLUSTER_BINARY"; return; fi
  local profile="${CLUSTER_PROFILE:-debug}"
  case "$profile" in
    # The debug build is the test build scripts/test.sh has made (a no-op there).
    debug) cargo build --locked --workspace --all-targets >&2 ;;
    release) cargo build --release --locked --bin reagent >&2 ;;
    *) say "CLUSTER_PROFILE must be debug or release, got $profile"; exit 2 ;;
  esac
  echo "${CARGO_TARGET_DIR:-$root/target}/$profile/reagent"
}

write_replica_config() { # n grpc-port database-url pii-key
  local n=$1 grpc=$2 db_url=$3 pii_key=$4
  cat >"$dir/replica$n.toml" <<EOF
# Written by scripts/cluster-demo.sh: replica $n of the demo (rewritten by every start).
[store]
backend = "qdrant"
url = "http://127.0.0.1:$grpc"        # Qdrant node $n; the cluster routes to every shard
collection = "reagent_chunks"
shard_number = 3
replication_factor = 2
write_consistency_factor = 1
data_dir = "replica$n-store"          # unused by the qdrant backend

[embedding]
model_dir = "$REAGENT_EMBEDDING_MODEL_DIR"
ort_dylib_path = "$REAGENT_EMBEDDING_ORT_DYLIB_PATH"

[server]
bind = "127.0.0.1:${replica_ports[$((n - 1))]}"

[database]
url = "$db_url"                       # shared by both replicas: sessions, jobs, analyses, audit

[audit]
pii_key = "$pii_key"                  # the same on both replicas: one pseudonym per customer
EOF
}

start() {
  stop_all
  [ -x "$shared/cluster.sh" ] || { say "$shared/cluster.sh not found (set REAGENT_QDRANT_SHARED): no Qdrant cluster to run"; exit 3; }
  # A start that fails half-way leaves nothing running.
  trap 'rc=$?; if [ "$rc" != 0 ]; then say "start failed (exit $rc), stopping what it started"; stop_all; fi' EXIT
  apt_install haproxy
  apt_install wrk   # for scripts/cluster-bench.sh
  scripts/setup-models.sh >/dev/null
  local qdrant_bin pg_url db_url reagent sources=() pii_key
  qdrant_bin="$(scripts/setup-qdrant.sh)"
  reagent="$(reagent_binary)"
  mkdir -p "$dir"
  echo "$reagent" >"$dir/binary"

  pg_url="$(scripts/setup-postgres.sh)"
  db_url="${pg_url%/*}/$database"
  say "PostgreSQL database $database (fresh)"
  PGOPTIONS='-c client_min_messages=warning' psql -X -q "$pg_url" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" -c "CREATE DATABASE \"$database\"" >&2
  echo "$db_url" >"$dir/database-url"

  say "Qdrant cluster, 3 nodes on $qdrant_port/$((qdrant_port + 10))/$((qdrant_port + 20)) (fresh storage)"
  rm -rf "$dir/qdrant"
  QDRANT_BIN="$qdrant_bin" "$shared/cluster.sh" start "$dir/qdrant" "$qdrant_port" >&2

  pii_key="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  write_replica_config 1 $((qdrant_port + 1)) "$db_url" "$pii_key"
  write_replica_config 2 $((qdrant_port + 11)) "$db_url" "$pii_key"
  local r1=(--config "$dir/replica1.toml")

  # The steps of scripts/run.sh, on replica 1's configuration.
  if [ -n "${CLUSTER_SOURCES:-}" ]; then
    read -r -a sources <<<"$CLUSTER_SOURCES"
  else
    sources=(corpus)
    if [ -d ../shared/data/us-regulations ]; then sources+=(../shared/data/us-regulations)
    else say "../shared/data/us-regulations not found; ingesting corpus/ only"; fi
  fi
  : >"$dir/setup.log"
  logged "$reagent" db seed "${r1[@]}"
  if compgen -G "../shared/data/sanctions/sdn-*.csv" >/dev/null; then
    for list in ../shared/data/sanctions/sdn-*.csv; do
      published="$(basename "$list" .csv)"
      logged "$reagent" sanctions load "${r1[@]}" "$list" --published "${published#sdn-}"
    done
    say "sanctions lists: $(grep -c '^loaded ' "$dir/setup.log") loaded"
  else
    say "../shared/data/sanctions not found; no sanctions list loaded, so names are not screened"
  fi
  say "ingesting ${sources[*]} into the cluster through replica 1's configuration"
  # Exit code 2 means some files failed; they are listed in the log and the rest is stored.
  logged "$reagent" ingest "${r1[@]}" "${sources[@]}" || [ $? -eq 2 ]
  say "$(grep -E '^[0-9]+ ingested' "$dir/setup.log" | tail -n1)"
  local admin officer
  admin="$("$reagent" keys create "${r1[@]}" --role admin --name "cluster-demo admin" 2>/dev/null | grep -o 'rk_[0-9a-zA-Z_]*' | head -n1)"
  officer="$("$reagent" keys create "${r1[@]}" --role compliance_officer --name "cluster-demo officer" 2>/dev/null | grep -o 'rk_[0-9a-zA-Z_]*' | head -n1)"
  [ -n "$admin" ] && [ -n "$officer" ] || { say "could not create the demo keys"; exit 1; }
  (umask 077; printf '%s\n%s\n' "$admin" "$officer" >"$dir/keys")

  local n
  for n in 1 2; do
    ( exec "$reagent" serve --config "$dir/replica$n.toml" ) >"$dir/replica$n.log" 2>&1 </dev/null &
    echo $! >"$dir/replica$n.pid"
  done
  for n in 1 2; do
    wait_ready "http://127.0.0.1:${replica_ports[$((n - 1))]}" "$dir/replica$n.pid" "replica$n.toml" "replica$n"
  done

  cat >"$dir/haproxy.cfg" <<EOF
# Written by scripts/cluster-demo.sh.
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 150s
    timeout server 150s
    # A replica that refuses the connection or dies before answering: the request goes
    # to the other one (a request it answered is never sent twice).
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend reagent
    bind 127.0.0.1:$balancer_port
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    server replica1 127.0.0.1:${replica_ports[0]} check
    server replica2 127.0.0.1:${replica_ports[1]} check
EOF
  haproxy -c -q -f "$dir/haproxy.cfg" >&2
  haproxy -D -p "$dir/haproxy.pid" -f "$dir/haproxy.cfg"
  wait_ready "$balancer" "$dir/haproxy.pid" "$dir/haproxy.cfg" haproxy

  say "analyzing TXN003 through the balancer"
  local answer
  answer="$(curl -sS -m 120 -w '\n%{http_code}' -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"transaction_id":"TXN003"}' "$balancer/api/v1/analyze")"
  [ "$(tail -n1 <<<"$answer")" = 200 ] || { say "the analysis through the balancer failed: $answer"; exit 1; }
  sed '$d' <<<"$answer" | python3 -c "$summary_py"
  cat <<EOF

== reagent cluster demo ($dir)
balancer    $balancer  (haproxy, round robin, health check /ready)
replica 1   http://127.0.0.1:${replica_ports[0]}  store: Qdrant node 1 (gRPC 127.0.0.1:$((qdrant_port + 1)))
replica 2   http://127.0.0.1:${replica_ports[1]}  store: Qdrant node 2 (gRPC 127.0.0.1:$((qdrant_port + 11)))
Qdrant      http://127.0.0.1:$qdrant_port/cluster  (3 nodes, collection reagent_chunks: 3 shards x 2 copies)
database    $db_url
admin key   $admin
officer key $officer   (sign in at $balancer/ with either)
stop with   scripts/cluster-demo.sh stop
EOF
  trap - EXIT
}

stop_all() {
  stop_pid "$dir/haproxy.pid" "$dir/haproxy.cfg" haproxy
  stop_pid "$dir/replica1.pid" "replica1.toml" replica1
  stop_pid "$dir/replica2.pid" "replica2.toml" replica2
  if [ -d "$dir/qdrant" ] && [ -x "$shared/cluster.sh" ]; then "$shared/cluster.sh" stop "$dir/qdrant" >&2; fi
}

status() {
  local up=0
  if [ -d "$dir/qdrant" ] && [ -x "$shared/cluster.sh" ]; then "$shared/cluster.sh" status "$dir/qdrant"; fi
  local n url
  for n in 1 2; do
    url="http://127.0.0.1:${replica_ports[$((n - 1))]}"
    if pid="$(live_pid "$dir/replica$n.pid" "replica$n.toml")"; then
      echo "replica$n pid=$pid $url /ready $(http_code "$url/ready")"; up=1
    else echo "replica$n not running"; fi
  done
  if pid="$(live_pid "$dir/haproxy.pid" "$dir/haproxy.cfg")"; then
    echo "balancer pid=$pid $balancer /ready $(http_code "$balancer/ready")"; up=1
  else echo "balancer not running"; fi
  [ "$up" = 1 ] || exit 3
}

env_vars() {
  [ -f "$dir/keys" ] || { say "not started (no $dir/keys)"; exit 3; }
  local n
  printf 'CLUSTER_DIR=%q\n' "$dir"
  printf 'BALANCER_URL=%q\n' "$balancer"
  for n in 1 2; do
    printf 'REPLICA%s_URL=%q\n' "$n" "http://127.0.0.1:${replica_ports[$((n - 1))]}"
    printf 'REPLICA%s_CONFIG=%q\n' "$n" "$dir/replica$n.toml"
    printf 'REPLICA%s_PID=%q\n' "$n" "$(live_pid "$dir/replica$n.pid" "replica$n.toml" || true)"
  done
  printf 'DATABASE_URL=%q\n' "$(cat "$dir/database-url")"
  printf 'ADMIN_KEY=%q\n' "$(sed -n 1p "$dir/keys")"
  printf 'REAGENT_BIN=%q\n' "$(cat "$dir/binary")"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  env) env_vars ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
