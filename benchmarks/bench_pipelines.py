"""Inference throughput of trained pipelines side by side: docs/s of `nlp.pipe`
on CLUENER dev, in rounds that alternate the pipelines (so each meets the same
fast and slow phases of a noisy machine); medians, and the per-round ratio to
the first pipeline.

    python benchmarks/bench_pipelines.py OLD_MODEL NEW_MODEL
    python benchmarks/bench_pipelines.py A B --rounds 7 --n-docs 1343
"""

import argparse
import statistics
import time
from pathlib import Path

from common import write_results

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="trained pipeline folders; ratios are to the first")
    p.add_argument("--dev", default=str(ROOT.parent / "shared" / "data" / "cluener" / "dev.json"))
    p.add_argument("--n-docs", type=int, default=1343, help="docs per round (CLUENER dev has 1,343)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipelines.json"))
    return p.parse_args()


def main() -> None:
    args = parse_args()
    import spacy

    from spacy_globalpointer.training.converters import cluener

    texts = [record.text for record in cluener.read_cluener(args.dev)][: args.n_docs]
    pipelines = [spacy.load(path) for path in args.models]
    for nlp in pipelines:  # warm-up: first calls build caches and thread pools
        list(nlp.pipe(texts[:64], batch_size=args.batch_size))
    seconds = [[] for _ in pipelines]
    for r in range(args.rounds):
        order = range(len(pipelines)) if r % 2 == 0 else reversed(range(len(pipelines)))
        for i in order:
            t0 = time.perf_counter()
            for _ in pipelines[i].pipe(texts, batch_size=args.batch_size):
                pass
            seconds[i].append(time.perf_counter() - t0)
    rows = []
    for path, secs in zip(args.models, seconds):
        ratios = [a / b for a, b in zip(seconds[0], secs)]
        rows.append(
            {
                "model": path,
                "docs_per_s": len(texts) / statistics.median(secs),
                "ratio_to_first": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
            }
        )
    print(f"| pipeline | docs/s | vs first (median, range over {args.rounds} rounds) |\n|---|---|---|")
    for row in rows:
        low, high = row["ratio_range"]
        ratio = f"{row['ratio_to_first']:.3f} ({low:.3f}–{high:.3f})"
        print(f"| {row['model']} | {row['docs_per_s']:.0f} | {ratio} |")
    write_results(args.out, {"n_docs": len(texts), "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    main()
