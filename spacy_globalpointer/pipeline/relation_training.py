"""What each relation architecture trains on, from gold.py's aligned
relations: RelationPointer.v1's pair-band cells and band loss, and
RelationPointer.v2's candidate entities, the gold of their pairs and its pair
loss. Also the candidate entities v2 predicts over, from doc.spans."""

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, cast

import numpy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import torch2xp, xp2torch
from thinc.types import FloatsXd

from spacy_globalpointer.ml.entity_pair_scores import Entities, EntityPairScores
from spacy_globalpointer.ml.pytorch.loss import pair_band_loss, pair_loss
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
    examples: Sequence[Example],
    spans_key: str,
    relations_key: str,
    index: Dict[str, int],
    name: str,
    negatives: float = 0.0,
) -> GoldEntities:
    """The candidate entities v2 trains on, with each doc's gold relations: per annotated doc, its gold
    entities and its relations' entities, aligned to the predicted tokens, each once, and
    ``negatives`` x the doc's length random spans (1 to NEGATIVE_WIDTH tokens, a random known label),
    SpERT's negative samples: candidates that are no entity, so of no relation, as the entity
    component's wrong entities are at prediction. No entity for a doc without relation annotation,
    which so takes no part in the loss."""
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
            for key in _random_spans(len(eg.predicted), negatives, len(index)) if negatives else []:
                keys.setdefault(key, None)
        per_doc.append(list(keys))
    found = _entities([eg.predicted for eg in examples], per_doc)
    return GoldEntities(found.docs, found.counts, found.bounds, found.labels, gold)


# The longest random negative span, in tokens.
NEGATIVE_WIDTH = 4


def _random_spans(length: int, rate: float, n_labels: int) -> List[EntityKey]:
    """round(length x rate) random spans of a doc (numpy's global generator, which spaCy's
    fix_random_seed seeds: training stays deterministic)."""
    n = int(round(length * rate))
    if not n or not length or not n_labels:
        return []
    starts = numpy.random.randint(0, length, n)
    ends = numpy.minimum(length, starts + numpy.random.randint(1, NEGATIVE_WIDTH + 1, n))
    labels = numpy.random.randint(1, n_labels + 1, n)
    return [(int(s), int(e), int(label)) for s, e, label in zip(starts, ends, labels)]


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


def training_facts(
    examples: Iterable[Example], spans_key: str, relations_key: str, name: str
) -> Tuple[List[str], List[Tuple[str, str, str]]]:
    """The labels of the examples' gold entities, in the order met, and the schema: every (subject
    label, relation label, object label) of their gold relations, sorted."""
    from spacy_globalpointer.pipeline.gold import gold_spans
    from spacy_globalpointer.pipeline.relations import relations

    found: Dict[str, None] = {}
    schema = set()
    for eg in examples:
        for span in gold_spans(eg.reference, spans_key, name):
            found[span.label_] = None
        for rel in relations(eg.reference, relations_key):
            schema.add((rel.head.label_, rel.label, rel.tail.label_))
    return list(found), sorted(schema)


def band_loss(
    examples: Sequence[Example], scores: FloatsXd, labels: Sequence[str], relations_key: str
) -> Tuple[float, FloatsXd, int]:
    """v1's loss of the pair band against the gold relations (docs without relation annotation take
    no part), its gradient, and how many gold relations were out of reach."""
    scores_t = xp2torch(scores)
    D = (scores_t.shape[-1] - 1) // 2
    gold = [aligned_relations(eg, relations_key) for eg in examples]
    annotated = [b for b, rels in enumerate(gold) if rels is not None]
    grad = torch.zeros_like(scores_t)
    loss, too_far = 0.0, 0
    if annotated:
        cells, too_far = band_cells([gold[b] or [] for b in annotated], labels, D)
        lengths = [len(examples[b].predicted) for b in annotated]
        if len(annotated) == len(examples):
            loss, grad = pair_band_loss(scores_t, cells, lengths)
        else:
            index = torch.tensor(annotated, device=scores_t.device)
            loss, part = pair_band_loss(scores_t.index_select(0, index), cells, lengths)
            grad[index] = part
    # cast: torch2xp is typed to return any thinc array; a float tensor gives floats.
    return loss, cast(FloatsXd, torch2xp(grad)), too_far


def entity_pair_loss(
    scores: EntityPairScores, labels: Sequence[str], index: Dict[str, int]
) -> Tuple[float, FloatsXd, int]:
    """v2's loss of the candidate pairs of a training batch (scores.entities: training_entities')
    against their gold, one row per annotated doc and label; its gradient, and how many gold
    relations were no candidate pair."""
    assert isinstance(scores.entities, GoldEntities)  # what training_entities gave the model
    gold = scores.entities.gold
    is_gold, too_far = pair_gold(scores, gold, labels, index)
    if not len(is_gold):
        return 0.0, scores.scores, too_far
    scores_t = xp2torch(scores.scores)
    device = scores_t.device
    # One row per annotated doc and label: the annotated docs renumbered 0..n - 1 (the others have no pairs).
    annotated = numpy.asarray([rels is not None for rels in gold])
    rank = torch.as_tensor(numpy.cumsum(annotated) - 1, device=device)
    doc = rank[torch.as_tensor(scores.pairs.doc, device=device)]
    loss, grad = pair_loss(scores_t, doc, torch.as_tensor(is_gold, device=device), int(annotated.sum()))
    # cast: torch2xp is typed to return any thinc array; a float tensor gives floats.
    return loss, cast(FloatsXd, torch2xp(grad)), too_far
