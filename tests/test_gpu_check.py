"""benchmarks/gpu_check.py's dry run on the CPU (--gpu-id -1), on a tiny slice: every step runs and passes.

The GPU run itself needs a GPU machine (docs/performance.md, "GPU check"); this keeps its CPU-runnable
parts working in CI.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("spacy_transformers")
pytest.importorskip("spacy_curated_transformers")


@pytest.mark.slow
def test_gpu_check_dry_run(cluener_dir, tmp_path):
    import importlib.util

    out = tmp_path / "out"
    cmd = [sys.executable, ROOT / "benchmarks" / "gpu_check.py", "--gpu-id", "-1", "--out", out]
    cmd += ["--data", cluener_dir, "--train-limit", "48", "--dev-limit", "32", "--steps", "3"]
    cmd += ["--head-steps", "3", "--speed-setups", "trf", "--speed-rounds", "1", "--long-doc-chars", "1000"]
    cmd += ["--ray-docs", "8"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    results = json.loads((out / "gpu_check.json").read_text())
    steps = results["steps"]
    failures = {name: step["failures"] for name, step in steps.items() if step["status"] == "fail"}
    assert proc.returncode == 0 and not failures, f"{failures}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert list(steps) == ["a", "b", "c", "d", "e"]
    ray = importlib.util.find_spec("ray") is not None
    assert all(step["status"] == "pass" for name, step in steps.items() if ray or name != "e")
    assert sorted(os.listdir(out)) == ["gpu_check.json"]
    a = steps["a"]["figures"]
    assert a["cluener_trf"]["updates"] == a["cluener_curated"]["updates"] == 4  # steps 0-3
    b = steps["b"]["figures"]
    assert len([key for key in b if key.endswith("_pipeline")]) == 4  # 2 heads x RoPE on/off
    assert len([key for key in b if key.endswith(("_float16", "_bfloat16"))]) == 8
    assert set(steps["c"]["figures"]) == {"trf"} and set(steps["d"]["figures"]) == {"trf", "curated"}
