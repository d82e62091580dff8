#!/usr/bin/env bash
# Unpack the Qdrant server the remote-store tests run against, once, into the cache:
# ../shared/qdrant/qdrant-v1.18.3-linux-x86_64.xz → $REAGENT_CACHE/qdrant/qdrant, checking
# the sha256 of the archive and of the binary (values from ../shared/qdrant/README.md).
# Idempotent: a binary already there with the right sha256 is kept.
#
#   REAGENT_CACHE          cache folder (default: <repo>/.cache)
#   REAGENT_QDRANT_SHARED  folder with the archive and cluster.sh (default: ../shared/qdrant)
#
# stdout: the binary's path. Exit 3 when the shared folder is absent (the remote tests
# then skip), 1 when a checksum does not match.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
shared="${REAGENT_QDRANT_SHARED:-$root/../shared/qdrant}"
archive="$shared/qdrant-v1.18.3-linux-x86_64.xz"
archive_sha256=d2da0f3ea68bafd2872cece35586a674985911bd9bcab491743be08e4aaff5dc
binary_sha256=bba0b2f603daf8fa9ab8815e5d9c83892fe9b4f8314e0f1caa577c593f0d9c1a
bin="$cache/qdrant/qdrant"

say() { printf 'setup-qdrant: %s\n' "$*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -x "$bin" ] && [ "$(sha "$bin")" = "$binary_sha256" ]; then
  say "Qdrant v1.18.3 already unpacked at $bin"
  echo "$bin"; exit 0
fi
if [ ! -f "$archive" ]; then
  say "$archive not found (set REAGENT_QDRANT_SHARED): no Qdrant server, the remote-store tests skip"
  exit 3
fi
[ "$(sha "$archive")" = "$archive_sha256" ] || { say "$archive: sha256 mismatch, refusing to unpack it"; exit 1; }
mkdir -p "$(dirname "$bin")"
xz -dc "$archive" >"$bin.tmp"
if [ "$(sha "$bin.tmp")" != "$binary_sha256" ]; then
  rm -f "$bin.tmp"; say "unpacked binary: sha256 mismatch, removed"; exit 1
fi
chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin"
say "Qdrant v1.18.3 unpacked to $bin"
echo "$bin"
