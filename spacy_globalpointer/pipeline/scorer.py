"""Scores for the component (flat entities and the nested span group, and
both by span length), and the package's one P/R/F of counts."""

import functools
from collections import defaultdict
from typing import (
    AbstractSet,
    Any,
    Callable,
    DefaultDict,
    Dict,
    Hashable,
    Iterable,
    List,
    Sequence,
    Tuple,
    TypeVar,
)

from spacy.scorer import PRFScore, Scorer, get_ner_prf
from spacy.training import Example
from spacy.util import registry

from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY, DEFAULT_SPANS_KEY
from spacy_globalpointer.pipeline.relations import Relation, entity_key, has_relations, relations

T = TypeVar("T")

# Where each length bucket starts, in tokens: 1-2, 3-4, 5-7, 8-12, 13+.
LENGTH_BUCKETS = (1, 3, 5, 8, 13)


def score_globalpointer(
    examples: Iterable[Example], *, spans_key: str = DEFAULT_SPANS_KEY, **kwargs
) -> Dict[str, Any]:
    """ents_p/r/f and ents_per_type over doc.ents, plus spans_{key}_p/r/f and
    spans_{key}_per_type over doc.spans[spans_key] (overlaps allowed)."""
    examples = list(examples)
    scores = get_ner_prf(examples)
    scores.update(
        Scorer.score_spans(
            examples,
            attr=f"spans_{spans_key}",
            getter=lambda doc, attr: doc.spans.get(spans_key, []),
            has_annotation=lambda doc: spans_key in doc.spans,
            allow_overlap=True,
        )
    )
    return scores


def score_with_lengths(
    examples: Iterable[Example],
    *,
    spans_key: str = DEFAULT_SPANS_KEY,
    length_buckets: Sequence[int] = LENGTH_BUCKETS,
    **kwargs,
) -> Dict[str, Any]:
    """score_globalpointer, plus ents_per_length and spans_{key}_per_length:
    P/R/F of the spans of each length bucket (in the predicted doc's tokens,
    gold aligned to them as spaCy's scorer aligns it), keyed "1-2", ..., "13+"."""
    examples = list(examples)
    scores = score_globalpointer(examples, spans_key=spans_key)
    scores["ents_per_length"] = per_length(
        examples, lambda doc: doc.ents, lambda doc: doc.has_annotation("ENT_IOB"), length_buckets
    )
    scores[f"spans_{spans_key}_per_length"] = per_length(
        examples, lambda doc: doc.spans.get(spans_key, []), lambda doc: spans_key in doc.spans, length_buckets
    )
    return scores


def bucket_names(starts: Sequence[int]) -> List[str]:
    ends = [f"{b - 1}" for b in starts[1:]]
    return [f"{a}-{b}" if a != int(b) else f"{a}" for a, b in zip(starts, ends)] + [f"{starts[-1]}+"]


def per_length(
    examples: List[Example], spans: Callable, annotated: Callable, starts: Sequence[int]
) -> Dict[str, Dict[str, float]]:
    names = bucket_names(starts)

    def bucket(n: int) -> str:
        return names[max(k for k, a in enumerate(starts) if n >= a)] if n >= starts[0] else names[0]

    counts: DefaultDict[str, List[int]] = defaultdict(lambda: [0, 0, 0])
    for eg in examples:
        if not annotated(eg.reference):
            continue
        gold = {
            (s.start, s.end, s.label_)
            for s in eg.get_aligned_spans_y2x(spans(eg.reference), allow_overlap=True)
        }
        pred = {(s.start, s.end, s.label_) for s in spans(eg.predicted)}
        count_matches(gold, pred, lambda span: bucket(span[1] - span[0]), counts)
    return {name: prf(*counts[name]) for name in names if name in counts}


@registry.scorers("spacy_globalpointer.scorer.v1")
def make_globalpointer_scorer() -> Callable:
    return score_globalpointer


@registry.scorers("spacy_globalpointer.scorer.v2")
def make_globalpointer_scorer_v2(length_buckets: List[int] = list(LENGTH_BUCKETS)) -> Callable:
    """v1's scores, plus P/R/F by span length.

    length_buckets (List[int]): where each bucket starts, in tokens (the last
        is open-ended): [1, 3, 5, 8, 13] gives 1-2, 3-4, 5-7, 8-12, 13+.
    """
    if not length_buckets or sorted(set(length_buckets)) != list(length_buckets) or length_buckets[0] < 1:
        raise ValueError(
            "[spacy_globalpointer.scorer.v2] length_buckets must be increasing positive token "
            f"counts, got {length_buckets!r}"
        )
    return functools.partial(score_with_lengths, length_buckets=tuple(length_buckets))


def count_matches(
    gold: AbstractSet[T], pred: AbstractSet[T], key: Callable[[T], Hashable], counts: Any
) -> None:
    """Add one doc's true positives, false positives and false negatives to
    ``counts[key(item)]`` (a row of three counts: a dict of lists, or an
    array): the package's one comparison of gold and predicted items."""
    for items, row in ((gold & pred, 0), (pred - gold, 1), (gold - pred, 2)):
        for item in items:
            counts[key(item)][row] += 1


def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    """P/R/F of these counts (spaCy's PRFScore), with the counts."""
    return {**PRFScore(tp=tp, fp=fp, fn=fn).to_dict(), "tp": tp, "fp": fp, "fn": fn}


def score_relations(
    examples: Iterable[Example], *, relations_key: str = DEFAULT_RELATIONS_KEY, **kwargs: Any
) -> Dict[str, Any]:
    """Relation P/R/F, micro over all labels: ``rel_micro_*`` strict (both
    entities' boundaries and labels and the relation label right),
    ``rel_boundaries_*`` with the entity labels ignored, and ``rel_per_type``
    (strict, per relation label). Entities are compared by character offsets,
    so a tokenization that differs from the gold's costs nothing where the
    offsets agree. Docs without relation annotation are left out."""
    strict: DefaultDict[str, List[int]] = defaultdict(lambda: [0, 0, 0])
    boundaries: DefaultDict[str, List[int]] = defaultdict(lambda: [0, 0, 0])
    for eg in examples:
        if not has_relations(eg.reference, relations_key):
            continue
        gold = relation_items(eg.reference, relations_key)
        pred = relation_items(eg.predicted, relations_key)
        count_matches(gold, pred, lambda item: item[-1], strict)
        count_matches(
            {_unlabelled(i) for i in gold}, {_unlabelled(i) for i in pred}, lambda item: item[-1], boundaries
        )
    scores: Dict[str, Any] = {}
    for name, counts in (("micro", strict), ("boundaries", boundaries)):
        total = prf(*(sum(c[k] for c in counts.values()) for k in range(3)))
        scores.update({f"rel_{name}_{k}": total[k] for k in "prf"})
    scores["rel_per_type"] = {label: prf(*c) for label, c in sorted(strict.items())}
    return scores


def relation_items(doc: Any, key: str) -> AbstractSet[Tuple[Any, ...]]:
    """A doc's relations as ``relation_item``s."""
    return {relation_item(r) for r in relations(doc, key)}


def relation_item(r: Relation) -> Tuple[Any, ...]:
    """A relation as (head start, end, label, tail start, end, label, relation
    label), in characters: what the strict score compares."""
    return (*entity_key(r.head), *entity_key(r.tail), r.label)


def _unlabelled(item: Tuple[Any, ...]) -> Tuple[Any, ...]:
    return (item[0], item[1], item[3], item[4], item[6])


@registry.scorers("spacy_globalpointer.relation_scorer.v1")
def make_relation_scorer() -> Callable:
    return score_relations
