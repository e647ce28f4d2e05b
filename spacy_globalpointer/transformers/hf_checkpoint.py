"""A Hugging Face BERT checkpoint folder, read without `transformers`.

The folder is what ``save_pretrained`` writes (or what a model repository
holds): ``config.json``, the weights as ``model.safetensors`` or
``pytorch_model.bin``, ``vocab.txt`` and, optionally,
``tokenizer_config.json``. Every problem is a ``CheckpointError`` that names
the file and the field.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Tuple, Union

if TYPE_CHECKING:
    import torch

CONFIG = "config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
VOCAB = "vocab.txt"
# In the order they are looked for: safetensors first, as it is read without unpickling anything.
WEIGHTS = ("model.safetensors", "pytorch_model.bin")

# config.json field -> spacy-curated-transformers.BertTransformer.v1 argument: the sizes that decide the
# encoder's parameters, so a checkpoint and an encoder built from a config must agree on all of them.
SIZES = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_width",
    "num_hidden_layers": "num_hidden_layers",
    "num_attention_heads": "num_attention_heads",
    "intermediate_size": "intermediate_width",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "pad_token_id": "padding_idx",
}
# The rest of the encoder's settings, with Hugging Face's BertConfig defaults for the fields a config.json
# leaves out.
OTHER_SETTINGS = {
    "hidden_act": ("hidden_act", "gelu"),
    "layer_norm_eps": ("layer_norm_eps", 1e-12),
    "hidden_dropout_prob": ("hidden_dropout_prob", 0.1),
    "attention_probs_dropout_prob": ("attention_probs_dropout_prob", 0.1),
}
# The activations curated's BERT layers implement.
ACTIVATIONS = ("gelu", "gelu_new", "relu")


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be used, with the file and field at fault."""


def read_json(path: Path) -> Dict[str, Any]:
    """A JSON object from ``path``, or a ``CheckpointError`` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} not found: a Hugging Face checkpoint folder has {path.name} beside its weights "
            f"(give the model as a local folder, as `save_pretrained` writes it)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} cannot be read as JSON: {e}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not a JSON object")
    return data


def read_config(folder: Union[str, Path]) -> Dict[str, Any]:
    """``config.json`` of a BERT checkpoint, checked: model_type "bert",
    absolute position embeddings, every size a positive integer and the
    activation one curated's BERT has."""
    path = Path(folder) / CONFIG
    config = read_json(path)
    model_type = config.get("model_type")
    if model_type != "bert":
        raise CheckpointError(
            f"{path}: model_type is {model_type!r}; this loader reads BERT checkpoints (model_type 'bert', "
            f"which includes the Chinese RoBERTa-wwm and MacBERT models)"
        )
    position = config.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise CheckpointError(
            f"{path}: position_embedding_type is {position!r}; curated's BERT has absolute positions only"
        )
    for field in SIZES:
        value = config.get(field, 0 if field == "pad_token_id" else None)
        low = 0 if field == "pad_token_id" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise CheckpointError(f"{path}: {field} must be an integer >= {low}, got {value!r}")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise CheckpointError(
            f"{path}: hidden_size {config['hidden_size']} is not a multiple of "
            f"num_attention_heads {config['num_attention_heads']}"
        )
    act = config.get("hidden_act", OTHER_SETTINGS["hidden_act"][1])
    if act not in ACTIVATIONS:
        raise CheckpointError(f"{path}: hidden_act is {act!r}; curated's BERT has {', '.join(ACTIVATIONS)}")
    return config


def encoder_settings(folder: Union[str, Path]) -> Dict[str, Any]:
    """The arguments of ``spacy-curated-transformers.BertTransformer.v1``
    that come from ``config.json``: its sizes, activation, layer-norm epsilon
    and dropout rates, and ``model_max_length`` (the position embeddings: the
    longest window the encoder takes)."""
    config = read_config(folder)
    settings = {arg: config.get(field, 0) for field, arg in SIZES.items()}
    settings.update({arg: config.get(field, default) for field, (arg, default) in OTHER_SETTINGS.items()})
    settings["model_max_length"] = config["max_position_embeddings"]
    return settings


def wordpiece_settings(folder: Union[str, Path]) -> Dict[str, bool]:
    """``lowercase`` and ``strip_accents`` of
    ``spacy-curated-transformers.WordpieceLoader.v1``, as Hugging Face's BERT
    tokenizer reads them from ``tokenizer_config.json``: ``do_lower_case``
    (true when absent), and accents stripped when lowercasing unless
    ``strip_accents`` says otherwise."""
    path = Path(folder) / TOKENIZER_CONFIG
    config = read_json(path) if path.exists() else {}
    lowercase = config.get("do_lower_case", True)
    strip_accents = config.get("strip_accents")
    for field, value in (("do_lower_case", lowercase), ("strip_accents", strip_accents)):
        if not isinstance(value, bool) and not (field == "strip_accents" and value is None):
            raise CheckpointError(f"{path}: {field} must be true or false, got {value!r}")
    return {
        "lowercase": lowercase,
        "strip_accents": bool(strip_accents or (strip_accents is None and lowercase)),
    }


def vocab_size(folder: Union[str, Path]) -> int:
    """The number of pieces in ``vocab.txt`` (one a line)."""
    path = Path(folder) / VOCAB
    try:
        with path.open(encoding="utf8") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} not found: a BERT checkpoint folder has its wordpiece vocabulary"
        ) from None


def weights_file(folder: Union[str, Path]) -> Path:
    """The folder's weights file: ``model.safetensors`` where there is one,
    else ``pytorch_model.bin``."""
    folder = Path(folder)
    for name in WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(
        f"No weights in {folder}: neither {' nor '.join(WEIGHTS)} is there "
        f"(a sharded checkpoint, *.index.json, is not read: save it unsharded)"
    )


def read_weights(folder: Union[str, Path]) -> Tuple[Path, Dict[str, "torch.Tensor"]]:
    """The weights file and its tensors on the CPU, under Hugging Face's names.
    ``pytorch_model.bin`` is read with ``torch.load(weights_only=True)``:
    tensors only, no code."""
    import torch

    path = weights_file(folder)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise CheckpointError(
            f"{path} needs the safetensors package: pip install 'spacy-globalpointer[curated]'"
        ) from None
    except Exception as e:  # each format has its own errors for a damaged file
        raise CheckpointError(f"{path} cannot be read: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict (parameter names to tensors)")
    return path, state
