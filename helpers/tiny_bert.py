"""Tiny random BERTs written to a folder, for tests and benchmarks that must
not download anything. Load one by path wherever a model name is expected.

``build_tiny_bert`` writes it with ``transformers`` (its own ``save_pretrained``
files, fast tokenizer included). ``write_tiny_bert_checkpoint`` writes the same
kind of folder with torch alone: Hugging Face's parameter names and config.json
fields, the weights as ``model.safetensors`` or ``pytorch_model.bin``, for the
paths that must work where ``transformers`` is not installed.
"""

import json
import string
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Union

if TYPE_CHECKING:
    import torch

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_vocab(texts: Iterable[str]) -> List[str]:
    """The special tokens, every non-ASCII character of ``texts``, and ASCII
    letters and digits both as word starts and as ``##`` pieces, so a Latin
    word or a number becomes several wordpieces rather than one [UNK]."""
    ascii_chars = string.ascii_lowercase + string.digits
    chars = sorted({c for text in texts for c in text.lower() if not c.isspace() and c not in ascii_chars})
    vocab = (
        SPECIAL
        + list(ascii_chars)
        + [f"##{c}" for c in ascii_chars]
        + list(string.punctuation)
        + [c for c in chars if c not in string.punctuation]
    )
    return list(dict.fromkeys(vocab))


def build_tiny_bert(
    path: Union[str, Path],
    texts: Iterable[str] = (),
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Write config, random weights, vocab and a fast tokenizer to ``path``
    with ``transformers``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab(texts)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_position_embeddings,
    )
    BertModel(config).save_pretrained(path)
    BertTokenizerFast(
        vocab_file=str(path / "vocab.txt"), do_lower_case=True, model_max_length=max_position_embeddings
    ).save_pretrained(path)
    return path


def tiny_bert_state_dict(config: Dict, seed: int = 0) -> Dict[str, "torch.Tensor"]:
    """Random weights under the names Hugging Face's ``BertModel`` saves them
    with (no ``bert.`` prefix, the pooler included), initialised as it does:
    normal(0, 0.02) matrices, zero biases, unit layer-norm scales."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    hidden, inner = config["hidden_size"], config["intermediate_size"]

    def normal(*shape):
        return torch.normal(0.0, 0.02, shape, generator=gen)

    state = {
        "embeddings.word_embeddings.weight": normal(config["vocab_size"], hidden),
        "embeddings.position_embeddings.weight": normal(config["max_position_embeddings"], hidden),
        "embeddings.token_type_embeddings.weight": normal(config["type_vocab_size"], hidden),
        "embeddings.LayerNorm.weight": torch.ones(hidden),
        "embeddings.LayerNorm.bias": torch.zeros(hidden),
    }
    state["embeddings.word_embeddings.weight"][config["pad_token_id"]] = 0.0
    for i in range(config["num_hidden_layers"]):
        layer = f"encoder.layer.{i}"
        for name, (n_out, n_in) in {
            "attention.self.query": (hidden, hidden),
            "attention.self.key": (hidden, hidden),
            "attention.self.value": (hidden, hidden),
            "attention.output.dense": (hidden, hidden),
            "intermediate.dense": (inner, hidden),
            "output.dense": (hidden, inner),
        }.items():
            state[f"{layer}.{name}.weight"] = normal(n_out, n_in)
            state[f"{layer}.{name}.bias"] = torch.zeros(n_out)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            state[f"{layer}.{norm}.weight"] = torch.ones(hidden)
            state[f"{layer}.{norm}.bias"] = torch.zeros(hidden)
    state["pooler.dense.weight"] = normal(hidden, hidden)
    state["pooler.dense.bias"] = torch.zeros(hidden)
    return state


def write_tiny_bert_checkpoint(
    path: Union[str, Path],
    texts: Iterable[str] = (),
    *,
    weights: str = "safetensors",
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Write config.json, vocab.txt, tokenizer_config.json and random weights
    (``weights``: "safetensors" for model.safetensors, "bin" for
    pytorch_model.bin) to ``path``, with torch (and safetensors) only."""
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab(texts)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": len(vocab),
        "hidden_size": hidden_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": hidden_size * 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": max_position_embeddings,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf8")
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": max_position_embeddings,
    }
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf8")
    state = tiny_bert_state_dict(config, seed)
    if weights == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    elif weights == "bin":
        torch.save(state, path / "pytorch_model.bin")
    else:
        raise ValueError(f"weights must be 'safetensors' or 'bin', got {weights!r}")
    return path
