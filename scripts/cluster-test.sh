#!/usr/bin/env bash
# Kill -9 a replica under load: the cluster demo (scripts/cluster-demo.sh: 3 Qdrant nodes,
# PostgreSQL, two `reagent serve` replicas behind haproxy) takes concurrent analyses
# (rules generator) through the balancer and directly at both replicas, and replica 2 is
# killed with SIGKILL in the middle (scripts/cluster-load.py drives the load and checks).
# Fails (exit 1) unless:
#   * every request started after the kill at replica 1, and through the balancer more than 3 s
#     after it (its health check takes replica 2 out after 2 failed checks 1 s apart), is
#     answered 200; those in the balancer's failover window are counted and printed;
#   * every analysis answered 200 by any of them is stored in the shared database, and those
#     replica 2 answered are read back through replica 1's API;
#   * `reagent audit verify` passes on the shared database after both replicas appended to it.
# Stops everything it started, whatever the outcome. Skips (exit 0, saying so) when
# ../shared/qdrant is absent. About 2-3 minutes on 2 cores with the debug build.
#
#   CLUSTER_TEST_CLIENTS (default 6), CLUSTER_TEST_SECONDS (default 45),
#   CLUSTER_TEST_KILL_AFTER (default 20); CLUSTER_PROFILE/CLUSTER_BINARY as for the demo;
#   CLUSTER_SOURCES (default: corpus/ only, to keep the run short)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

say() { printf 'cluster-test: %s\n' "$*" >&2; }

shared="${REAGENT_QDRANT_SHARED:-$root/../shared/qdrant}"
if [ ! -x "$shared/cluster.sh" ]; then
  say "SKIPPED: $shared/cluster.sh not found (set REAGENT_QDRANT_SHARED), so there is no Qdrant cluster to run the replicas on"
  exit 0
fi

# One key sends everything: the per-caller rate limit is off for the run.
export REAGENT_LIMITS_REQUESTS_PER_SECOND=0
export REAGENT_LOG="${REAGENT_LOG:-warn}"
trap 'scripts/cluster-demo.sh stop' EXIT
CLUSTER_SOURCES="${CLUSTER_SOURCES:-corpus}" scripts/cluster-demo.sh start
eval "$(scripts/cluster-demo.sh env)"

status=0
python3 scripts/cluster-load.py --key "$ADMIN_KEY" \
  --target "balancer=$BALANCER_URL" --target "replica1=$REPLICA1_URL" --target "replica2=$REPLICA2_URL" \
  --clients "${CLUSTER_TEST_CLIENTS:-6}" --seconds "${CLUSTER_TEST_SECONDS:-45}" \
  --kill-pid "$REPLICA2_PID" --kill-after "${CLUSTER_TEST_KILL_AFTER:-20}" --killed-target replica2 \
  --balancer balancer --failover 3 \
  --database-url "$DATABASE_URL" --read-url "$REPLICA1_URL" || status=1

entries="$(psql -X -q -tA "$DATABASE_URL" -c "SELECT count(*) FROM audit_log")"
if "$REAGENT_BIN" audit verify --config "$REPLICA1_CONFIG"; then
  echo "audit verify: ok over $entries entries written by both replicas"
else
  say "FAIL: reagent audit verify on the shared database"; status=1
fi
[ "$status" = 0 ] && echo "cluster test: passed" || say "FAILED (logs in $CLUSTER_DIR)"
exit "$status"
