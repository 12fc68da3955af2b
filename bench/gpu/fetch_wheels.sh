#!/usr/bin/env bash
# Download (here, with network) every wheel the job needs on the GPU machine
# beyond its image (Python 3.12, torch, transformers 5.17, pyarrow, numpy,
# grpcio, pandas, pyyaml, tqdm, regex, safetensors, tokenizers,
# huggingface-hub; no gliner, no apache-beam, no network), one version each,
# at the versions pinned in constraints.txt, then slim them (stripped
# extension modules, no Beam tests/examples) to stay under ~25 MiB.
#
#   bench/gpu/fetch_wheels.sh            # -> .whl/ (cp312, manylinux x86_64)
#   PY=3.11 DEST=/tmp/whl311 bench/gpu/fetch_wheels.sh   # same set for a CPU rehearsal
#
# transformers is NOT carried: the image's 5.17 runs gliner 0.2.29 (checked by
# the rehearsal: gliner declares transformers<5.17 but only in its metadata).
# protobuf IS carried: Beam 2.77 needs < 7, and a newer image copy would break it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-3.12}
DEST=${DEST:-.whl}
WHEELS=(
  apache-beam==2.77.0 gliner==0.2.29
  # apache-beam's runtime requirements that the image lacks
  fastavro==1.13.1 fasteners==0.20 httplib2==0.32.1 pyparsing==3.3.3
  jsonpickle==4.1.4 objsize==0.7.1 proto-plus==1.29.0 protobuf==6.33.6
  zstandard==0.25.0 beartype==0.22.9 sortedcontainers==2.4.0
  python-dateutil==2.9.0.post0 pytz==2026.6 six==1.17.0
  requests==2.34.2 urllib3==2.8.0 idna==3.20 certifi==2026.10.19.post1
  charset-normalizer==3.5.3 cryptography==50.0.2 cffi==2.1.1
)
rm -rf "$DEST"
mkdir -p "$DEST"
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version "$PY" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$DEST" "${WHEELS[@]}"
python3 bench/gpu/slim_wheels.py "$DEST"/*.whl
ls "$DEST" | sed 's/-.*//' | sort | uniq -d | { ! grep . ; } || {
  echo "more than one version of a package in $DEST" >&2; exit 1; }
# The GPU machine has no CrossNER copy: carry its sentences (~0.2 MB).
PYTHONPATH=. "${BENCH_PYTHON:-.venv/bin/python}" -c "
from pathlib import Path; from bench import corpora
print(corpora.write_sentences(Path('$DEST/sentences.txt.gz')), 'sentences')"
du -sh "$DEST"
