#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.sh installs on a GPU machine that has no network.
#
#     bash benchmarks/gpu_wheels.sh            # writes .whl/ (git-ignored) and prints its size
#     WHEELS=/tmp/w bash benchmarks/gpu_wheels.sh
#
# The GPU machine has Python 3.12 with torch (CUDA), cupy, numpy and transformers 5.x. spaCy, thinc,
# spacy-transformers, spacy-curated-transformers and their dependencies travel as cp312 manylinux wheels
# downloaded here, pinned to the versions the tests run with in this checkout's environment. They are
# installed with --no-deps into a venv over the machine's packages (gpu_check.sh), so the list must be
# complete: every distribution below, nothing resolved there.
#
# transformers 4.53.2 (with tokenizers 0.21 and huggingface-hub 0.x) rides along although the machine has
# 5.x: spacy-transformers 1.4 supports transformers below 4.53.3 only.
# Left out: torch, numpy and cupy (the machine's), hf-xet (huggingface-hub imports it to download only),
# and Ray (its wheel alone is over the 64 MiB that may travel): gpu_check.py's Ray step runs only where
# Ray is installed.
#
# The compiled wheels are shipped with their debug information stripped (strip --strip-debug; RECORD
# rewritten to match): spaCy's wheel is 34 MiB with it and 7 MiB without, and all of them together would
# not fit in the 64 MiB otherwise. Only DWARF sections go; the code and its symbols are untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}
mkdir -p "$WHEELS"

PINNED=(
  # spaCy and thinc, and their compiled helpers
  spacy==3.8.18 thinc==8.3.14 blis==1.3.4 cymem==2.0.16 preshed==3.0.15 murmurhash==1.0.16
  srsly==2.5.6 catalogue==2.0.10 confection==1.3.4 wasabi==1.1.3 weasel==1.0.1
  spacy-legacy==3.0.12 spacy-loggers==1.0.5
  # spaCy's CLI and config validation
  typer==0.29.2 click==8.5.1 annotated-doc==0.0.7 shellingham==1.5.4 rich==15.0.0 pygments==2.21.0
  markdown-it-py==4.3.0 mdurl==0.1.2 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
  typing-inspection==0.4.5 typing-extensions==4.16.0
  # weasel (imported by spaCy's CLI): remote storage and downloads, imported even when unused
  cloudpathlib==0.26.0 smart-open==9.0.4 wrapt==2.5.2 requests==2.34.2 urllib3==2.8.0 idna==3.20
  charset-normalizer==3.5.3 certifi==2026.10.19.post1 httpx==0.29.0 httpcore==1.0.9 h11==0.16.0
  anyio==4.16.0
  # the two transformer paths
  spacy-transformers==1.4.0 spacy-alignments==0.9.3 transformers==4.53.2 tokenizers==0.21.4
  huggingface-hub==0.36.2 safetensors==0.8.0 regex==2026.11.19 pyyaml==6.0.4
  filelock==4.3.2 fsspec==2026.9.0 tqdm==4.70.1 packaging==26.4
  spacy-curated-transformers==0.3.1 curated-transformers==0.1.1 curated-tokenizers==0.0.10
  # the GPU checks (tests/test_gpu.py) run under pytest
  pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1
)

pip download --quiet --only-binary=:all: --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  --python-version 3.12 \
  --implementation cp --no-deps -d "$WHEELS" "${PINNED[@]}"
# Debug information out of the compiled wheels (see above); a wheel already stripped is left as it is.
python - "$WHEELS" <<'PY'
import base64, hashlib, subprocess, sys, tempfile, zipfile
from pathlib import Path

for wheel in sorted(Path(sys.argv[1]).glob("*-manylinux*.whl")):
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zin:
        infos = zin.infolist()
        libs = [i.filename for i in infos if i.filename.endswith(".so") or ".so." in i.filename]
        if not libs:
            continue
        zin.extractall(tmp)
        before = sum(Path(tmp, name).stat().st_size for name in libs)
        subprocess.run(["strip", "--strip-debug", *(str(Path(tmp, name)) for name in libs)], check=True)
        if sum(Path(tmp, name).stat().st_size for name in libs) == before:
            continue
        record = next(i.filename for i in infos if i.filename.endswith(".dist-info/RECORD"))
        lines = []
        for line in Path(tmp, record).read_text().splitlines():
            name = line.rsplit(",", 2)[0]
            if name != record and Path(tmp, name).is_file():
                data = Path(tmp, name).read_bytes()
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                line = f"{name},sha256={digest},{len(data)}"
            lines.append(line)
        Path(tmp, record).write_text("\n".join(lines) + "\n")
        slim = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
            for info in infos:
                zout.write(Path(tmp, info.filename), info.filename)
        slim.replace(wheel)
        print(f"{wheel.name}: debug information stripped")
PY
# jieba (the CPU config's word features) is published as an sdist only: a pure-Python wheel built here.
pip wheel --quiet --no-deps -w "$WHEELS" jieba==0.42.1
# This package, from the working tree.
rm -f "$WHEELS"/spacy_globalpointer-*.whl
pip wheel --quiet --no-deps -w "$WHEELS" .

ls -1 "$WHEELS"
du -sh "$WHEELS"
bytes=$(du -sb "$WHEELS" | cut -f1)
if ((bytes > 64 * 1024 * 1024)); then
  echo "✘ $WHEELS is $((bytes / 1024 / 1024)) MiB: over the 64 MiB that may travel" >&2
  exit 1
fi
