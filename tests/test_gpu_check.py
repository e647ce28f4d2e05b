"""The GPU checks' dry run on the CPU, on a tiny slice, so that they work when a GPU is lent
(docs/performance.md, "GPU check"): tests/test_gpu.py's checks (marker ``gpu``) with
SPACY_GLOBALPOINTER_GPU_TESTS=cpu, then benchmarks/gpu_check.py's timings with --gpu-id -1."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("spacy_transformers")
pytest.importorskip("spacy_curated_transformers")


def environment(cluener_dir) -> dict:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "CLUENER_DIR": str(cluener_dir)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.slow
def test_the_gpu_checks_run_on_the_cpu(cluener_dir):
    env = {**environment(cluener_dir), "SPACY_GLOBALPOINTER_GPU_TESTS": "cpu"}
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_gpu.py"), "-m", "gpu", "-q"]
    proc = subprocess.run(cmd + ["-p", "no:cacheprovider"], capture_output=True, text=True, env=env, cwd=ROOT)
    summary = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0 and " passed" in summary and "failed" not in summary, proc.stdout[-3000:]


@pytest.mark.slow
def test_gpu_timings_dry_run(cluener_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, ROOT / "benchmarks" / "gpu_check.py", "--gpu-id", "-1", "--out", out]
    cmd += ["--data", cluener_dir, "--train-limit", "48", "--dev-limit", "32", "--steps", "3"]
    cmd += ["--speed-setups", "trf", "--speed-rounds", "1", "--long-doc-chars", "1000", "--ray-docs", "8"]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=environment(cluener_dir))
    steps = json.loads((out / "gpu_check.json").read_text())["steps"]
    errors = {name: step["error"] for name, step in steps.items() if step["status"] == "error"}
    assert proc.returncode == 0 and not errors, f"{errors}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert list(steps) == ["a", "c", "d", "e"] and sorted(os.listdir(out)) == ["gpu_check.json"]
    a = steps["a"]["figures"]
    assert a["cluener_trf"]["updates"] == a["cluener_curated"]["updates"] == 4  # steps 0-3
    assert set(steps["c"]["figures"]) == {"trf"} and set(steps["d"]["figures"]) == {"trf", "curated"}
    assert all(
        run["ms_per_1000_tokens"] > 0 for runs in steps["d"]["figures"].values() for run in runs.values()
    )
