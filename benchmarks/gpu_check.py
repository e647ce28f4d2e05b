"""The GPU timings: the transformer configs' training, prediction speed, a long doc, and corpus
prediction on Ray, on a GPU (the checks are tests/test_gpu.py, marker ``gpu``).

    python benchmarks/gpu_check.py --gpu-id 0 --out /tmp/gpu_check          # on a GPU machine
    python benchmarks/gpu_check.py --gpu-id -1 --train-limit 48 --steps 4 \\
        --long-doc-chars 2000 --ray-docs 16 --speed-rounds 1             # a dry run on the CPU
    bash benchmarks/gpu_check.sh        # on a GPU machine without network: the tests, then this

Every step is timed and runs even when an earlier one failed; the figures go to DIR/gpu_check.json and a
table is printed at the end. The steps:

  a. `spacy train` of configs/cluener_trf.cfg (spacy-transformers) and configs/cluener_curated.cfg
     (spacy-curated-transformers, filled from the model folder first) for --steps steps on the first
     --train-limit docs of CLUENER train, mixed precision on (on a GPU): seconds and updates per second.
  c. benchmarks/bench_speed.py for the CPU config and both transformer configs: docs/s at prediction and
     in training, and the head's share of prediction.
  d. a --long-doc-chars doc through both transformer pipelines against one a tenth as long: time per
     token, and peak GPU memory (torch.cuda.max_memory_allocated; on the CPU the peak RSS's growth).
  e. `spacy globalpointer predict` with the local engine and with `--engine ray --gpus-per-worker 1`
     (0 on the CPU) and one actor: seconds of each (skipped where Ray is not installed).

The model is a small random BERT (helpers/transformer_slice.py). Nothing is downloaded.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # helpers/
sys.path.insert(0, str(ROOT / "benchmarks"))  # common.py

import spacy  # noqa: E402
from common import status_mb  # noqa: E402

from helpers.transformer_slice import CONFIGS, TransformerSlice, step_losses  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cluener"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpu-id", type=int, default=0, help="GPU id; -1: a dry run on the CPU")
    p.add_argument("--out", default=None, help="folder for gpu_check.json (default: a temp folder)")
    p.add_argument("--data", default=os.environ.get("CLUENER_DIR", str(DATA)), help="CLUENER train/dev.json")
    p.add_argument("--steps", type=int, default=100, help="a: training steps per transformer config")
    p.add_argument("--train-limit", type=int, default=800, help="a: the first N docs of CLUENER train")
    p.add_argument("--dev-limit", type=int, default=200, help="a, d, e: the first N docs of CLUENER dev")
    p.add_argument("--seed", type=int, default=0, help="a: training seed")
    p.add_argument("--bert-hidden", type=int, default=64, help="the random BERT's width (2 layers)")
    p.add_argument("--speed-setups", default="cpu,trf,curated", help="c: bench_speed.py's setups")
    p.add_argument("--speed-rounds", type=int, default=3, help="c: bench_speed.py's --rounds")
    p.add_argument("--long-doc-chars", type=int, default=100_000, help="d: the long doc's characters")
    p.add_argument("--ray-docs", type=int, default=200, help="e: docs both engines predict (<= --dev-limit)")
    p.add_argument("--only", default="a,c,d,e", help="the steps to run, comma-separated")
    return p.parse_args(argv)


def run(cmd: List, log: Path, env=None) -> float:
    """Run a command with its output in ``log``; its seconds. Raises with the log's tail when it fails."""
    start = time.perf_counter()
    with log.open("w") as f:
        code = subprocess.run(
            [str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        ).returncode
    if code:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... exited {code}:\n{log.read_text()[-3000:]}")
    return round(time.perf_counter() - start, 1)


class GPUTimings:
    def __init__(self, args, work: Path):
        import torch

        self.args, self.work = args, work
        self.gpu = args.gpu_id >= 0
        self.device = torch.device(f"cuda:{args.gpu_id}" if self.gpu else "cpu")
        self.slice = TransformerSlice(
            Path(args.data), work, args.train_limit, args.dev_limit, args.bert_hidden, gpu=self.gpu
        )

    def step_a(self, figures: Dict) -> None:
        for name in CONFIGS.values():
            steps_log = self.work / f"{name}_steps.jsonl"
            config = self.slice.training_config(name, self.args.steps, self.args.seed, steps_log)
            cmd = [
                sys.executable,
                *self.slice.train_command(config, self.work / f"training_{name}", self.args.gpu_id),
            ]
            seconds = run(cmd, self.work / f"train_{name}.log")
            updates = len(step_losses(steps_log)["updates"])
            figures[name] = {
                "seconds": seconds,
                "updates": updates,
                "updates_per_s": round(updates / seconds, 2),
            }

    def step_c(self, figures: Dict) -> None:
        a = self.args
        small = a.dev_limit < 512
        # bench_speed.py trains on batches of 16 dev docs, 2 to warm up and --train-steps per round.
        n_docs = max(a.dev_limit, 16 * (2 + a.speed_rounds * (1 if small else 4)))
        dev = self.work / "speed_dev.json"
        dev.write_text("".join(line for _, line in zip(range(n_docs), open(Path(a.data) / "dev.json"))))
        for setup in a.speed_setups.split(","):
            out = self.work / f"speed_{setup}.json"
            cmd = [sys.executable, ROOT / "benchmarks" / "bench_speed.py", "--setups", setup]
            cmd += ["--gpu-id", a.gpu_id]
            cmd += ["--transformer", self.slice.bert, "--dev", dev, "--out", out, "--rounds", a.speed_rounds]
            cmd += ["--no-speed-settings"]
            if small:  # a slice: fewer docs per round and fewer steps, so the batches last
                cmd += ["--n-docs", min(64, a.dev_limit), "--baseline-docs", 4, "--train-steps", 1]
            seconds = run(cmd, self.work / f"speed_{setup}.log")
            result = json.loads(out.read_text())["setups"][setup]
            keys = ("train_docs_per_s", "infer_docs_per_s", "head_share_of_inference")
            figures[setup] = {
                "seconds": seconds,
                **{k: result["ours"][k] for k in keys},
                "baseline_ratio": result["ratio"]["infer_docs_per_s"],
            }

    def step_d(self, figures: Dict) -> None:
        import torch

        size = self.args.long_doc_chars
        if self.gpu:
            spacy.require_gpu(self.args.gpu_id)
        try:
            for path, name in CONFIGS.items():
                nlp = self.slice.trained_pipeline(name)
                nlp("热身")  # first-call allocations are not the doc's
                runs = {}
                for chars in (size // 10, size):
                    if self.gpu:
                        torch.cuda.synchronize()
                        torch.cuda.reset_peak_memory_stats(self.device)
                        base = torch.cuda.memory_allocated(self.device)
                    else:
                        base = status_mb()["VmRSS"]
                    start = time.perf_counter()
                    doc = nlp(self.slice.long_text(chars))
                    if self.gpu:
                        torch.cuda.synchronize()
                    seconds = time.perf_counter() - start
                    if self.gpu:
                        grew = (torch.cuda.max_memory_allocated(self.device) - base) / 2**20
                    else:
                        grew = status_mb()["VmHWM"] - base
                    runs[chars] = {
                        "tokens": len(doc),
                        "seconds": round(seconds, 3),
                        "ms_per_1000_tokens": 1e6 * seconds / max(len(doc), 1),
                        ("peak_gpu_mb_grew" if self.gpu else "peak_rss_mb_grew"): round(grew, 1),
                    }
                figures[path] = runs
        finally:
            if self.gpu:
                spacy.require_cpu()

    def step_e(self, figures: Dict) -> None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            figures["skipped"] = "Ray is not installed"
            return
        model = self.work / "ray_model"
        self.slice.trained_pipeline(CONFIGS["trf"]).to_disk(model)
        corpus = self.slice.write_corpus(self.work / "ray_in.jsonl", self.args.ray_docs)
        base = [sys.executable, "-m", "spacy", "globalpointer", "predict", model, corpus]
        common = ["--id-field", "id", "--batch-size", 64, "--no-progress"]
        local = [*base, self.work / "local.jsonl", "--gpu-id", self.args.gpu_id, *common]
        figures["local_seconds"] = run(local, self.work / "local.log")
        gpus = 1 if self.gpu else 0
        ray_cmd = [*base, self.work / "ray_out", "--engine", "ray", "--workers", 1, "--gpus-per-worker", gpus]
        ray_cmd += ["--cpus-per-worker", 1, *common]
        figures["ray_seconds"] = run(ray_cmd, self.work / "ray.log", {"RAY_USAGE_STATS_ENABLED": "0"})
        figures["docs"] = self.args.ray_docs


def environment(args) -> Dict:
    import importlib.metadata

    import torch

    versions = {}
    names = (
        "torch spacy thinc spacy-transformers transformers spacy-curated-transformers curated-transformers"
    )
    for dist in (names + " cupy cupy-cuda12x ray numpy spacy-globalpointer").split():
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    gpu = torch.cuda.get_device_name(args.gpu_id) if args.gpu_id >= 0 else None
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "gpu": gpu, "versions": versions}


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)
    if args.gpu_id >= 0:
        spacy.require_gpu(args.gpu_id)  # fails early and plainly where there is no GPU
        spacy.require_cpu()
    results = {"args": vars(args), "env": environment(args), "steps": {}}
    with tempfile.TemporaryDirectory(prefix="gpu_check_work_") as tmp:
        timings = GPUTimings(args, Path(tmp))
        steps: Dict[str, Callable] = {
            "a": timings.step_a,
            "c": timings.step_c,
            "d": timings.step_d,
            "e": timings.step_e,
        }
        for name in args.only.split(","):
            figures: Dict = {}
            start, error = time.perf_counter(), None
            print(f"--- step {name} ...", flush=True)
            try:
                steps[name](figures)
            except Exception:  # the next steps still run
                error = traceback.format_exc()[-3000:]
            status = "error" if error else ("skipped" if "skipped" in figures else "done")
            results["steps"][name] = {
                "status": status,
                "seconds": round(time.perf_counter() - start, 1),
                "error": error,
                "figures": figures,
            }
            print(f"--- step {name}: {status}", error or "", sep="\n", flush=True)
            (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    rows = [(name, r["status"], r["seconds"]) for name, r in results["steps"].items()]
    from wasabi import msg

    msg.table(rows, header=("step", "status", "seconds"), divider=True)
    print(f"figures: {out / 'gpu_check.json'}")
    return 1 if any(r["status"] == "error" for r in results["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
