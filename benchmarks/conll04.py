"""CoNLL04 (English entities and relations, SpERT's split): the data as DocBins,
and the joint pipeline (configs/conll04_cpu.cfg: globalpointer_ner and
globalpointer_rel on one shared tok2vec) trained and scored on test.

The protocol of ../shared/data/conll04/README.md: train on train.jsonl,
select on dev.jsonl, report strict micro relation F on test.jsonl (both
entities' boundaries and types and the relation type right), with the
entities the pipeline itself predicted.

    python benchmarks/conll04.py convert                 # corpus/conll04_{train,dev,test}.spacy
    python benchmarks/conll04.py train --steps 2000      # train, then score test; prints a table
    python benchmarks/conll04.py compare --steps 1000    # GPLinker against a pairwise baseline
    python benchmarks/conll04.py ablation --steps 1000   # the relation model's ideas one by one
    python benchmarks/conll04.py shaped                  # the set shaped like the large Chinese ones
    python benchmarks/conll04.py ablation --data shaped --only ner,v1_band,v2_full

compare trains, in one run with the sides alternating, three pipelines on the
same tok2vec, data and steps, each with two training blocks (ours, from
configs/conll04_cpu.cfg, and the one of spaCy's `init config`):

- gplinker: globalpointer_ner + globalpointer_rel (configs/conll04_cpu.cfg);
- pairwise: globalpointer_ner + the pairwise baseline (benchmarks/pairwise_rel.py,
  spaCy's rel_component tutorial's shape) over the same predicted entities;
- ner: globalpointer_ner alone (what the joint pipeline's entity F is held to).

Each is scored on test (entity F, relation F strict and boundaries, per
label), with docs/s of nlp.pipe and, for the joint pipelines, the relation
component's time against the entity component's (over the same tok2vec
output, in alternating rounds).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONLL04 = ROOT.parent / "shared" / "data" / "conll04"
SPLITS = ("train", "dev", "test")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["convert", "train", "compare", "ablation", "shaped"])
    p.add_argument("--conll04", default=str(CONLL04), help="Folder with train/dev/test.jsonl")
    p.add_argument("--corpus", default=str(ROOT / "corpus"), help="Where the DocBins go")
    p.add_argument("--output", default=str(ROOT / "training" / "conll04"), help="The trained pipeline")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-frequency", type=int, default=200)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "conll04.json"))
    p.add_argument(
        "--work", default=str(ROOT / "training" / "conll04_compare"), help="compare's configs and pipelines"
    )
    p.add_argument("--only", default="", help="compare: runs as MODEL:BLOCK,... (default: all six)")
    p.add_argument("--rescore", action="store_true", help="compare: score the trained pipelines again")
    p.add_argument("--data", choices=["conll04", "shaped"], default="conll04", help="ablation: which set")
    p.add_argument("--keep", action="store_true", help="ablation: add to the runs already in --out")
    p.add_argument("--rounds", type=int, default=1, help="ablation: trainings of each variant, in turn")
    return p.parse_args()


def split_file(folder: Path, split: str) -> Path:
    """A split's file: SPLIT.jsonl (the local copy's JSON lines) or
    conll04_SPLIT.json (SpERT's public files, one JSON list)."""
    for path in (folder / f"{split}.jsonl", folder / f"conll04_{split}.json"):
        if path.exists():
            return path
    raise SystemExit(f"{folder}: neither {split}.jsonl nor conll04_{split}.json")


def records(src: Path):
    """(line, record) of a JSON-lines file, or of a JSON list (line: its index + 1)."""
    text = src.read_text(encoding="utf8")
    if text.lstrip().startswith("["):
        yield from enumerate(json.loads(text), 1)
        return
    for line_no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield line_no, json.loads(line)


def convert(src: Path, dst: Path) -> int:
    """One CoNLL04 file -> a DocBin: the tokens as words, every entity in
    doc.spans["sc"] (and doc.ents: they do not nest), every relation on the
    Doc. Returns the relation count, checked against the file."""
    import spacy
    from spacy.tokens import Doc, DocBin, Span

    from spacy_globalpointer.pipeline.relations import Relation, relations, set_relations

    nlp = spacy.blank("en")
    db, n_relations = DocBin(store_user_data=True), 0
    for line_no, obj in records(src):
        doc = Doc(nlp.vocab, words=obj["tokens"])
        spans = []
        for k, ent in enumerate(obj["entities"]):
            if not 0 <= ent["start"] < ent["end"] <= len(doc):
                raise ValueError(f"{src}:{line_no}: field entities[{k}]: offsets out of range")
            spans.append(Span(doc, ent["start"], ent["end"], ent["type"]))
        doc.spans["sc"] = spans
        doc.set_ents(spans)
        rels = [Relation(spans[r["head"]], spans[r["tail"]], r["type"]) for r in obj["relations"]]
        set_relations(doc, rels)
        assert len(relations(doc)) == len({(r["head"], r["tail"], r["type"]) for r in obj["relations"]})
        n_relations += len(rels)
        db.add(doc)
    dst.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(dst)
    return n_relations


def main() -> None:
    args = parse_args()
    corpus = Path(args.corpus)
    if args.step == "convert":
        for split in SPLITS:
            n = convert(split_file(Path(args.conll04), split), corpus / f"conll04_{split}.spacy")
            print(f"{split}: {n} relations -> {corpus / f'conll04_{split}.spacy'}")
        return
    if args.step == "compare":
        from conll04_compare import compare

        compare(args, corpus)
        return
    if args.step == "ablation":
        from conll04_ablation import ablation

        ablation(args, corpus)
        return
    if args.step == "shaped":
        from conll04_shaped import write_shaped

        write_shaped(Path(args.conll04), corpus)
        return
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "conll04_cpu.cfg")]
    cmd += ["--output", args.output, "--paths.train", str(corpus / "conll04_train.spacy")]
    cmd += ["--paths.dev", str(corpus / "conll04_dev.spacy"), "--training.max_steps", str(args.steps)]
    cmd += ["--training.eval_frequency", str(args.eval_frequency)]
    subprocess.run(cmd, check=True)
    minutes = (time.perf_counter() - started) / 60
    scores_path = Path(args.output) / "test_scores.json"
    evaluate = [sys.executable, "-m", "spacy", "evaluate", str(Path(args.output) / "model-best")]
    subprocess.run([*evaluate, str(corpus / "conll04_test.spacy"), "--output", str(scores_path)], check=True)
    scores = json.loads(scores_path.read_text())
    rows = {
        "entities F": scores["ents_f"],
        "relations F (strict)": scores["rel_micro_f"],
        "relations F (boundaries)": scores["rel_boundaries_f"],
        "train minutes": minutes,
        "words/s (spacy evaluate)": scores["speed"],
    }
    for name, value in rows.items():
        print(f"{name:<26} {value:8.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"steps": args.steps, **rows, "scores": scores}, indent=2) + "\n")


if __name__ == "__main__":
    main()
