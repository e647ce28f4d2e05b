"""Loading a Hugging Face BERT checkpoint folder into spacy-curated-transformers' BERT.

Curated's own ``PyTorchCheckpointLoader.v1`` reads ``pytorch_model.bin`` only, and its Hugging Face
loaders need ``transformers`` and the hub. This loader reads the folder (either weights format, see
hf_checkpoint.py), checks it against the encoder the config built, and hands curated's own parameter
converter the state dict.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy_globalpointer.transformers.hf_checkpoint import (
    CONFIG,
    SIZES,
    VOCAB,
    CheckpointError,
    encoder_settings,
    read_weights,
    vocab_size,
)

# How the fix reads in a message: the settings come from config.json, by the fill step.
FILL = "fill the config from the folder: spacy globalpointer fill-curated-config CONFIG FOLDER OUTPUT"


# Registered through the thinc_model_loaders entry point only: the registry
# exists once spacy-curated-transformers (an optional extra) is imported.
def make_hf_checkpoint_loader(path: Path) -> "HFCheckpointLoader":
    """An ``encoder_loader`` for spacy-curated-transformers' ``curated_transformer``
    component (``[initialize.components.transformer.encoder_loader]``) that
    loads the weights of a local Hugging Face BERT checkpoint folder into a
    ``spacy-curated-transformers.BertTransformer.v1`` encoder, with no
    network and no ``transformers``. The folder's config.json must give the
    sizes the encoder was built with, and its weights (model.safetensors, or
    pytorch_model.bin) must fit config.json; otherwise initializing fails,
    naming the file and the field.

    path (Path): the checkpoint folder (config.json, vocab.txt, and
        model.safetensors or pytorch_model.bin).
    """
    return HFCheckpointLoader(Path(path))


class HFCheckpointLoader:
    """The loader as the transformer layer's ``init``: an object rather than a
    closure, so that a pipeline holding it can be pickled (``nlp.pipe`` with
    ``n_process`` where processes are spawned)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, model, X: Optional[List] = None, Y: Optional[List] = None):
        load_checkpoint(model, self.folder)
        return model


def load_checkpoint(model, folder: Path) -> None:
    """Check the folder against the encoder inside ``model`` (curated's
    torch-wrapping layer) and load its weights."""
    from curated_transformers.models.bert.encoder import BertEncoder
    from curated_transformers.models.hf_util import convert_pretrained_model_for_encoder

    curated = getattr(model.shims[0], "_model", None) if model.shims else None
    encoder = getattr(curated, "curated_encoder", None)
    if not isinstance(encoder, BertEncoder):
        raise CheckpointError(
            f"spacy_globalpointer.HFCheckpointLoader.v1 loads a BERT checkpoint ({folder}) into "
            f"spacy-curated-transformers.BertTransformer.v1 (not torchscript); this transformer's encoder "
            f"is a {type(encoder).__name__}"
        )
    assert curated is not None  # it holds the BertEncoder checked above
    expected = encoder_settings(folder)
    built = built_sizes(encoder)
    for field, arg in SIZES.items():
        if built[arg] != expected[arg]:
            raise CheckpointError(
                f"{folder / CONFIG}: {field} is {expected[arg]}, but the encoder was built with {arg} = "
                f"{built[arg]} ([components.*.model] of the config): {FILL}"
            )
    for arg in ("hidden_act", "layer_norm_eps"):
        if built[arg] != expected[arg]:
            raise CheckpointError(
                f"{folder / CONFIG}: {arg} is {expected[arg]!r}, but the encoder was built with "
                f"{built[arg]!r}: {FILL}"
            )
    pieces = vocab_size(folder)
    if pieces > expected["vocab_size"]:
        raise CheckpointError(
            f"{folder / VOCAB} has {pieces} pieces, more than config.json's vocab_size "
            f"({expected['vocab_size']}): the pieces past it have no embedding"
        )
    path, state = read_weights(folder)
    try:
        params = convert_pretrained_model_for_encoder(curated, state)
    except KeyError as e:
        raise CheckpointError(f"{path} has no parameter {e.args[0]}: it is not a BERT checkpoint") from None
    target = curated.state_dict()
    missing = sorted(set(target) - set(params))
    if missing:
        raise CheckpointError(f"{path} lacks {len(missing)} encoder parameters, the first {missing[0]}")
    for name, tensor in params.items():
        if name not in target:
            raise CheckpointError(f"{path} has a parameter the encoder has not: {name}")
        if tuple(tensor.shape) != tuple(target[name].shape):
            raise CheckpointError(
                f"{path} does not fit {folder / CONFIG}: {name} has shape {tuple(tensor.shape)}, "
                f"config.json gives {tuple(target[name].shape)}"
            )
    curated.load_state_dict(params)


def built_sizes(encoder) -> Dict[str, Any]:
    """The BertTransformer.v1 arguments an encoder was built with, read from its modules."""
    import torch
    from curated_transformers.models.activations import GeluNew

    emb = encoder.embeddings
    sizes = {
        "vocab_size": emb.word_embeddings.num_embeddings,
        "hidden_width": emb.word_embeddings.embedding_dim,
        "max_position_embeddings": emb.position_embeddings.num_embeddings,
        "type_vocab_size": emb.token_type_embeddings.num_embeddings,
        "padding_idx": encoder.padding_idx,
        "num_hidden_layers": len(encoder.layers),
        "layer_norm_eps": emb.layer_norm.eps,
        "intermediate_width": None,
        "num_attention_heads": None,
        "hidden_act": None,
    }
    if len(encoder.layers):
        layer = encoder.layers[0]
        activation = layer.ffn.activation
        acts = {torch.nn.ReLU: "relu", torch.nn.GELU: "gelu", GeluNew: "gelu_new"}
        sizes.update(
            intermediate_width=layer.ffn.intermediate.out_features,
            num_attention_heads=layer.mha.num_heads,
            hidden_act=acts.get(type(activation), type(activation).__name__),
        )
    return sizes
