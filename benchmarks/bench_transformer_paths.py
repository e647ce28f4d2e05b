"""spacy-transformers and spacy-curated-transformers on the same BERT weights and training budget.

    python benchmarks/bench_transformer_paths.py                  # both paths, seed 0
    python benchmarks/bench_transformer_paths.py --seeds 0,1      # and a second seed, for the noise
    python benchmarks/bench_transformer_paths.py --train-limit 2000 --dev-limit 500  # a quick look on a slice

One 4-layer, hidden-256 BERT with random weights (no download: built from the training texts' characters
with `transformers`, as bench_heads_tiny_bert.py does), trained with the head on CLUENER train for 3 epochs
of 16-doc batches, learning rate warmed up linearly to 5e-4 over the first 10% of the steps and decayed
linearly after; dev ents P/R/F of model-best. The spacy-transformers run is a real `spacy train` of
configs/cluener_trf.cfg, the curated run one of configs/cluener_curated.cfg filled from the same folder
(spacy globalpointer fill-curated-config): the same weights, vocabulary, windows and head. Needs both
extras in one environment (pip install -e ".[transformers,curated]"). Prints a table, writes JSON.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers (tiny BERT)

PATHS = {
    "spacy-transformers": "cluener_trf",
    "spacy-curated-transformers": "cluener_curated",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--paths", default=",".join(PATHS), help="which paths, comma-separated")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated (the BERT's weights stay)")
    p.add_argument("--head", default="EfficientGlobalPointer")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learn-rate", type=float, default=5e-4)
    p.add_argument("--corpus", default=str(ROOT / "corpus"), help="train.spacy, dev.spacy and labels/")
    p.add_argument("--train-limit", type=int, default=0, help="train on the first N docs only (0: all)")
    p.add_argument("--dev-limit", type=int, default=0, help="evaluate on the first N dev docs only (0: all)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transformer_paths.json"))
    args = p.parse_args()

    import spacy
    from spacy.tokens import DocBin
    from thinc.api import Config
    from wasabi import msg

    from helpers.tiny_bert import build_tiny_bert

    corpus = Path(args.corpus)
    vocab = spacy.blank("zh").vocab
    docs = list(DocBin().from_disk(corpus / "train.spacy").get_docs(vocab))
    dev = list(DocBin().from_disk(corpus / "dev.spacy").get_docs(vocab))
    docs, dev = docs[: args.train_limit or None], dev[: args.dev_limit or None]
    steps = args.epochs * -(-len(docs) // args.batch_size)
    schedule = {
        "@schedules": "warmup_linear.v1",
        "warmup_steps": steps // 10,
        "total_steps": steps,
        "initial_rate": args.learn_rate,
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, part in (("train", docs), ("dev", dev)):
            DocBin(docs=part, store_user_data=True).to_disk(tmp / f"{name}.spacy")
        bert = build_tiny_bert(tmp / "bert", [d.text for d in docs], hidden_size=256, layers=4, heads=4)
        for seed in map(int, args.seeds.split(",")):
            for path in args.paths.split(","):
                name = PATHS[path]
                config_path = tmp / f"{name}.cfg"
                if name == "cluener_curated":
                    fill = [sys.executable, "-m", "spacy_globalpointer", "fill-curated-config"]
                    subprocess.run([*fill, ROOT / "configs" / f"{name}.cfg", bert, config_path], check=True)
                    config = Config().from_disk(config_path, interpolate=False)
                else:
                    config = Config().from_disk(ROOT / "configs" / f"{name}.cfg", interpolate=False)
                    config["components"]["transformer"]["model"]["name"] = str(bert)
                config["training"]["optimizer"]["learn_rate"] = schedule
                config.to_disk(config_path, interpolate=False)
                out = tmp / f"{name}_{seed}"
                cmd = [
                    sys.executable, "-m", "spacy", "train", str(config_path), "--output", str(out),
                    "--paths.train", str(tmp / "train.spacy"), "--paths.dev", str(tmp / "dev.spacy"),
                    "--paths.labels", str(corpus / "labels"),
                    "--components.transformer.model.mixed_precision", "false",
                    "--system.gpu_allocator", "null", "--system.seed", str(seed),
                    "--components.globalpointer_ner.model.head", args.head,
                    "--training.max_epochs", str(args.epochs), "--training.max_steps", "0",
                    "--training.batcher.size", str(args.batch_size), "--training.eval_frequency", "300",
                ]  # fmt: skip
                log = Path(args.out).with_name(f"{Path(args.out).stem}_{name}_{seed}.log")
                log.parent.mkdir(parents=True, exist_ok=True)
                msg.info(f"{path}, seed {seed}: {steps} steps (log: {log}) ...")
                start = time.perf_counter()
                with log.open("w") as f:
                    returncode = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
                minutes = (time.perf_counter() - start) / 60
                if returncode:
                    tail = log.read_text()[-4000:]
                    sys.exit(f"{path} failed (exit status {returncode}):\n{tail}")
                perf = json.loads((out / "model-best" / "meta.json").read_text())["performance"]
                rows.append(
                    {
                        "path": path,
                        "seed": seed,
                        **{k: perf[k] for k in ("ents_p", "ents_r", "ents_f", "spans_sc_f")},
                        "train_minutes": round(minutes, 1),
                    }
                )
                msg.text(f"{path}, seed {seed}: dev ents_f {100 * perf['ents_f']:.2f} ({minutes:.1f} min)")
    keys = ("ents_p", "ents_r", "ents_f", "spans_sc_f")
    table = [(r["path"], r["seed"], *(f"{100 * r[k]:.2f}" for k in keys), r["train_minutes"]) for r in rows]
    header = ("path", "seed", "P", "R", "F", "spans F", "train min")
    msg.table(table, header=header, divider=True, aligns=("l",) + ("r",) * 6)
    sizes = {"train_docs": len(docs), "dev_docs": len(dev)}
    write_results(args.out, {"protocol": vars(args), **sizes, "steps": steps, "rows": rows})


if __name__ == "__main__":
    main()
