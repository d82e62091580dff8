#!/usr/bin/env bash
# Run one local Qdrant node (127.0.0.1) for the remote-store tests, through
# ../shared/qdrant/cluster.sh with the binary scripts/setup-qdrant.sh unpacked.
#
#   scripts/qdrant.sh start|stop|status
#
#   REAGENT_CACHE          cache folder (default: <repo>/.cache); the node's storage and
#                          log live in $REAGENT_CACHE/qdrant/single-<port>/node1
#   REAGENT_QDRANT_PORT    HTTP port (default: 16333); gRPC is the next one
#   REAGENT_QDRANT_SHARED  folder with cluster.sh and the archive (default: ../shared/qdrant)
#
# `start` unpacks the binary if needed, returns once the node is ready and prints its gRPC
# URL (e.g. http://127.0.0.1:16334), the value of REAGENT_TEST_QDRANT_URL. A running node
# is kept. Exit 3 when ../shared/qdrant is absent: the remote tests then skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
shared="${REAGENT_QDRANT_SHARED:-$root/../shared/qdrant}"
port="${REAGENT_QDRANT_PORT:-16333}"
dir="$cache/qdrant/single-$port"
url="http://127.0.0.1:$((port + 1))"
# The server reads these as its own --uri/--bootstrap; never pass them on.
unset QDRANT_URI QDRANT_BOOTSTRAP

say() { printf 'qdrant: %s\n' "$*" >&2; }
ready() { curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; }

case "${1:-status}" in
  start)
    if [ ! -x "$shared/cluster.sh" ]; then
      say "$shared/cluster.sh not found (set REAGENT_QDRANT_SHARED): no Qdrant server, the remote-store tests skip"
      exit 3
    fi
    bin="$("$root/scripts/setup-qdrant.sh")"
    if "$shared/cluster.sh" status "$dir" 2>/dev/null | grep -q alive && ready; then
      say "already running at $url"; echo "$url"; exit 0
    fi
    "$shared/cluster.sh" stop "$dir" >/dev/null 2>&1 || true
    QDRANT_BIN="$bin" "$shared/cluster.sh" single "$dir" "$port" >&2
    say "started at $url; log $dir/node1/qdrant.log"
    echo "$url"
    ;;
  stop)
    if [ -x "$shared/cluster.sh" ] && [ -d "$dir" ]; then "$shared/cluster.sh" stop "$dir" >&2; else say "not running"; fi
    ;;
  status)
    if ready; then say "running at $url"; echo "$url"; else say "not running"; exit 3; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
