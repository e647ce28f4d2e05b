"""Training memory: the process RSS every 100 steps, globalpointer_ner (the
CPU config) beside spaCy's ner on the same tok2vec, data and steps, in one run.

The data is a small Chinese set: CLUENER's dev split (1,343 short texts),
converted as the project converts it; both train on it and are evaluated on
its first 100 docs (the figures here are memory, not accuracy). Each side
trains in its own process, so one side's allocations never show in the
other's RSS.

    python benchmarks/bench_train_memory.py                   # 2,000 steps each
    python benchmarks/bench_train_memory.py --steps 300 --env MALLOC_ARENA_MAX=2
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import status_mb, write_results

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cluener" / "dev.json"))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=100, help="Log RSS every this many steps")
    p.add_argument("--sides", default="ours,ner")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for both training processes")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_memory.json"))
    p.add_argument("--side", help=argparse.SUPPRESS)  # internal: train one side in this process
    p.add_argument("--work", help=argparse.SUPPRESS)
    return p.parse_args()


def ner_config(ours):
    """spaCy's ner in place of our component, with our tok2vec and training block."""
    from thinc.api import Config

    cfg = Config(ours).copy()
    tok2vec = cfg["components"]["globalpointer_ner"]["model"]["tok2vec"]
    cfg["nlp"]["pipeline"] = ["ner"]
    cfg["components"] = {
        "ner": {
            "factory": "ner",
            "moves": None,
            "update_with_oracle_cut_size": 100,
            "incorrect_spans_key": None,
            "model": {
                "@architectures": "spacy.TransitionBasedParser.v2",
                "state_type": "ner",
                "extra_state_tokens": False,
                "hidden_width": 64,
                "maxout_pieces": 2,
                "use_upper": True,
                "nO": None,
                "tok2vec": tok2vec,
            },
        }
    }
    cfg["initialize"]["components"] = {}
    cfg["training"]["score_weights"] = {"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None}
    return cfg


def train_side(side: str, work: Path, steps: int, every: int) -> None:
    """Train one side here, logging (step, RSS MB) lines to work/SIDE.rss."""
    import spacy
    from spacy.cli.train import train
    from thinc.api import Config

    log = open(work / f"{side}.rss", "w")

    @spacy.registry.callbacks("bench.rss_every.v1")
    def make_logger():
        step = {"n": 0}

        def before_update(nlp, args):
            if step["n"] % every == 0:
                log.write(f"{step['n']} {status_mb()['VmRSS']:.1f}\n")
                log.flush()
            step["n"] += 1

        return before_update

    trim = {"seconds": 0.0, "calls": 0}
    if side == "ours":
        # What handing freed pages back costs: the component's calls, timed.
        import spacy_globalpointer.pipeline.pointer_pipe as pipe_module

        release = pipe_module.release_freed_memory

        def timed_release():
            t0 = time.perf_counter()
            release()
            trim["seconds"] += time.perf_counter() - t0
            trim["calls"] += 1

        pipe_module.release_freed_memory = timed_release
    ours = Config().from_disk(ROOT / "configs" / "cluener_cpu.cfg", interpolate=False)
    cfg = ours if side == "ours" else ner_config(ours)
    cfg["training"]["before_update"] = {"@callbacks": "bench.rss_every.v1"}
    cfg["training"].update(max_steps=steps, eval_frequency=steps)
    if side == "ours":
        del cfg["initialize"]["components"]["globalpointer_ner"]["labels"]
    path = work / f"{side}.cfg"
    cfg.to_disk(path, interpolate=False)
    overrides = {"paths.train": str(work / "train.spacy"), "paths.dev": str(work / "dev.spacy")}
    train(path, work / f"out_{side}", overrides=overrides)
    log.write(f"{steps} {status_mb()['VmRSS']:.1f}\n")
    (work / f"{side}.trim").write_text(f"{trim['seconds']} {trim['calls']}")


def main() -> None:
    args = parse_args()
    if args.side:
        train_side(args.side, Path(args.work), args.steps, args.every)
        return
    import spacy
    from spacy.tokens import DocBin

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "spacy",
                "globalpointer",
                "convert",
                args.data,
                str(work / "train.spacy"),
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        docs = list(DocBin().from_disk(work / "train.spacy").get_docs(spacy.blank("zh").vocab))
        DocBin(docs=docs[:100], store_user_data=True).to_disk(work / "dev.spacy")
        env = {**os.environ, **dict(item.split("=", 1) for item in args.env)}
        results = {"steps": args.steps, "env": args.env, "docs": len(docs), "rss_mb": {}}
        for side in args.sides.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--side",
                side,
                "--work",
                str(work),
                "--steps",
                str(args.steps),
                "--every",
                str(args.every),
            ]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            results.setdefault("train_seconds", {})[side] = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(f"{side} failed:\n{proc.stderr[-4000:]}")
            rows = [line.split() for line in (work / f"{side}.rss").read_text().splitlines()]
            seconds, calls = (work / f"{side}.trim").read_text().split()
            results.setdefault("trim", {})[side] = {"seconds": float(seconds), "calls": int(calls)}
            results["rss_mb"][side] = {int(step): float(mb) for step, mb in rows}
    sides = list(results["rss_mb"])
    print(
        "| step | " + " | ".join(f"{s} RSS MB" for s in sides) + (" | ratio |" if len(sides) == 2 else " |")
    )
    print("|---" * (len(sides) + 1 + (len(sides) == 2)) + "|")
    for step in sorted(results["rss_mb"][sides[0]]):
        cells = [results["rss_mb"][s].get(step) for s in sides]
        ratio = f" | {cells[0] / cells[1]:.2f}" if len(sides) == 2 and None not in cells else ""
        print(f"| {step} | " + " | ".join(f"{c:.0f}" if c else "-" for c in cells) + ratio + " |")
    for side in sides:
        trim = results["trim"][side]
        spent = f", of which {trim['seconds']:.1f} s in {trim['calls']} heap trims" if trim["calls"] else ""
        print(
            f"{side}: {results['train_seconds'][side]:.0f} s for {args.steps} steps and one evaluation{spent}"
        )
    write_results(args.out, results)


if __name__ == "__main__":
    main()
