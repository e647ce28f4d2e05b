"""One long doc through a trained entity-and-relation pipeline: RSS and peak
RSS after each step, entity and pair counts, seconds.

    python benchmarks/bench_long_doc_relations.py --model training/conll04/model-best

The doc is CoNLL04's sentences (test, then train) joined by spaces until it
holds --size characters and at least --min-entities gold entities. Two
passes in one process: the whole pipeline (the entities the pipeline
predicts), then the relation component alone over the gold entities put in
doc.spans (as an entity_ruler would), so the entity count is known to reach
--min-entities. The peak (/proc's VmHWM) covers both; writes JSON.
"""

import argparse
import gc
import json
import time
from pathlib import Path

from common import status_mb, write_results

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "conll04"


def memory_mb() -> dict:
    status = status_mb()
    return {key: int(status[key]) for key in ("VmRSS", "VmHWM")}


def long_text(folder: Path, size: int, min_entities: int):
    """The text and its gold entities (character offsets, label)."""
    words, entities, length = [], [], 0
    for split in ("test", "train", "dev"):
        for line in open(folder / f"{split}.jsonl", encoding="utf8"):
            obj = json.loads(line)
            starts = []
            for token in obj["tokens"]:
                starts.append(length)
                length += len(token) + 1
            for ent in obj["entities"]:
                end = starts[ent["end"] - 1] + len(obj["tokens"][ent["end"] - 1])
                entities.append((starts[ent["start"]], end, ent["type"]))
            words += obj["tokens"]
            if length >= size and len(entities) >= min_entities:
                return " ".join(words), entities
    raise SystemExit(f"CoNLL04 holds fewer than {size} characters with {min_entities} entities")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "training" / "conll04" / "model-best"))
    p.add_argument("--size", type=int, default=100_000, help="characters, at least")
    p.add_argument("--min-entities", type=int, default=3000)
    p.add_argument("--conll04", default=str(DATA))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "long_doc_relations.json"))
    args = p.parse_args()

    import spacy
    from wasabi import msg

    from spacy_globalpointer import relations
    from spacy_globalpointer.ml.candidate_pairs import entity_pairs

    text, gold = long_text(Path(args.conll04), args.size, args.min_entities)
    nlp = spacy.load(args.model)
    nlp("Warm up.")  # first-call allocations are not the doc's
    rel = nlp.get_pipe("globalpointer_rel")
    steps, passes = [("loaded", memory_mb(), 0.0)], {}

    def step(name, work):
        t0 = time.perf_counter()
        out = work()
        steps.append((name, memory_mb(), time.perf_counter() - t0))
        return out

    doc = step("make_doc", lambda: nlp.make_doc(text))
    for name, component in nlp.pipeline:
        doc = step(name, lambda c=component: c(doc))
    passes["predicted entities"] = (doc, len(doc.spans[rel.spans_key]))
    del doc
    gc.collect()

    doc = nlp.make_doc(text)
    doc = nlp.get_pipe("tok2vec")(doc)
    spans = [doc.char_span(a, b, label) for a, b, label in gold]
    assert all(s is not None for s in spans), "a gold entity does not align with the tokens"
    doc.spans[rel.spans_key] = spans
    doc = step("globalpointer_rel over gold entities", lambda: rel(doc))
    passes["gold entities"] = (doc, len(spans))

    rows = [(name, m["VmRSS"], m["VmHWM"], f"{s:.2f}") for name, m, s in steps]
    msg.table(
        rows, header=("step", "RSS MB", "peak MB", "seconds"), divider=True, aligns=("l", "r", "r", "r")
    )
    summary = {}
    for name, (d, n_entities) in passes.items():
        n_pairs = len(entity_pairs(list(d.spans[rel.spans_key]), rel.max_distance))
        summary[name] = {"entities": n_entities, "pairs_scored": n_pairs, "relations": len(relations(d))}
        print(f"{name}: {n_entities} entities, {n_pairs} pairs scored, {len(relations(d))} relations")
    peak = max(m["VmHWM"] for _, m, _ in steps)
    print(f"{len(text)} characters, {len(doc)} tokens; peak RSS {peak} MB")
    write_results(
        args.out,
        {
            "model": args.model,
            "chars": len(text),
            "tokens": len(doc),
            "max_distance": rel.max_distance,
            "passes": summary,
            "peak_mb": peak,
            "steps": [
                {"step": n, "rss_mb": m["VmRSS"], "peak_mb": m["VmHWM"], "seconds": s} for n, m, s in steps
            ],
        },
    )


if __name__ == "__main__":
    main()
