# Shared environment for the project's scripts: where the model and the runtime are.
# Sourced, not run. Absolute paths, so tests in any crate directory find them.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REAGENT_CACHE="${REAGENT_CACHE:-$_root/.cache}"
export REAGENT_EMBEDDING_MODEL_DIR="${REAGENT_EMBEDDING_MODEL_DIR:-$REAGENT_CACHE/models/minilm-l6-obliqa-int8}"
export REAGENT_EMBEDDING_ORT_DYLIB_PATH="${REAGENT_EMBEDDING_ORT_DYLIB_PATH:-$REAGENT_CACHE/onnxruntime/libonnxruntime.so}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
unset _root
