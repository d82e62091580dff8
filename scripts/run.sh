#!/usr/bin/env bash
# The main job on embedded defaults: fetch the model, build, ingest the corpus (and the
# US regulations when ../shared is present), seed the demo database, print the guidance
# for the demo transaction TXN003, create demo API keys (an admin and a compliance
# officer; printed once, use them to sign in to http://127.0.0.1:8080/ or as
# `Authorization: Bearer <key>`), then serve the API and the web interface on
# server.bind (127.0.0.1:8080).
#   scripts/run.sh            everything, then serve until Ctrl-C
#   scripts/run.sh --no-serve stop after the demo analysis
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

scripts/setup-models.sh
cargo build --release --locked --bin reagent
reagent="$root/target/release/reagent"

sources=(corpus)
if [ -d ../shared/data/us-regulations ]; then
  sources+=(../shared/data/us-regulations)
else
  echo "run: ../shared/data/us-regulations not found; ingesting corpus/ only" >&2
fi
# Exit code 2 means some files failed; they are listed above it and the rest is stored.
"$reagent" ingest "${sources[@]}" || [ $? -eq 2 ]
"$reagent" db seed
# Sanctions lists: every SDN snapshot, oldest first, so a past transaction is screened
# against the version in force on its date and the newest applies from today.
# Reloading an unchanged snapshot stores nothing.
if compgen -G "../shared/data/sanctions/sdn-*.csv" >/dev/null; then
  for list in ../shared/data/sanctions/sdn-*.csv; do
    published="$(basename "$list" .csv)"
    "$reagent" sanctions load "$list" --published "${published#sdn-}"
  done
else
  echo "run: ../shared/data/sanctions not found; no sanctions list loaded, so names are not screened" >&2
fi
"$reagent" analyze --transaction-id TXN003
echo
echo "== demo API keys (shown once; sign in at http://127.0.0.1:8080/ with either)"
"$reagent" keys create --role admin --name "run.sh demo admin"
"$reagent" keys create --role compliance_officer --name "run.sh demo officer"
if [ "${1:-}" != "--no-serve" ]; then
  exec "$reagent" serve
fi
