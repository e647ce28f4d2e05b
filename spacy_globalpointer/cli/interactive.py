"""`spacy globalpointer interactive`."""

from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt, setup_gpu
from wasabi import msg

from spacy_globalpointer.cli.app import app, table
from spacy_globalpointer.corpus.displacy_page import write_displacy
from spacy_globalpointer.training.converters import cluener


def _typed_texts(text: Optional[str]):
    """The one --text, or lines typed at the prompt until an empty line or Ctrl-D."""
    if text is not None:
        yield text
        return
    msg.info("Type a sentence and press Enter (an empty line or Ctrl-D ends).")
    while True:
        try:
            line = input("> ")
        except EOFError:
            return
        if not line.strip():
            return
        yield line


@app.command("interactive")
def interactive_cli(
    model: str = Arg(..., help="Pipeline name or path"),
    text: Optional[str] = Opt(
        None, "--text", help="Score this one text and stop, instead of reading from the keyboard"
    ),
    spans_key: Optional[str] = Opt(None, "--spans-key", help="doc.spans key (default: the component's)"),
    displacy_path: Optional[Path] = Opt(
        None, "--displacy", help="Write the docs to this HTML file (displaCy: nested spans and ents)"
    ),
    serve: bool = Opt(False, "--serve", help="Serve the docs with displaCy on 127.0.0.1 when done"),
    port: int = Opt(5002, "--port", help="Port for --serve"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
):
    """Type a sentence, see every predicted span: label, text, offsets
    (inclusive end, as CLUENER writes them), score, and whether it is in
    doc.ents; and, with a relation component, every predicted relation.

    \b
    Example:
      spacy globalpointer interactive training/cluener_cpu/model-best --text "浙商银行企业信贷部"
    """
    import spacy
    from spacy import displacy

    from spacy_globalpointer.corpus.predict import component_relations_key, component_spans_key
    from spacy_globalpointer.pipeline.relations import relations

    setup_gpu(gpu_id, silent=True)
    nlp = spacy.load(model)
    key = spans_key or component_spans_key(nlp)
    relations_key = component_relations_key(nlp)
    docs = []
    for typed in _typed_texts(text):
        doc = nlp(typed)
        docs.append(doc)
        scores = doc.spans[key].attrs.get("scores", []) if key in doc.spans else []
        in_ents = {(e.start, e.end, e.label_) for e in doc.ents}
        rows = [
            (
                span.label_,
                span.text,
                *cluener.char_offsets_to_cluener(span.start_char, span.end_char),
                f"{float(score):.2f}",
                "yes" if (span.start, span.end, span.label_) in in_ents else "",
            )
            for span, score in zip(doc.spans.get(key, []), scores)
        ]
        if rows:
            table(rows, ("label", "text", "start", "end (incl.)", "score", "in ents"))
        else:
            msg.text("(no entities)")
        if relations_key is not None:
            found = [
                (r.head.text, r.head.label_, r.label, r.tail.text, r.tail.label_, f"{r.score:.2f}")
                for r in relations(doc, relations_key)
            ]
            if found:
                table(found, ("head", "label", "relation", "tail", "label", "score"))
            else:
                msg.text("(no relations)")
    if displacy_path and docs:
        write_displacy(docs, displacy_path, key, relations_key)
        msg.good(f"Wrote {len(docs)} doc(s) to {displacy_path}")
    if serve and docs:
        displacy.serve(docs, style="span", options={"spans_key": key}, port=port, host="127.0.0.1")
