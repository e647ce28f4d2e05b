#!/usr/bin/env bash
# Install the shipped wheels on a GPU machine without network, then run the GPU checks
# (tests/test_gpu.py, marker gpu) and the GPU timings (benchmarks/gpu_check.py).
#
#     bash benchmarks/gpu_wheels.sh                     # here, with network: fills .whl/
#     OUT=/some/folder bash benchmarks/gpu_check.sh     # there: every figure under $OUT
#     bash benchmarks/gpu_check.sh --gpu-id 0 --only a,c   # arguments go to gpu_check.py
#
# The wheels go into a venv over the machine's own packages (--system-site-packages): torch, cupy and
# numpy are the machine's and are never reinstalled, and what the wheels bring (transformers 4.53 for
# spacy-transformers, among others) shadows the machine's copies in this venv only. --no-index and
# --no-deps: nothing is fetched or resolved; `pip check` says what the machine's versions leave unmet
# (written to $OUT/install.log, not an error by itself).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d -t gpu_check_out.XXXXXX)}
WHEELS=${WHEELS:-.whl}
VENV=${VENV:-$(mktemp -d -t gpu_check_venv.XXXXXX)}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if ! ls "$WHEELS"/spacy_globalpointer-*.whl > /dev/null 2>&1; then
  echo "✘ no wheels in $WHEELS: run benchmarks/gpu_wheels.sh where there is network, and bring $WHEELS" >&2
  exit 2
fi
# A venv without pip where ensurepip is missing: the machine's pip then installs into it (--python).
if "$PYTHON" -m venv --system-site-packages "$VENV" 2> /dev/null; then
  PIP=("$VENV/bin/python" -m pip)
else
  "$PYTHON" -m venv --system-site-packages --without-pip "$VENV"
  PIP=("$PYTHON" -m pip --python "$VENV/bin/python")
fi
{
  "${PIP[@]}" install --no-index --no-deps --find-links "$WHEELS" "$WHEELS"/*.whl
  "${PIP[@]}" check || true
} > "$OUT/install.log" 2>&1 || { tail -30 "$OUT/install.log" >&2; exit 2; }
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.cuda.is_available())"

# The tests and gpu_check.py put the checkout first on their sys.path (helpers/: tiny BERT, toy data); the
# commands they start (spacy train, predict, Ray's workers) find the package as the wheel installed it.
status=0
"$VENV/bin/python" -m pytest tests/test_gpu.py -m gpu -q -p no:cacheprovider --junitxml "$OUT/test_gpu.xml" \
  2>&1 | tee "$OUT/test_gpu.log" || status=$?
"$VENV/bin/python" benchmarks/gpu_check.py --out "$OUT" "$@" || status=$?
echo "checks, figures and install log: $OUT"
exit $status
