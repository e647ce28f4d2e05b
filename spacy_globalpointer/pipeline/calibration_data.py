"""The dev data calibrate chooses thresholds on: each gold doc's candidates
(spans or relations) predicted at the lowest threshold tried, with their
scores, keyed as the metric compares them, and the doc's gold keys."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Sequence, Tuple, cast

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from spacy_globalpointer.pipeline.decode import SpanCandidates
from spacy_globalpointer.pipeline.relations import has_relations, relations
from spacy_globalpointer.pipeline.scorer import relation_item, relation_items

if TYPE_CHECKING:
    from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER
    from spacy_globalpointer.pipeline.globalpointer_rel import GlobalPointerRel

# The thresholds calibrate tries.
GRID = numpy.round(numpy.arange(-4.0, 2.01, 0.1), 2)


@dataclass
class DevDoc:
    """One gold doc's candidates above the lowest threshold tried, with their
    label indices and scores (spans: token offsets for the flat selection),
    each candidate's key (spans: start_char, end_char, label index;
    relations: both entities' characters and labels, the label index), the
    gold as keys, and whether the metric scores the flat selection
    (doc.ents) or every candidate (doc.spans, relations)."""

    spans: SpanCandidates
    chars: List[Tuple[int, int, int]]
    gold: set
    flat: bool = True


def pipes_up_to(nlp: Language, component: str) -> Any:
    """``with pipes_up_to(nlp, name):`` runs the pipes before the component
    (a transformer it listens to, an entity_ruler) and the component, not
    the ones after it."""
    return nlp.select_pipes(disable=nlp.pipe_names[nlp.pipe_names.index(component) + 1 :])


def collect(
    nlp: Language, component: str, references: Sequence[Doc], metric: str = "ents_f", batch_size: int = 256
) -> List[DevDoc]:
    """Predict the references' texts with the threshold at the bottom of the
    grid (or the component's own, if lower: it is scored too), keeping every
    candidate span with its score. For a spans metric, references without
    the span group are left out, as spaCy's scorer leaves them out."""
    # cast: Language.get_pipe is typed to return any pipe; ``component`` names a globalpointer_ner.
    gp = cast("GlobalPointerNER", nlp.get_pipe(component))
    flat = metric == "ents_f"
    if not flat:
        references = [ref for ref in references if gp.spans_key in ref.spans]
    saved = (gp.threshold, gp.label_thresholds, gp.spans_per_token)
    lowest = min(float(numpy.min(GRID)), gp.threshold, *gp.label_thresholds.values())
    gp.threshold, gp.label_thresholds = lowest, {}
    gp.spans_per_token = max(gp.spans_per_token, 3.0)
    label_ids = {label: i for i, label in enumerate(gp.labels)}
    out = []
    try:
        with pipes_up_to(nlp, component):
            for ref, doc in zip(references, nlp.pipe((r.text for r in references), batch_size=batch_size)):
                group = doc.spans[gp.spans_key]
                labels = [label_ids[s.label_] for s in group]
                spans = SpanCandidates(
                    numpy.asarray([s.start for s in group], dtype="int64"),
                    numpy.asarray([s.end for s in group], dtype="int64"),
                    numpy.asarray(labels, dtype="int64"),
                    numpy.asarray(group.attrs["scores"], dtype="float32"),
                )
                gold = ref.ents if flat else ref.spans[gp.spans_key]
                chars = [(s.start_char, s.end_char, c) for s, c in zip(group, labels)]
                gold_chars = {(g.start_char, g.end_char, label_ids.get(g.label_, -1)) for g in gold}
                out.append(DevDoc(spans, chars, gold_chars, flat))
    finally:
        gp.threshold, gp.label_thresholds, gp.spans_per_token = saved
    return out


def collect_relations(
    nlp: Language, component: str, references: Sequence[Doc], batch_size: int = 256
) -> List[DevDoc]:
    """As ``collect``, for a globalpointer_rel: every relation above the lowest
    threshold, keyed as the strict relation score compares them. References
    without relation annotation are left out, as the relation scorer does."""
    # cast: Language.get_pipe is typed to return any pipe; ``component`` names a globalpointer_rel.
    rel = cast("GlobalPointerRel", nlp.get_pipe(component))
    references = [ref for ref in references if has_relations(ref, rel.relations_key)]
    saved = (rel.threshold, rel.label_thresholds)
    rel.threshold = min(float(numpy.min(GRID)), rel.threshold, *rel.label_thresholds.values())
    rel.label_thresholds = {}
    label_ids = {label: i for i, label in enumerate(rel.labels)}
    out = []
    try:
        with pipes_up_to(nlp, component):
            for ref, doc in zip(references, nlp.pipe((r.text for r in references), batch_size=batch_size)):
                found = relations(doc, rel.relations_key)
                labels = numpy.asarray([label_ids[r.label] for r in found], dtype="int64")
                # No flat selection of relations: the token offsets are not read.
                none = numpy.zeros(len(found), dtype="int64")
                scores = numpy.asarray([r.score for r in found], dtype="float32")
                keys = [(*item[:-1], label_ids[item[-1]]) for item in map(relation_item, found)]
                gold = {
                    (*item[:-1], label_ids.get(item[-1], -1))
                    for item in relation_items(ref, rel.relations_key)
                }
                out.append(DevDoc(SpanCandidates(none, none, labels, scores), keys, gold, flat=False))
    finally:
        rel.threshold, rel.label_thresholds = saved
    return out
