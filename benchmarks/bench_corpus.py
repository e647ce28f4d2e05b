"""Reading a CLUENER DocBin: spans in every doc vs entities only, with spaCy's
reader and with spacy_globalpointer.Corpus.v1. Each reader runs in a fresh process.

    python benchmarks/bench_corpus.py [--train ../shared/data/cluener/train.json]
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


def child(reader: str, path: str) -> None:
    import spacy
    from spacy.util import registry

    nlp = spacy.blank("zh")
    corpus = registry.resolve({"c": {"@readers": reader, "path": path, "gold_preproc": False}})["c"]
    t0 = time.perf_counter()
    n = sum(1 for _ in corpus(nlp))
    print(json.dumps({"docs": n, "seconds": time.perf_counter() - t0}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=str(ROOT.parent / "shared" / "data" / "cluener" / "train.json"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "corpus.json"), help="JSON output")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    import spacy
    from spacy.tokens import DocBin
    from wasabi import msg

    from spacy_globalpointer.training.convert import convert

    with tempfile.TemporaryDirectory() as tmp:
        spans_path, ents_path = Path(tmp) / "spans.spacy", Path(tmp) / "ents.spacy"
        convert([args.train], spans_path, format="cluener", progress=False)
        docs = list(DocBin().from_disk(spans_path).get_docs(spacy.blank("zh").vocab))
        for doc in docs:
            doc.spans.clear()
        DocBin(docs=docs).to_disk(ents_path)
        rows = []
        for label, reader, path in (
            ("doc.ents only, spacy.Corpus.v1", "spacy.Corpus.v1", ents_path),
            ("doc.spans + ents, spacy.Corpus.v1", "spacy.Corpus.v1", spans_path),
            ("doc.spans + ents, spacy_globalpointer.Corpus.v1", "spacy_globalpointer.Corpus.v1", spans_path),
        ):
            out = subprocess.run(
                [sys.executable, __file__, "--child", reader, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"docbin_and_reader": label, **r})
    msg.table(
        [(r["docbin_and_reader"], r["docs"], f"{r['seconds']:.2f}") for r in rows],
        header=("DocBin, reader", "docs", "seconds per pass"),
        divider=True,
        aligns=("l", "r", "r"),
    )
    msg.info("spacy train reads the training corpus once per epoch, and the dev corpus at every evaluation.")
    write_results(args.out, rows)


if __name__ == "__main__":
    main()
