"""Predictions as the annotation tools import them, so that a user can
correct the model's output in their tool and convert it back: spaCy/Prodigy
JSON lines (``spans``: tokens, spans and relations, as Prodigy's
``rel.manual`` has them), doccano's JSON lines (``entities`` and
``relations``) and Label Studio tasks with ``predictions`` (the tags named
as in the labelling config of label_studio_config.py). What ``convert``
reads, it reads back.

Which spans: every span of doc.spans (nested ones too), or with ``source
"ents"`` doc.ents only (for a tool or project that cannot hold overlapping
spans), then only the relations between those; what is not written is
counted in the record's ``meta.left_out``.

Scores: the ``spans`` format keeps the pipeline's raw scores (logits, as in
doc.spans' ``scores`` attribute); Label Studio gets confidences in [0, 1],
the sigmoid of the score (a threshold of 0 is a confidence of 0.5), which its
interface shows and sorts by. doccano's import has no score field."""

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from spacy_globalpointer.pipeline.keys import check_source

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span

TOOL_FORMATS = ("spans", "doccano", "label-studio")
# The names a Label Studio labelling config gives its Labels tag, its Text tag and the task's data
# field, as in its NER template: predict writes them, label-studio-config declares them.
LS_FROM_NAME, LS_TO_NAME, LS_DATA_KEY = "label", "text", "text"
MODEL_VERSION = "spacy-globalpointer"


def confidence(score: float) -> float:
    """The sigmoid of a raw score, in [0, 1], without overflow for large ones."""
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    z = math.exp(score)
    return z / (1.0 + z)


def tool_record(
    doc: "Doc",
    spans_key: str,
    relations_key: Optional[str],
    output_format: str,
    source: str = "spans",
    ls_names: Tuple[str, str, str] = (LS_FROM_NAME, LS_TO_NAME, LS_DATA_KEY),
) -> Dict[str, Any]:
    """One record's predictions in a tool's format: the spans of ``source``
    with their scores, and the relations between them (module docstring)."""
    from spacy_globalpointer.pipeline.relations import entity_key, relations

    check_source(source)
    group = doc.spans.get(spans_key, [])
    scored = (
        dict(zip(map(entity_key, group), map(float, group.attrs.get("scores", [])))) if len(group) else {}
    )
    spans: List["Span"] = list(doc.ents) if source == "ents" else list(group)
    # doc.ents come from the same spans; a span of no score (set by another component) has none.
    scores = [scored.get(entity_key(s)) for s in spans]
    written = {entity_key(s) for s in spans}
    every = relations(doc, relations_key) if relations_key is not None else []
    rels = [r for r in every if entity_key(r.head) in written and entity_key(r.tail) in written]
    left_out = {"spans": len(group) - len(spans), "relations": len(every) - len(rels)}
    # On every record, zeros too: doccano's import fails on a file whose records do not share their fields.
    left = {"meta": {"left_out": left_out}} if source == "ents" else {}
    if output_format == "label-studio":
        return {**_label_studio(doc, spans, scores, rels, ls_names), **left}
    if output_format == "doccano":
        ids = {entity_key(s): k for k, s in enumerate(spans)}
        entities = [
            {"id": k, "start_offset": s.start_char, "end_offset": s.end_char, "label": s.label_}
            for k, s in enumerate(spans)
        ]
        links = [
            {"id": k, "from_id": ids[entity_key(r.head)], "to_id": ids[entity_key(r.tail)], "type": r.label}
            for k, r in enumerate(rels)
        ]
        return {"text": doc.text, "entities": entities, "relations": links, **left}
    tokens = [
        {"text": t.text, "start": t.idx, "end": t.idx + len(t), "id": t.i, "ws": bool(t.whitespace_)}
        for t in doc
    ]
    out_spans = [{**_span(s), "score": v} for s, v in zip(spans, scores)]
    links = [
        {
            "head": r.head.end - 1,
            "child": r.tail.end - 1,
            "head_span": _span(r.head),
            "child_span": _span(r.tail),
            "label": r.label,
            "score": r.score,
        }
        for r in rels
    ]
    return {"text": doc.text, "tokens": tokens, "spans": out_spans, "relations": links, **left}


def _label_studio(
    doc: "Doc", spans: List["Span"], scores: List[Optional[float]], rels: list, names: Tuple[str, str, str]
) -> Dict[str, Any]:
    """A task: the text under the data key, one prediction of labelled
    regions (from_name, to_name) and relation arcs between them; its score,
    which Label Studio sorts tasks by, is the least confident region's or
    relation's (the task most in need of review first, sorted ascending)."""
    from spacy_globalpointer.pipeline.relations import entity_key

    from_name, to_name, data_key = names
    regions: List[Dict[str, Any]] = [
        {
            "id": f"s{k}",
            "from_name": from_name,
            "to_name": to_name,
            "type": "labels",
            "value": {"start": s.start_char, "end": s.end_char, "text": s.text, "labels": [s.label_]},
            **({"score": confidence(v)} if v is not None else {}),
        }
        for k, (s, v) in enumerate(zip(spans, scores))
    ]
    region_ids = {entity_key(s): f"s{k}" for k, s in enumerate(spans)}
    arrows = [
        {
            "from_id": region_ids[entity_key(r.head)],
            "to_id": region_ids[entity_key(r.tail)],
            "type": "relation",
            "direction": "right",
            "labels": [r.label],
        }
        for r in rels
    ]
    prediction: Dict[str, Any] = {"model_version": MODEL_VERSION, "result": regions + arrows}
    confidences = [r["score"] for r in regions if "score" in r] + [confidence(r.score) for r in rels]
    if confidences:
        prediction["score"] = min(confidences)
    return {"data": {data_key: doc.text}, "predictions": [prediction]}


def _span(span: "Span") -> Dict[str, Any]:
    return {
        "start": span.start_char,
        "end": span.end_char,
        "token_start": span.start,
        "token_end": span.end - 1,
        "label": span.label_,
    }
