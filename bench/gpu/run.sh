#!/usr/bin/env bash
# The single device command of issue 14: install the carried wheels (made by
# bench/gpu/fetch_wheels.sh into .whl/), print versions and nvidia-smi, run
# the GPU measurement (bench.gpu_mode), leave its JSON and log under $OUT.
#
#   bench/gpu/run.sh --model /path/to/gliner-checkpoint      # on the GPU machine
#   PYTHON=/tmp/simvenv/bin/python OUT=/tmp/gpu-out SITE=/tmp/site-sim \
#     WHL=/tmp/whl311 bench/gpu/run.sh --smoke --devices cpu   # CPU rehearsal
# (the rehearsal wheels: PY=3.11 DEST=/tmp/whl311 bench/gpu/fetch_wheels.sh)
#
# Extra arguments go to `python -m bench --gpu` (default --devices cuda).
# Files under $OUT: gpu-bench.json, gpu-bench.log (and a .tmp while writing).
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu-bench-out}
SITE=${SITE:-/tmp/site}
LIMIT_S=${LIMIT_S:-225}
WHL=${WHL:-.whl}
mkdir -p "$OUT"
LOG="$OUT/gpu-bench.log"
case " $* " in *" --devices "*) DEVICES=() ;; *) DEVICES=(--devices cuda) ;; esac
{
  started=$(date +%s)
  echo "== install $(ls "$WHL"/*.whl | wc -l) wheels ($(du -sh "$WHL" | cut -f1)) into $SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "$WHL"/*.whl || {
    # no pip in the image: a wheel is a zip whose top level is the site tree
    echo "== pip failed; unzipping the wheels into $SITE instead"
    "$PYTHON" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
      "$SITE" "$WHL"/*.whl || exit 3; }
  export PYTHONPATH="$SITE:$PWD" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false BENCH_SENTENCES="$(cd "$WHL" && pwd)/sentences.txt.gz"
  echo "== installed in $(( $(date +%s) - started )) s"
  "$PYTHON" - <<'PY'
import importlib, platform
print('python', platform.python_version())
for name in ('torch', 'transformers', 'tokenizers', 'huggingface_hub', 'numpy',
             'pyarrow', 'protobuf', 'grpc', 'apache_beam', 'gliner'):
  try:
    module = importlib.import_module('google.protobuf' if name == 'protobuf' else name)
    print(f'{name:16s} {getattr(module, "__version__", "?"):12s} {module.__file__}')
  except Exception as exc:  # noqa: BLE001
    print(f'{name:16s} MISSING: {exc}')
import torch
print('cuda', torch.cuda.is_available(), torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
PY
  nvidia-smi || echo "(no nvidia-smi)"
  timeout -s INT "$LIMIT_S" "$PYTHON" -m bench --gpu "${DEVICES[@]}" \
    --out "$OUT/gpu-bench.json" "$@"
  echo "== bench exit $? after $(( $(date +%s) - started )) s"
} 2>&1 | grep --line-buffered -v -E 'doc/s\]|it/s\]' | tee "$LOG"
