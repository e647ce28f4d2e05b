"""`python benchmarks/conll04.py shaped`: a relation set shaped like the
large Chinese ones (DuIE, CMeIE: tens of relation labels, related entities up
to 150 tokens apart, sentences of 50-100 tokens), made from CoNLL04, to
measure how training cost grows with labels, distance and length.

CoNLL04's sentences are joined in pairs (the first with the second, the third
with the fourth, ...: docs of 58 tokens on average, up to 153), and each
relation label is split by the order of its two entities and the distance
between their starts, in five buckets: Live_In|after|3-5 and so on, 48 labels
in train. (Split by entity-type pair, as first thought, CoNLL04 stays at five
labels: each of its relations joins one pair of types.) The relations stay
within their sentence; the candidate pairs do not. max_distance is 150.
Writes corpus/shaped_{train,dev,test}.spacy and corpus/shaped_labels.json."""

import json
from pathlib import Path
from typing import List

MAX_DISTANCE = 150
LABELS_FILE = "shaped_labels.json"
# Where each distance bucket starts (tokens between the starts): 0-2, 3-5, 6-9, 10-15, 16+.
BUCKETS = (0, 3, 6, 10, 16)


def shaped_label(label: str, head_start: int, tail_start: int) -> str:
    order = "after" if head_start <= tail_start else "before"
    d = abs(tail_start - head_start)
    k = max(i for i, edge in enumerate(BUCKETS) if d >= edge)
    bucket = f"{BUCKETS[k]}+" if k == len(BUCKETS) - 1 else f"{BUCKETS[k]}-{BUCKETS[k + 1] - 1}"
    return f"{label}|{order}|{bucket}"


def joined(records: List[dict]) -> List[dict]:
    """Consecutive records joined in pairs: tokens end to end, entities and relations moved along."""
    out = []
    for first in range(0, len(records), 2):
        tokens: List[str] = []
        entities: List[dict] = []
        relations: List[dict] = []
        for obj in records[first : first + 2]:
            shift, base = len(tokens), len(entities)
            tokens += obj["tokens"]
            entities += [{**e, "start": e["start"] + shift, "end": e["end"] + shift} for e in obj["entities"]]
            for r in obj["relations"]:
                head, tail = entities[base + r["head"]], entities[base + r["tail"]]
                label = shaped_label(r["type"], head["start"], tail["start"])
                relations.append({"head": base + r["head"], "tail": base + r["tail"], "type": label})
        out.append({"tokens": tokens, "entities": entities, "relations": relations})
    return out


def write_shaped(conll04: Path, corpus: Path) -> None:
    import spacy
    from conll04 import SPLITS, records, split_file
    from spacy.tokens import Doc, DocBin, Span

    from spacy_globalpointer.pipeline.keys import DEFAULT_SPANS_KEY
    from spacy_globalpointer.pipeline.relations import Relation, set_relations

    nlp = spacy.blank("en")
    corpus.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        docs = joined([obj for _, obj in records(split_file(conll04, split))])
        db = DocBin(store_user_data=True)
        for obj in docs:
            doc = Doc(nlp.vocab, words=obj["tokens"])
            spans = [Span(doc, e["start"], e["end"], e["type"]) for e in obj["entities"]]
            doc.spans[DEFAULT_SPANS_KEY] = spans
            doc.set_ents(spans)
            set_relations(
                doc, [Relation(spans[r["head"]], spans[r["tail"]], r["type"]) for r in obj["relations"]]
            )
            db.add(doc)
        db.to_disk(corpus / f"shaped_{split}.spacy")
        labels = sorted({r["type"] for obj in docs for r in obj["relations"]})
        lengths = sorted(len(obj["tokens"]) for obj in docs)
        print(
            f"{split}: {len(docs)} docs of {sum(lengths) / len(lengths):.0f} tokens on average (max "
            f"{lengths[-1]}), {sum(len(obj['relations']) for obj in docs)} relations, {len(labels)} labels"
        )
        if split == "train":
            (corpus / LABELS_FILE).write_text(json.dumps(labels, indent=1) + "\n")
