"""The default keys: where entities live on a Doc (``doc.spans[DEFAULT_SPANS_KEY]``,
as spaCy's spancat keeps its spans under "sc") and where relations are
stored (``relations(doc, DEFAULT_RELATIONS_KEY)``), and the two places a writer
takes entities from (SOURCES: doc.ents, flat, or the span group, nested). No
spaCy or torch import:
the command line's options read them without loading either."""

DEFAULT_SPANS_KEY = "sc"
DEFAULT_RELATIONS_KEY = "rel"
SOURCES = ("ents", "spans")


def check_source(source: str) -> None:
    """A ValueError unless ``source`` is one of SOURCES."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
