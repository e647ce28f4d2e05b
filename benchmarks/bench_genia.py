"""GENIA (English, nested): globalpointer_ner beside spaCy's spancat, one run.

The protocol of ../shared/data/genia/README.md: train on train.jsonl, select
on the first 300 lines of test.jsonl, evaluate on the other 1,432. The data
goes through the package's own path: GENIA's token-offset mentions become
spaCy-style JSON lines with tokens (a research format, not an annotation
tool's), then `spacy globalpointer convert --format spans --lang en`, and
our config is `spacy globalpointer init-config --lang en --train`.

spancat: `spacy init config --pipeline spancat` with the n-gram suggester at
sizes 1-20 (GENIA's longest mention is 20 tokens), the same tok2vec (spaCy's
standard CPU features, width 96, depth 4) and the same steps. Each side is
trained with both training blocks (ours: warm-up and linear decay, dropout
0.4; spaCy's default: constant 0.001, dropout 0.1, compounding batches) and
reported at its best on the evaluation lines. The four trainings alternate
sides (ours, spancat, ours, spancat) on this noisy machine.

    python benchmarks/bench_genia.py                     # 2,000 steps each
    python benchmarks/bench_genia.py --steps 200 --only ours:ours   # a quick look
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_results

ROOT = Path(__file__).resolve().parent.parent
GENIA = ROOT.parent / "shared" / "data" / "genia"
BUCKETS = [(1, 2), (3, 4), (5, 7), (8, 12), (13, 10**9)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--genia", default=str(GENIA), help="Folder with train.jsonl and test.jsonl")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-frequency", type=int, default=200)
    p.add_argument(
        "--only", default="", help="Comma-separated MODEL:BLOCK runs (ours|spancat : ours|spacy); default all"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A setting of our model for this run, e.g. span_content=false (an ablation); repeatable",
    )
    p.add_argument("--work", default=None, help="Keep the corpora, configs and models here")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "genia.json"))
    return p.parse_args()


def genia_to_spans(src: Path, dst: Path, lines=slice(None)) -> int:
    """GENIA lines -> spaCy JSON lines with tokens (text: tokens joined by
    single spaces; token_end inclusive, as spaCy's format has it)."""
    out = []
    for raw in src.read_text(encoding="utf8").splitlines()[lines]:
        rec = json.loads(raw)
        starts, pos = [], 0
        for tok in rec["tokens"]:
            starts.append(pos)
            pos += len(tok) + 1
        tokens = [{"text": t, "start": s, "end": s + len(t)} for t, s in zip(rec["tokens"], starts)]
        spans = [
            {
                "start": tokens[m["start"]]["start"],
                "end": tokens[m["end"] - 1]["end"],
                "label": m["entity_type"],
                "token_start": m["start"],
                "token_end": m["end"] - 1,
            }
            for m in rec["entity_mentions"]
        ]
        out.append(
            {"text": " ".join(rec["tokens"]), "tokens": tokens, "spans": spans, "doc_id": rec["doc_id"]}
        )
    dst.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf8")
    return len(out)


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def configs(work: Path, steps: int, eval_frequency: int):
    """ours.cfg from init-config; spancat.cfg from spaCy's init config; the
    two training blocks, as config sections."""
    from thinc.api import Config

    run(
        "spacy",
        "globalpointer",
        "init-config",
        str(work / "ours.cfg"),
        "--lang",
        "en",
        "--train",
        str(work / "train.spacy"),
    )
    run(
        "spacy",
        "init",
        "config",
        str(work / "spancat.cfg"),
        "--lang",
        "en",
        "--pipeline",
        "spancat",
        "--force",
    )
    ours = Config().from_disk(work / "ours.cfg", interpolate=False)
    spancat = Config().from_disk(work / "spancat.cfg", interpolate=False)
    spancat["components"]["spancat"]["suggester"]["sizes"] = list(range(1, 21))
    blocks = {}
    for name, cfg in (("ours", ours), ("spacy", spancat)):
        blocks[name] = {key: cfg["training"][key] for key in ("dropout", "batcher", "optimizer")}
    for cfg in (ours, spancat):
        cfg["training"].update(max_steps=steps, eval_frequency=eval_frequency, patience=0, max_epochs=0)
    return {"ours": ours, "spancat": spancat}, blocks


def with_block(config, block):
    from thinc.api import Config

    cfg = Config(config).copy()
    for key, value in block.items():
        cfg["training"][key] = value
    if "learn_rate" in cfg["training"]["optimizer"] and isinstance(
        cfg["training"]["optimizer"]["learn_rate"], dict
    ):
        cfg["training"]["optimizer"]["learn_rate"]["total_steps"] = cfg["training"]["max_steps"]
    return cfg


def evaluate(model: Path, test: Path):
    """Spans P/R/F on the evaluation lines, recall and precision by gold
    length in tokens, and docs/s (median of 3 passes)."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.load(model)
    refs = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    texts = [r.text for r in refs]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        preds = list(nlp.pipe(texts, batch_size=256))
        times.append(time.perf_counter() - t0)
    tp = fp = fn = 0
    by_len = {f"{a}-{b}" if b < 10**9 else f"{a}+": [0, 0, 0] for a, b in BUCKETS}  # tp, fn, fp
    for ref, pred in zip(refs, preds):
        # Exact character offsets; lengths in GENIA's own tokens (the reference's).
        gold = {(s.start_char, s.end_char, s.label_): len(s) for s in ref.spans["sc"]}
        got = {}
        for s in pred.spans.get("sc", []):
            covered = ref.char_span(s.start_char, s.end_char, alignment_mode="expand")
            got[(s.start_char, s.end_char, s.label_)] = len(covered) if covered is not None else len(s)
        tp, fp, fn = (
            tp + len(gold.keys() & got.keys()),
            fp + len(got.keys() - gold.keys()),
            fn + len(gold.keys() - got.keys()),
        )
        for key, (a, b) in zip(by_len, BUCKETS):
            g = {x for x, n in gold.items() if a <= n <= b}
            q = {x for x, n in got.items() if a <= n <= b}
            by_len[key][0] += len(g & q)
            by_len[key][1] += len(g - q)
            by_len[key][2] += len(q - g)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    buckets = {
        key: {
            "n": c[0] + c[1],
            "recall": c[0] / (c[0] + c[1]) if c[0] + c[1] else 0.0,
            "precision": c[0] / (c[0] + c[2]) if c[0] + c[2] else 0.0,
        }
        for key, c in by_len.items()
    }
    return {
        "p": p,
        "r": r,
        "f": 2 * p * r / (p + r) if p + r else 0.0,
        "docs_per_s": len(texts) / statistics.median(times),
        "by_length": buckets,
    }


def main() -> None:
    args = parse_args()
    genia = Path(args.genia)
    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    sizes = {
        "train": genia_to_spans(genia / "train.jsonl", work / "train.jsonl"),
        "dev": genia_to_spans(genia / "test.jsonl", work / "dev.jsonl", slice(0, 300)),
        "test": genia_to_spans(genia / "test.jsonl", work / "test.jsonl", slice(300, None)),
    }
    for part in sizes:
        run(
            "spacy",
            "globalpointer",
            "convert",
            str(work / f"{part}.jsonl"),
            str(work / f"{part}.spacy"),
            "--format",
            "spans",
            "--lang",
            "en",
            "--no-progress",
        )
    models, blocks = configs(work, args.steps, args.eval_frequency)
    for item in args.set:
        key, value = item.split("=", 1)
        models["ours"]["components"]["globalpointer_ner"]["model"][key] = json.loads(value)
    order = [("ours", "ours"), ("spancat", "ours"), ("ours", "spacy"), ("spancat", "spacy")]
    if args.only:
        order = [tuple(item.split(":")) for item in args.only.split(",")]
    results = {"sizes": sizes, "steps": args.steps, "settings": args.set, "runs": {}}
    for model, block in order:
        name = f"{model}:{block}"
        cfg = with_block(models[model], blocks[block])
        cfg_path = work / f"{model}_{block}.cfg"
        cfg.to_disk(cfg_path, interpolate=False)
        out = work / f"out_{model}_{block}"
        t0 = time.perf_counter()
        run(
            "spacy",
            "train",
            str(cfg_path),
            "--output",
            str(out),
            "--paths.train",
            str(work / "train.spacy"),
            "--paths.dev",
            str(work / "dev.spacy"),
        )
        minutes = (time.perf_counter() - t0) / 60
        scores = evaluate(out / "model-best", work / "test.spacy")
        results["runs"][name] = {"train_minutes": minutes, **scores}
        print(
            f"{name}: spans F {100 * scores['f']:.2f} (P {100 * scores['p']:.2f} R {100 * scores['r']:.2f}), "
            f"{minutes:.1f} min, {scores['docs_per_s']:.0f} docs/s",
            flush=True,
        )
    best = {}
    for name, res in results["runs"].items():
        model = name.split(":")[0]
        if model not in best or res["f"] > results["runs"][best[model]]["f"]:
            best[model] = name
    results["best"] = best
    print("\n| run | spans P | R | F | train min | docs/s |\n|---|---|---|---|---|---|")
    for name, res in results["runs"].items():
        mark = " (best)" if best.get(name.split(":")[0]) == name else ""
        print(
            f"| {name}{mark} | {100 * res['p']:.1f} | {100 * res['r']:.1f} | {100 * res['f']:.1f} | "
            f"{res['train_minutes']:.1f} | {res['docs_per_s']:.0f} |"
        )
    print("\n| gold length | n | " + " | ".join(f"{m} recall" for m in best) + " |")
    print("|---|---|" + "---|" * len(best))
    for key in next(iter(results["runs"].values()))["by_length"]:
        n = results["runs"][next(iter(best.values()))]["by_length"][key]["n"]
        cells = [f"{100 * results['runs'][best[m]]['by_length'][key]['recall']:.1f}" for m in best]
        print(f"| {key} | {n} | " + " | ".join(cells) + " |")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
