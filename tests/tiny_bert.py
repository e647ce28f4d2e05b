"""A tiny random BERT written to a folder, for tests and benchmarks that must
not download anything. Load it by path wherever a model name is expected."""

import string
from pathlib import Path
from typing import Iterable, Union

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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
    """Write config, random weights, vocab and a fast tokenizer to ``path``.

    The vocab holds the special tokens, every non-ASCII character of
    ``texts``, and ASCII letters and digits both as word starts and as
    ``##`` pieces, so a Latin word or a number becomes several wordpieces
    rather than one [UNK].
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    ascii_chars = string.ascii_lowercase + string.digits
    chars = sorted({c for text in texts for c in text.lower() if not c.isspace() and c not in ascii_chars})
    vocab = (
        SPECIAL
        + list(ascii_chars)
        + [f"##{c}" for c in ascii_chars]
        + list(string.punctuation)
        + [c for c in chars if c not in string.punctuation]
    )
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf8")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(dict.fromkeys(vocab)),
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
