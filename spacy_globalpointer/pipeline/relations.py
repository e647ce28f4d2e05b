"""Where relations live on a Doc: ``doc.user_data``, as plain lists.

A relation joins two entities of ``doc.spans[spans_key]`` (the entities'
home stays the span group; they may nest) with a label and a score. It is
stored by the two spans' token offsets and labels, so it survives what
user_data survives: a DocBin written with ``store_user_data=True`` (what
``convert`` writes and ``spacy train`` reads), ``Doc.to_bytes``, and the
pickling of ``nlp.pipe(n_process=N)``. A DocBin written with spaCy's default
``store_user_data=False`` drops them (as it drops every extension's values).

Read them with ``relations(doc, key)``, or as ``doc._.relations``: a
read-only extension whose getter reads the same lists (nothing is stored
twice, no mutable default is shared between docs), registered once when this
module is first imported - the one change to spaCy's classes the package
makes, as spacy-transformers registers ``doc._.trf_data``.

    for rel in doc._.relations:
        print(rel.head.text, rel.label, rel.tail.text, rel.score)
"""

import warnings
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
    model's (RelationPointer.v1: the lower of the head-to-head and
    tail-to-tail pointer scores; 1.0 for gold)."""

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


def stored_keys(doc: Doc) -> List[str]:
    """The relations keys ``doc`` has relation annotation under."""
    return sorted(
        key[1] for key in _user_data(doc) if isinstance(key, tuple) and len(key) == 2 and key[0] == PREFIX
    )


# The extension's name: doc._.relations.
EXTENSION = "relations"


def doc_relations(doc: Doc) -> List[Relation]:
    """``doc._.relations``: the relations under the default key, or under the
    one key the doc has; with several keys and none the default, an error
    that says to name one (``relations(doc, key)``), not a silent choice."""
    keys = stored_keys(doc)
    if DEFAULT_RELATIONS_KEY in keys or not keys:
        return relations(doc)
    if len(keys) > 1:
        raise ValueError(
            f"doc._.relations: this doc holds relations under the keys {keys} and none under the default "
            f"'{DEFAULT_RELATIONS_KEY}': read them with spacy_globalpointer.relations(doc, key)."
        )
    return relations(doc, keys[0])


def _install_extension() -> None:
    if Doc.has_extension(EXTENSION):
        getter = Doc.get_extension(EXTENSION)[2]
        if (
            getattr(getter, "__qualname__", None) != doc_relations.__qualname__
            or getattr(getter, "__module__", None) != __name__
        ):
            warnings.warn(
                f"Doc._.{EXTENSION} is already registered by other code and is left as it is: read "
                f"globalpointer_rel's relations with spacy_globalpointer.relations(doc, key)."
            )
        return
    Doc.set_extension(EXTENSION, getter=doc_relations, setter=_read_only)


def _read_only(doc: Doc, value: Any) -> None:
    # Without a setter, spaCy would store the value beside the getter and ignore it silently.
    raise AttributeError(
        f"doc._.{EXTENSION} is read-only: write relations with "
        "spacy_globalpointer.set_relations(doc, rels, key)."
    )


_install_extension()
