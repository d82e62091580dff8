#!/usr/bin/env bash
# Run local Qdrant servers (127.0.0.1) for the remote-store tests, through
# ../shared/qdrant/cluster.sh with the binary scripts/setup-qdrant.sh unpacked: one node,
# or a 3-node distributed cluster (Raft, shards, replicas).
#
#   scripts/qdrant.sh start|stop|status            one node
#   scripts/qdrant.sh cluster start|stop|status    three nodes
#
#   REAGENT_CACHE          cache folder (default: <repo>/.cache); storage and logs live in
#                          $REAGENT_CACHE/qdrant/single-<port>/node1 (one node) and
#                          $REAGENT_CACHE/qdrant/cluster-<port>/node{1,2,3} (the cluster)
#   REAGENT_QDRANT_PORT    HTTP port of the one node (default: 16333); gRPC is the next one
#   REAGENT_QDRANT_CLUSTER_PORT
#                          HTTP port of the cluster's node 1 (default: 16433); node i has
#                          HTTP port+10(i-1), gRPC one more, P2P two more
#   REAGENT_QDRANT_SHARED  folder with cluster.sh and the archive (default: ../shared/qdrant)
#
# `start` unpacks the binary if needed, returns once the node (every node, and the
# cluster's consensus) is ready and prints the gRPC URL of the node (of the cluster's
# node 1), e.g. http://127.0.0.1:16334: the value of REAGENT_TEST_QDRANT_URL (of
# REAGENT_TEST_QDRANT_CLUSTER_URL). A running node (cluster) is kept. A cluster that is
# not running starts afresh: its folder is scratch, emptied first. Exit 3 when
# ../shared/qdrant is absent: the remote tests then skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
shared="${REAGENT_QDRANT_SHARED:-$root/../shared/qdrant}"
mode=single
if [ "${1:-}" = cluster ]; then mode=cluster; shift; fi
if [ $mode = single ]; then
  port="${REAGENT_QDRANT_PORT:-16333}"; nodes=1
else
  port="${REAGENT_QDRANT_CLUSTER_PORT:-16433}"; nodes=3
fi
dir="$cache/qdrant/$mode-$port"
url="http://127.0.0.1:$((port + 1))"
# The server reads these as its own --uri/--bootstrap; never pass them on.
unset QDRANT_URI QDRANT_BOOTSTRAP

say() { printf 'qdrant: %s\n' "$*" >&2; }
ready() { # every node answers /readyz
  local i
  for i in $(seq 0 $((nodes - 1))); do curl -sf -o /dev/null "http://127.0.0.1:$((port + 10 * i))/readyz" || return 1; done
}
alive() { [ "$("$shared/cluster.sh" status "$dir" 2>/dev/null | grep -c alive)" = "$nodes" ]; }

case "${1:-status}" in
  start)
    if [ ! -x "$shared/cluster.sh" ]; then
      say "$shared/cluster.sh not found (set REAGENT_QDRANT_SHARED): no Qdrant server, the remote-store tests skip"
      exit 3
    fi
    bin="$("$root/scripts/setup-qdrant.sh")"
    if alive && ready; then
      say "$mode already running at $url"; echo "$url"; exit 0
    fi
    "$shared/cluster.sh" stop "$dir" >/dev/null 2>&1 || true
    if [ $mode = single ]; then
      QDRANT_BIN="$bin" "$shared/cluster.sh" single "$dir" "$port" >&2
    else
      rm -rf "$dir"
      QDRANT_BIN="$bin" "$shared/cluster.sh" start "$dir" "$port" >&2
    fi
    say "$mode started at $url; logs $dir/node*/qdrant.log"
    echo "$url"
    ;;
  stop)
    if [ -x "$shared/cluster.sh" ] && [ -d "$dir" ]; then "$shared/cluster.sh" stop "$dir" >&2; else say "not running"; fi
    ;;
  status)
    if ready; then say "$mode running at $url"; echo "$url"; else say "$mode not running"; exit 3; fi
    ;;
  *)
    echo "usage: $0 [cluster] start|stop|status" >&2; exit 2 ;;
esac
