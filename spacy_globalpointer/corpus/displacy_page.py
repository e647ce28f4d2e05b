"""A sample of predictions as one displaCy HTML page: nested spans, then the
flat doc.ents.
"""

from pathlib import Path


def write_displacy(docs, path, spans_key: str) -> None:
    """One HTML page: nested spans (displaCy's span style), then the flat doc.ents."""
    import warnings

    from spacy import displacy

    with warnings.catch_warnings():
        # W117/W006: a doc of the sample without entities is not news.
        warnings.filterwarnings("ignore", message=r"\[W(117|006)\]")
        spans = displacy.render(
            docs, style="span", options={"spans_key": spans_key}, page=False, jupyter=False
        )
        ents = displacy.render(docs, style="ent", page=False, jupyter=False)
    html = (
        "<!DOCTYPE html><html lang='zh'><meta charset='utf-8'><body>"
        f"<h2>doc.spans['{spans_key}'] (nested)</h2>"
        f"{spans}<h2>doc.ents (flat)</h2>{ents}</body></html>"
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(html, encoding="utf8")
