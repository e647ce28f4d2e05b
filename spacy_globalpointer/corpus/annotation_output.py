"""Predictions as the annotation tools import them, so that a user can
correct the model's output in their tool and convert it back: spaCy/Prodigy
JSON lines (``spans``: tokens, spans and relations, as Prodigy's
``rel.manual`` has them), doccano's JSON lines (``entities`` and
``relations``) and Label Studio tasks with ``predictions`` (one task per
line: Label Studio imports JSON lines, or ``jq -s . FILE`` makes the JSON
list older versions take). What ``convert`` reads, it reads back."""

from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span

TOOL_FORMATS = ("spans", "doccano", "label-studio")
# The names a Label Studio labeling config gives its Labels and Text tags, as in its NER template.
LS_FROM_NAME, LS_TO_NAME = "label", "text"


def tool_record(
    doc: "Doc", spans_key: str, relations_key: Optional[str], output_format: str
) -> Dict[str, Any]:
    """One record's predictions in a tool's format: every span of
    doc.spans[spans_key] (nested ones too), with its score, and the
    relations between them."""
    from spacy_globalpointer.pipeline.relations import entity_key, relations

    group = doc.spans.get(spans_key, [])
    scores = list(group.attrs.get("scores", [])) if len(group) else []
    spans: List["Span"] = list(group)
    rels = relations(doc, relations_key) if relations_key is not None else []
    if output_format == "label-studio":
        regions = [
            {
                "id": f"s{k}",
                "from_name": LS_FROM_NAME,
                "to_name": LS_TO_NAME,
                "type": "labels",
                "value": {"start": s.start_char, "end": s.end_char, "text": s.text, "labels": [s.label_]},
                "score": float(v),
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
        return {
            "data": {"text": doc.text},
            "predictions": [{"model_version": "spacy-globalpointer", "result": regions + arrows}],
        }
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
        return {"text": doc.text, "entities": entities, "relations": links}
    tokens = [
        {"text": t.text, "start": t.idx, "end": t.idx + len(t), "id": t.i, "ws": bool(t.whitespace_)}
        for t in doc
    ]
    out_spans = [{**_span(s), "score": float(v)} for s, v in zip(spans, scores)]
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
    return {"text": doc.text, "tokens": tokens, "spans": out_spans, "relations": links}


def _span(span: "Span") -> Dict[str, Any]:
    return {
        "start": span.start_char,
        "end": span.end_char,
        "token_start": span.start,
        "token_end": span.end - 1,
        "label": span.label_,
    }
