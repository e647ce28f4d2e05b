"""A sample of predictions as one displaCy HTML page: nested spans, the
relations between them (as labelled arcs), then the flat doc.ents.
"""

from pathlib import Path
from typing import Any, Dict, Optional


def relation_arcs(doc, spans_key: str, relations_key: str) -> Dict[str, Any]:
    """displaCy's manual dependency format for a doc's relations: each entity
    of doc.spans[spans_key] (nested ones too) is a "word" tagged with its
    label, in text order, and each relation an arc from head to tail labelled
    with the relation."""
    from spacy_globalpointer.pipeline.relations import entity_key, relations

    rels = relations(doc, relations_key)
    # The span group's entities, and any a relation joins that it lacks (gold made elsewhere).
    entities = {entity_key(s): s for s in [*doc.spans.get(spans_key, []), *(e for r in rels for e in r[:2])]}
    order = sorted(entities, key=lambda k: (k[0], -k[1], k[2]))
    index = {k: i for i, k in enumerate(order)}
    arcs = []
    for rel in rels:
        head, tail = index[entity_key(rel.head)], index[entity_key(rel.tail)]
        first, last = sorted((head, tail))
        direction = "right" if tail > head else "left"
        arcs.append({"start": first, "end": last, "label": rel.label, "dir": direction})
    return {"words": [{"text": entities[k].text, "tag": k[2]} for k in order], "arcs": arcs}


def write_displacy(docs, path, spans_key: str, relations_key: Optional[str] = None) -> None:
    """One HTML page: nested spans (displaCy's span style), each doc's
    relations below its spans (with a ``relations_key``: displaCy's
    dependency style over the entities, see relation_arcs), then the flat
    doc.ents."""
    import warnings

    from spacy import displacy

    def render(items, style, **options):
        return displacy.render(items, style=style, page=False, jupyter=False, **options)

    with warnings.catch_warnings():
        # W117/W006: a doc of the sample without entities is not news.
        warnings.filterwarnings("ignore", message=r"\[W(117|006)\]")
        span_options = {"options": {"spans_key": spans_key}}
        if relations_key is None:
            spans = render(docs, "span", **span_options)
        else:
            arc_options = {"compact": True, "distance": 150, "offset_x": 40}
            blocks = []
            for doc in docs:
                blocks.append(render([doc], "span", **span_options))
                arcs = relation_arcs(doc, spans_key, relations_key)
                if arcs["arcs"]:
                    blocks.append(render([arcs], "dep", manual=True, options=arc_options))
            spans = "".join(blocks)
        ents = render(docs, "ent")
    title = f"doc.spans['{spans_key}'] (nested)" + (" and the relations" if relations_key else "")
    html = (
        "<!DOCTYPE html><html lang='zh'><meta charset='utf-8'><body>"
        f"<h2>{title}</h2>{spans}<h2>doc.ents (flat)</h2>{ents}</body></html>"
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(html, encoding="utf8")
