#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (idempotent),
# then runs every crate's unit and integration tests. `.ci/run` calls this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/env.sh
source scripts/env.sh

scripts/setup-models.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads=2 "$@"
