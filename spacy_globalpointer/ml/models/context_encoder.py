"""The registered context encoder: a token-vector layer's encoder followed by
a sentence-wide context layer (a BiLSTM by default), for the ``encode`` of
spaCy's Tok2Vec.v2, so that every component listening to the tok2vec reads
each token in the context of its whole doc (ml/encoder_layer.py)."""

from typing import List

from spacy.util import registry
from thinc.api import Model, chain
from thinc.types import Floats2d

from spacy_globalpointer.ml.encoder_layer import context_encoder_layer
from spacy_globalpointer.ml.pytorch.context import CONTEXTS

# Every context layer but "rows", which gives vectors at the entities' rows only, not at every token.
ENCODER_CONTEXTS = tuple(context for context in CONTEXTS if context != "rows")


@registry.architectures("spacy_globalpointer.ContextEncoder.v1")
def build_context_encoder(
    local: Model[List[Floats2d], List[Floats2d]],
    width: int,
    context: str = "lstm",
    context_width: int = 128,
    depth: int = 1,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
) -> Model[List[Floats2d], List[Floats2d]]:
    """``local``, then a context layer over each doc, its output beside
    ``local``'s: what the relation recipe puts in the shared tok2vec, so that
    the entity and the relation component both read each token in the context
    of its sentence.

    local (Model[List[Floats2d], List[Floats2d]]): the encoder before the
        context layer (spaCy's MaxoutWindowEncoder.v2: a few tokens on each
        side), of output width ``width - context_width``.
    width (int): the output width, what listeners of the tok2vec read:
        ``local``'s width and ``context_width`` together.
    context (str): "lstm" (a BiLSTM over the doc), "gru" (a BiGRU) or
        "attention" (self-attention within 64 tokens, 2 heads, RoPE).
    context_width (int): the context layer's width: even for "lstm" and
        "gru" (half of it each way), a multiple of 4 for "attention".
    depth (int): the context layer's layers (at least 1).
    mixed_precision (bool): torch autocast for the context layer on a CUDA
        device.
    grad_scaler_config (dict): thinc's PyTorchGradScaler settings, with mixed
        precision on a CUDA device.
    """
    name = "[spacy_globalpointer.ContextEncoder.v1]"
    if context not in ENCODER_CONTEXTS:
        raise ValueError(f"{name} context must be one of {ENCODER_CONTEXTS}, got {context!r}.")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"{name} depth must be an integer of at least 1, got {depth!r}.")
    # Half the width each way (BiLSTM, BiGRU), or two heads of an even size (attention, for RoPE).
    step = 4 if context == "attention" else 2
    if not isinstance(context_width, int) or context_width < step or context_width % step:
        raise ValueError(
            f"{name} context_width must be a positive multiple of {step} for {context!r}: {context_width!r}."
        )
    local_width = local.get_dim("nO") if local.has_dim("nO") is True else width - context_width
    if local_width + context_width != width:
        raise ValueError(
            f"{name} width ({width}) must be the local encoder's width ({local_width}) plus context_width "
            f"({context_width}): {local_width + context_width}."
        )
    encoder = context_encoder_layer(
        local_width, context, context_width, depth, mixed_precision, grad_scaler_config
    )
    model: Model[List[Floats2d], List[Floats2d]] = chain(local, encoder)
    model.set_dim("nO", width)
    return model
