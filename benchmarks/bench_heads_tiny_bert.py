"""GlobalPointer vs EfficientGlobalPointer on the reference repo's protocol.

    python benchmarks/bench_heads_tiny_bert.py                     # both heads
    python benchmarks/bench_heads_tiny_bert.py --heads EfficientGlobalPointer

A 4-layer, hidden-256 BERT with random weights (no download: built from the
training texts' characters), trained with the head on CLUENER train for 3
epochs of 16-doc batches, learning rate warmed up linearly to 5e-4 over the
first 10% of the steps and decayed linearly after; dev ents_f of model-best.
Each run is a real `spacy train` of configs/cluener_trf.cfg with those
settings. Prints a table, writes JSON.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import write_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers (tiny BERT, reference loss)
DATA = ROOT.parent / "shared" / "data" / "cluener"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heads", default="GlobalPointer,EfficientGlobalPointer")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learn-rate", type=float, default=5e-4)
    p.add_argument("--corpus", default=str(ROOT / "corpus"), help="folder with train.spacy, dev.spacy")
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides KEY=VALUE, for every run")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "heads_tiny_bert.json"))
    args = p.parse_args()

    import spacy
    from spacy.tokens import DocBin
    from thinc.api import Config
    from wasabi import msg

    from helpers.tiny_bert import build_tiny_bert

    corpus = Path(args.corpus)
    docs = list(DocBin().from_disk(corpus / "train.spacy").get_docs(spacy.blank("zh").vocab))
    steps = args.epochs * -(-len(docs) // args.batch_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bert = build_tiny_bert(Path(tmp) / "bert", [d.text for d in docs], hidden_size=256, layers=4, heads=4)
        config = Config().from_disk(ROOT / "configs" / "cluener_trf.cfg", interpolate=False)
        config["training"]["optimizer"]["learn_rate"] = {
            "@schedules": "warmup_linear.v1",
            "warmup_steps": steps // 10,
            "total_steps": steps,
            "initial_rate": args.learn_rate,
        }
        config_path = Path(tmp) / "protocol.cfg"
        config.to_disk(config_path, interpolate=False)
        for head in args.heads.split(","):
            out = Path(tmp) / head
            cmd = [
                sys.executable, "-m", "spacy", "train", str(config_path), "--output", str(out),
                "--paths.train", str(corpus / "train.spacy"), "--paths.dev", str(corpus / "dev.spacy"),
                "--paths.labels", str(corpus / "labels"),
                "--components.transformer.model.name", str(bert),
                "--components.transformer.model.mixed_precision", "false",
                "--system.gpu_allocator", "null",
                "--components.globalpointer_ner.model.head", head,
                "--training.max_epochs", str(args.epochs), "--training.max_steps", "0",
                "--training.batcher.size", str(args.batch_size), "--training.eval_frequency", "300",
            ]  # fmt: skip
            for item in args.set:
                key, value = item.split("=", 1)
                cmd += [f"--{key}", value]
            msg.info(f"{head}: {steps} steps ...")
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{head} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
            meta = json.loads((out / "model-best" / "meta.json").read_text())
            perf = meta["performance"]
            rows.append(
                {"head": head, "ents_p": perf["ents_p"], "ents_r": perf["ents_r"], "ents_f": perf["ents_f"]}
            )
            msg.text(f"{head}: dev ents_f {100 * perf['ents_f']:.2f}")
    table = [(r["head"], *(f"{100 * r[k]:.2f}" for k in ("ents_p", "ents_r", "ents_f"))) for r in rows]
    msg.table(table, header=("head", "P", "R", "F"), divider=True, aligns=("l", "r", "r", "r"))
    write_results(args.out, {"protocol": vars(args), "steps": steps, "rows": rows})


if __name__ == "__main__":
    main()
