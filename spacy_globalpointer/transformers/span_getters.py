"""Span getters for spacy-transformers' windows."""

from typing import Callable


# Registered through the spacy_span_getters entry point only: the registry
# exists once spacy-transformers (an optional extra) is imported.
def make_checked_strided_spans(window: int, stride: int, max_positions: int = 512) -> Callable:
    """spacy-transformers' strided_spans, with the window checked against the
    transformer's position limit. The window counts spaCy tokens, and each
    token takes at least one wordpiece, plus [CLS] and [SEP]: a window above
    ``max_positions - 2`` would overflow the position embeddings (or be cut
    by the tokenizer, silently dropping the last tokens' vectors). With
    stride < window, windows overlap, so every token - one at a window
    border too - is seen with context on both sides.

    window (int): tokens per window, at most max_positions - 2.
    stride (int): tokens between window starts, 1..window.
    max_positions (int): the model's max_position_embeddings (512 for BERT).
    """
    from spacy_transformers.span_getters import configure_strided_spans

    if window > max_positions - 2:
        raise ValueError(
            f"[spacy_globalpointer.checked_strided_spans.v1] window {window} is larger than the model "
            "allows: "
            f"max_positions {max_positions} - 2 special tokens = {max_positions - 2}. "
            f"Lower [components.transformer.model.get_spans] window (each spaCy token "
            f"takes at least one wordpiece)."
        )
    if not 0 < stride <= window:
        raise ValueError(
            f"[spacy_globalpointer.checked_strided_spans.v1] stride must be in 1..window ({window}), "
            f"got {stride}."
        )
    return configure_strided_spans(window, stride)
