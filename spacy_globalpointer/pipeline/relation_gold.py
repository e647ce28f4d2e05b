"""Relation gold as each relation architecture trains on it (from gold.py's
aligned relations): RelationPointer.v1's pair-band cells, and
RelationPointer.v2's candidate entities with the gold of their pairs. Also
the candidate entities v2 predicts over, from doc.spans."""

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_globalpointer.ml.entity_pair_scores import Entities, EntityPairScores
from spacy_globalpointer.pipeline.gold import AlignedRelation, aligned_gold, aligned_relations

# A gold cell of v1's pair band: doc, label, pointer (0: heads, 1: tails), token, offset + D.
Cell = Tuple[int, int, int, int, int]
# An entity as v2's candidates hold it: (start, end, label index).
EntityKey = Tuple[int, int, int]


def band_cells(
    gold: Sequence[List[AlignedRelation]], labels: Sequence[str], D: int
) -> Tuple[List[Cell], int]:
    """The pair-band cells of each doc's gold relations (labels the component does not know are left
    out), and how many relations are out of reach (starts or ends more than D apart)."""
    label_ids = {label: i for i, label in enumerate(labels)}
    cells: List[Cell] = []
    too_far = 0
    for b, rels in enumerate(gold):
        for rel in rels:
            c = label_ids.get(rel.label)
            if c is None:
                continue
            (hs, he), (ts, te) = rel.head, rel.tail
            if abs(ts - hs) > D or abs(te - he) > D:
                too_far += 1
                continue
            cells += [(b, c, 0, hs, ts - hs + D), (b, c, 1, he - 1, te - he + D)]
    return cells, too_far


@dataclass
class GoldEntities(Entities):
    """A training batch's candidate entities, with each doc's gold relations aligned to the predicted
    tokens (None: the doc has no relation annotation), which the loss reads."""

    gold: List[Optional[List[AlignedRelation]]] = field(default_factory=list)


def label_index(entity_labels: Sequence[str]) -> Dict[str, int]:
    """Entity label -> its index in v2's tables; 0 is kept for a label not in the list."""
    return {label: i + 1 for i, label in enumerate(entity_labels)}


def entities_of(docs: List[Doc], spans_key: str, index: Dict[str, int]) -> Entities:
    """The candidate entities v2 predicts over: each doc's doc.spans[spans_key], in the group's order."""
    groups = [doc.spans.get(spans_key, []) for doc in docs]
    return _entities(docs, [[(s.start, s.end, index.get(s.label_, 0)) for s in group] for group in groups])


def _entities(docs: List[Doc], per_doc: List[List[EntityKey]]) -> Entities:
    flat = [key for keys in per_doc for key in keys]
    table = numpy.asarray(flat, dtype="int64").reshape(-1, 3)
    counts = numpy.asarray([len(keys) for keys in per_doc], dtype="int64")
    return Entities(docs, counts, table[:, :2], table[:, 2])


def training_entities(
    examples: Sequence[Example], spans_key: str, relations_key: str, index: Dict[str, int], name: str
) -> GoldEntities:
    """The candidate entities v2 trains on, with each doc's gold relations: per annotated doc, its gold
    entities and its relations' entities, aligned to the predicted tokens, each once; no entity for a
    doc without relation annotation, which so takes no part in the loss."""
    per_doc: List[List[EntityKey]] = []
    gold = []
    for eg in examples:
        rels = aligned_relations(eg, relations_key)
        gold.append(rels)
        keys: Dict[EntityKey, None] = {}
        if rels is not None:
            for span in aligned_gold(eg, spans_key, name):
                keys[(span.start, span.end, index.get(span.label_, 0))] = None
            for rel in rels:
                keys[(rel.head[0], rel.head[1], index.get(rel.head_label, 0))] = None
                keys[(rel.tail[0], rel.tail[1], index.get(rel.tail_label, 0))] = None
        per_doc.append(list(keys))
    found = _entities([eg.predicted for eg in examples], per_doc)
    return GoldEntities(found.docs, found.counts, found.bounds, found.labels, gold)


def pair_gold(
    scores: EntityPairScores,
    gold: Sequence[Optional[List[AlignedRelation]]],
    labels: Sequence[str],
    index: Dict[str, int],
) -> Tuple[numpy.ndarray, int]:
    """(P, C) whether each candidate pair holds each relation label, and how many gold relations are
    no candidate pair (their entities farther apart than max_distance). Relation labels the component
    does not know are left out."""
    pairs, entities = scores.pairs, scores.entities
    label_ids = {label: i for i, label in enumerate(labels)}
    out = numpy.zeros((len(pairs.doc), len(labels)), dtype=bool)
    # The pairs come sorted by (doc, i, j): one key each, found by binary search.
    n = int(entities.counts.max(initial=0)) + 1
    keys = (pairs.doc * n + pairs.i) * n + pairs.j
    offsets = pairs.span_offsets
    too_far = 0
    for b, rels in enumerate(gold):
        if not rels:
            continue
        first, count = int(offsets[b]), int(entities.counts[b])
        table = entities.bounds[first : first + count]
        where = {
            (int(s), int(e), int(label)): i
            for i, ((s, e), label) in enumerate(zip(table, entities.labels[first : first + count]))
        }
        for rel in rels:
            c = label_ids.get(rel.label)
            if c is None:
                continue
            i = where[(rel.head[0], rel.head[1], index.get(rel.head_label, 0))]
            j = where[(rel.tail[0], rel.tail[1], index.get(rel.tail_label, 0))]
            key = (b * n + i) * n + j
            p = int(numpy.searchsorted(keys, key))
            if p < len(keys) and keys[p] == key:
                out[p, c] = True
            else:
                too_far += 1
    return out, too_far


def gold_entity_labels(examples: Iterable[Example], spans_key: str, name: str) -> List[str]:
    """The entity labels of the examples' gold entities, in the order met."""
    from spacy_globalpointer.pipeline.gold import gold_spans

    found: Dict[str, None] = {}
    for eg in examples:
        for span in gold_spans(eg.reference, spans_key, name):
            found[span.label_] = None
    return list(found)
