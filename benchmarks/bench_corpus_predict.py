"""Corpus prediction: docs/s and peak memory, one process vs streaming vs Ray.

    python benchmarks/bench_corpus_predict.py --model training/cluener_cpu/model-best
    python benchmarks/bench_corpus_predict.py --model ... --sizes 10000,100000 --workers 1,2

The corpus is CLUENER dev's texts, cycled to each size and written as 4
JSON-lines shards. Each measurement runs in a fresh process:

- nlp.pipe: the texts streamed from the shards through ``nlp.pipe`` in one
  process, every doc dropped after it is made (the floor: no output written);
- local: ``spacy globalpointer predict`` (streaming, one output per shard);
- ray N: ``--engine ray --workers N`` on a local Ray with the machine's CPUs,
  each worker 1 CPU.

Peak RSS is /proc's VmHWM of the process (for Ray: the driver, and the largest
worker, sampled every 0.2 s). Prints a table with the ratios to nlp.pipe of the
same size, writes JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import peak_rss_mb, status_mb, write_results

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "cluener"


def write_corpus(folder: Path, size: int, dev: str, shards: int = 4) -> None:
    texts = [json.loads(line)["text"] for line in open(dev, encoding="utf8") if line.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-size // shards)
    for s in range(shards):
        with open(folder / f"part{s}.jsonl", "w", encoding="utf8") as f:
            for k in range(s * per, min(size, (s + 1) * per)):
                f.write(json.dumps({"id": k, "text": texts[k % len(texts)]}, ensure_ascii=False) + "\n")


def worker_peak(stop: threading.Event, found: dict) -> None:
    """Largest VmRSS of any Ray map worker, sampled until stop is set."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if b"MapWorker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                found["mb"] = max(found.get("mb", 0.0), status_mb(pid)["VmRSS"])
            except (OSError, KeyError):
                continue
        stop.wait(0.2)


def child(engine: str, model: str, corpus: str, out: str) -> None:
    """Runs in its own process; prints one JSON line."""
    from spacy_globalpointer.corpus.input_records import expand_inputs, read_records

    n = sum(1 for p, _ in expand_inputs([corpus]) for _ in read_records(p))
    extra = {}
    if engine == "pipe":
        import spacy

        nlp = spacy.load(model)
        texts = (r.text for p, _ in expand_inputs([corpus]) for r in read_records(p))
        t0 = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=256):
            pass
    elif engine == "local":
        import spacy

        from spacy_globalpointer.corpus.predict import predict_corpus
        from spacy_globalpointer.corpus.predict_options import PredictOptions

        nlp = spacy.load(model)
        t0 = time.perf_counter()
        predict_corpus(nlp, [corpus], out, PredictOptions(id_field="id", progress=False))
    else:
        import ray

        from spacy_globalpointer.corpus.predict_options import PredictOptions
        from spacy_globalpointer.corpus.ray_engine import predict_with_ray

        workers = int(engine.split("_")[1])
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        stop, found = threading.Event(), {}
        sampler = threading.Thread(target=worker_peak, args=(stop, found), daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        predict_with_ray(model, [corpus], out, PredictOptions(id_field="id", progress=False), workers=workers)
        stop.set()
        sampler.join()
        extra["worker_peak_rss_mb"] = found.get("mb")
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {"docs": n, "seconds": seconds, "docs_per_s": n / seconds, "peak_rss_mb": peak_rss_mb(), **extra}
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "training" / "cluener_cpu" / "model-best"))
    p.add_argument("--sizes", default="10000,100000", help="corpus sizes in texts")
    p.add_argument("--workers", default="1,2", help="Ray pool sizes to run")
    p.add_argument("--engines", default="pipe,local,ray", help="which of pipe, local, ray")
    p.add_argument("--dev", default=str(DATA / "dev.json"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "corpus_predict.json"))
    p.add_argument("--child", nargs=4, metavar=("ENGINE", "MODEL", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    from wasabi import msg

    if not Path(args.model, "config.cfg").exists():
        sys.exit(f"No pipeline at {args.model}: run `spacy project run all .` first, or pass --model.")
    engines = []
    for engine in args.engines.split(","):
        engines += [f"ray_{w}" for w in args.workers.split(",")] if engine == "ray" else [engine]
    rows = []
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        for size in map(int, args.sizes.split(",")):
            corpus = Path(tmp) / f"corpus{size}"
            write_corpus(corpus, size, args.dev)
            for engine in engines:
                out = Path(tmp) / f"out_{engine}_{size}"
                cmd = [sys.executable, __file__, "--child", engine, args.model, str(corpus), str(out)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode:
                    sys.exit(f"{engine} at {size} failed:\n{proc.stderr[-3000:]}")
                row = {"engine": engine, "size": size, **json.loads(proc.stdout.strip().splitlines()[-1])}
                rows.append(row)
                rate, rss = row["docs_per_s"], row["peak_rss_mb"]
                msg.text(f"{engine:>8} {size:>7} texts: {rate:.0f} docs/s, peak RSS {rss:.0f} MB")
    base = {r["size"]: r["docs_per_s"] for r in rows if r["engine"] == "pipe"}
    table = [
        (
            r["engine"].replace("_", " "),
            r["size"],
            f"{r['docs_per_s']:.0f}",
            f"{r['docs_per_s'] / base[r['size']]:.2f}x" if r["size"] in base else "",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['worker_peak_rss_mb']:.0f}" if r.get("worker_peak_rss_mb") else "",
        )
        for r in rows
    ]
    header = ("engine", "texts", "docs/s", "vs nlp.pipe", "peak RSS MB", "Ray worker RSS MB")
    msg.table(table, header=header, divider=True, aligns=("l", "r", "r", "r", "r", "r"))
    write_results(args.out, {"env": {"cpus": os.cpu_count()}, "rows": rows})


if __name__ == "__main__":
    main()
