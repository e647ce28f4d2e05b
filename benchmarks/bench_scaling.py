"""One document of growing length through a trained pipeline: wall time and peak RSS.

    python benchmarks/bench_scaling.py --model training/cluener_cpu/model-best
    python benchmarks/bench_scaling.py            # trains a small CPU pipeline first (not the real one)

Each size runs in a fresh process, so its peak RSS is its own. The text is
real CLUENER dev text, repeated to the length. Prints a table, writes JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb, write_results

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "cluener"


def child(model: str, size: int, dev: str) -> None:
    """Runs in its own process: load, then one doc of `size` characters."""
    import spacy

    from spacy_globalpointer.training.converters import cluener

    nlp = spacy.load(model)
    text = "".join(r.text for r in cluener.read_cluener(dev))
    text = (text * (size // len(text) + 1))[:size]
    nlp("热身")  # first-call set-up is not part of the doc's cost
    loaded = peak_rss_mb()
    t0 = time.perf_counter()
    doc = nlp(text)
    wall = time.perf_counter() - t0
    gp = nlp.get_pipe("globalpointer_ner")
    spans = doc.spans[gp.spans_key]
    print(
        json.dumps(
            {
                "chars": size,
                "tokens": len(doc),
                "seconds": wall,
                "peak_rss_mb": peak_rss_mb(),
                "rss_after_load_mb": loaded,
                "spans": len(spans),
                "ents": len(doc.ents),
                "longest_span": max((len(s) for s in spans), default=0),
                "max_span_length": gp.max_span_length,
            }
        )
    )


def train_small(out: Path, train: str, dev: str) -> None:
    """A quickly trained CPU pipeline (a few hundred steps), enough to predict real spans."""
    import spacy
    from spacy.training import Example
    from thinc.api import Config, fix_random_seed

    from spacy_globalpointer.training.convert import gold_docs, make_tokenizer
    from spacy_globalpointer.training.converters import cluener

    fix_random_seed(0)
    nlp = spacy.util.load_model_from_config(
        Config().from_disk(ROOT / "configs" / "cluener_cpu.cfg"), auto_fill=True
    )
    docs = list(gold_docs(make_tokenizer("zh"), cluener.read_cluener(train)))[:3000]
    examples = [Example(nlp.make_doc(d.text), d) for d in docs]
    optimizer = nlp.initialize(get_examples=lambda: examples[:100])
    for step in range(300):
        nlp.update(examples[(step * 32) % 2976 : (step * 32) % 2976 + 32], sgd=optimizer)
    nlp.to_disk(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="trained pipeline (default: train a small one first)")
    p.add_argument("--sizes", default="10000,100000,1000000", help="document sizes in characters")
    p.add_argument("--train", default=str(DATA / "train.json"))
    p.add_argument("--dev", default=str(DATA / "dev.json"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scaling.json"))
    p.add_argument("--child", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.dev)
    from wasabi import msg

    tmp = None
    model = args.model
    if model is None:
        tmp = tempfile.TemporaryDirectory()
        model = str(Path(tmp.name) / "model")
        msg.info("Training a small CPU pipeline (300 steps) ...")
        train_small(Path(model), args.train, args.dev)
    rows = []
    for size in map(int, args.sizes.split(",")):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", model, str(size), "--dev", args.dev],
            capture_output=True,
            text=True,
            env=os.environ,
        )
        if proc.returncode:
            sys.exit(f"size {size} failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        msg.text(f"{r['chars']:>7} chars: {r['seconds']:.2f}s, peak RSS {r['peak_rss_mb']:.0f} MB")
    base = rows[0]
    table = [
        (
            r["chars"],
            r["tokens"],
            f"{r['seconds']:.2f}",
            f"{1e3 * r['seconds'] / r['tokens']:.3f}",
            f"{(r['seconds'] / r['tokens']) / (base['seconds'] / base['tokens']):.2f}x",
            f"{r['rss_after_load_mb']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
            r["spans"],
            r["ents"],
        )
        for r in rows
    ]
    header = (
        "chars",
        "tokens",
        "seconds",
        "ms/token",
        "vs smallest",
        "RSS loaded MB",
        "peak RSS MB",
        "spans",
        "ents",
    )
    msg.table(table, header=header, divider=True, aligns=("r",) * len(header))
    per_token = [r["seconds"] / r["tokens"] for r in rows]
    msg.info(f"time per token, slowest over fastest size: {max(per_token) / min(per_token):.2f}x")
    msg.info(
        f"max_span_length = {rows[0]['max_span_length']} tokens: longer spans are not scored (see README)"
    )
    write_results(args.out, rows)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
