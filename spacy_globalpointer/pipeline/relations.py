"""Where relations live on a Doc: ``doc.user_data``, as plain lists.

A relation joins two entities of ``doc.spans[spans_key]`` (the entities'
home stays the span group; they may nest) with a label and a score. It is
stored by the two spans' token offsets and labels, so it survives what
user_data survives: a DocBin written with ``store_user_data=True`` (what
``convert`` writes and ``spacy train`` reads), ``Doc.to_bytes``, and the
pickling of ``nlp.pipe(n_process=N)``. No Doc extension is registered: the
package changes nothing process-wide.

    for rel in relations(doc):
        print(rel.head.text, rel.label, rel.tail.text, rel.score)
"""

from typing import Any, Dict, Iterable, List, NamedTuple, Tuple, cast

from spacy.tokens import Doc, Span

from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY

# user_data[(PREFIX, key)]: the relations of one relations key.
PREFIX = "spacy_globalpointer.relations"
# One stored relation: head start, end, label; tail start, end, label; relation label; score.
Stored = Tuple[int, int, str, int, int, str, str, float]


class Relation(NamedTuple):
    """A relation between two entities: ``head`` (the subject) and ``tail``
    (the object) are Spans with their entity labels; ``score`` is the
    lower of the head-to-head and tail-to-tail pointer scores (1.0 for gold)."""

    head: Span
    tail: Span
    label: str
    score: float = 1.0


def relations(doc: Doc, key: str = DEFAULT_RELATIONS_KEY) -> List[Relation]:
    """The relations stored on ``doc`` under ``key``, as pairs of Spans."""
    out = []
    for hs, he, hl, ts, te, tl, label, score in _user_data(doc).get((PREFIX, key), []):
        out.append(Relation(Span(doc, hs, he, hl), Span(doc, ts, te, tl), label, float(score)))
    return out


def set_relations(doc: Doc, rels: Iterable[Relation], key: str = DEFAULT_RELATIONS_KEY) -> None:
    """Store ``rels`` on ``doc`` under ``key`` (replacing what was there), in
    a stable order. A relation of a span to itself, and the same relation
    twice (same spans, same label), are errors: nothing is dropped silently."""
    items = [
        (
            r.head.start,
            r.head.end,
            r.head.label_,
            r.tail.start,
            r.tail.end,
            r.tail.label_,
            r.label,
            float(r.score),
        )
        for r in rels
    ]
    store_relations(doc, items, key)


def store_relations(doc: Doc, items: Iterable[Stored], key: str = DEFAULT_RELATIONS_KEY) -> None:
    """set_relations, for relations already as stored tuples (token offsets
    and labels of both entities, the label, the score): what the component
    writes, without making Spans of them."""
    stored: List[Stored] = []
    seen = set()
    for item in items:
        triple = item[:7]
        if triple[:3] == triple[3:6]:
            raise ValueError(f"a relation of {doc[triple[0] : triple[1]].text!r} ({triple[2]}) to itself")
        if triple in seen:
            head, tail = doc[triple[0] : triple[1]].text, doc[triple[3] : triple[4]].text
            raise ValueError(f"the relation {head!r} -{triple[6]}-> {tail!r} is given twice")
        seen.add(triple)
        stored.append(item)
    _user_data(doc)[(PREFIX, key)] = [list(s) for s in sorted(stored)]


def entity_key(span: Span) -> Tuple[int, int, str]:
    """An entity as relations are compared and drawn: its characters and label."""
    return span.start_char, span.end_char, span.label_


def has_relations(doc: Doc, key: str = DEFAULT_RELATIONS_KEY) -> bool:
    """Whether ``doc`` has relation annotation under ``key`` (an empty list is annotation: none)."""
    return (PREFIX, key) in _user_data(doc)


def _user_data(doc: Doc) -> Dict[Any, Any]:
    # cast: spaCy types user_data with str keys; its own extensions use tuples, as we do.
    return cast(Dict[Any, Any], doc.user_data)
