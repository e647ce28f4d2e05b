"""A spacy-curated-transformers BERT config filled from a local Hugging Face checkpoint folder.

    python -m spacy_globalpointer.transformers.curated_config \\
        configs/cluener_curated.cfg /path/to/bert train.cfg

The encoder's sizes are part of the pipeline's config (the pipeline is rebuilt from it when it is loaded,
without the folder), so they are written into the config from the folder's config.json once, before
training, as curated's own ``spacy init fill-curated-transformer`` does from the hub.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Union

from thinc.api import Config

from spacy_globalpointer.transformers.hf_checkpoint import VOCAB, encoder_settings, wordpiece_settings

BERT = "spacy-curated-transformers.BertTransformer.v1"
WORDPIECE_LOADER = "spacy-curated-transformers.WordpieceLoader.v1"
CHECKPOINT_LOADER = "spacy_globalpointer.HFCheckpointLoader.v1"


def fill_curated_config(
    config: Config, folder: Union[str, Path], pipe: str = "transformer", source: str = "the config"
) -> Config:
    """A copy of ``config`` (read with ``interpolate=False``) whose ``pipe``
    (a ``curated_transformer`` with ``BertTransformer.v1``) has the sizes,
    activation and dropout rates of the folder's config.json, whose
    initialization loads the folder (weights through
    ``HFCheckpointLoader.v1``, vocab.txt through curated's
    ``WordpieceLoader.v1`` with tokenizer_config.json's casing), and whose
    ``[paths] transformer``, where there is one, is the folder. ``source``
    names the config in errors."""
    folder = Path(folder)
    settings = encoder_settings(folder)
    filled = config.copy()
    component = filled.get("components", {}).get(pipe)
    if component is None or component.get("factory") != "curated_transformer":
        raise ValueError(f"{source}: [components.{pipe}] is not a curated_transformer component")
    model = component.get("model", {})
    if model.get("@architectures") != BERT:
        raise ValueError(
            f"{source}: [components.{pipe}.model] is {model.get('@architectures')!r}; the folder's "
            f"config.json fills {BERT}"
        )
    window = model.get("with_spans", {}).get("window")
    if isinstance(window, int) and window > settings["model_max_length"]:
        raise ValueError(
            f"{source}: [components.{pipe}.model.with_spans] window is {window} pieces, more than the "
            f"{settings['model_max_length']} positions of {folder / 'config.json'}"
        )
    model.update(settings)
    init = filled.setdefault("initialize", {}).setdefault("components", {}).setdefault(pipe, {})
    init["encoder_loader"] = {"@model_loaders": CHECKPOINT_LOADER, "path": str(folder)}
    init["piecer_loader"] = {
        "@model_loaders": WORDPIECE_LOADER,
        "path": str(folder / VOCAB),
        **wordpiece_settings(folder),
    }
    if "transformer" in filled.get("paths", {}):
        filled["paths"]["transformer"] = str(folder)
    return filled


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m spacy_globalpointer.transformers.curated_config",
        description="Fill a spacy-curated-transformers BERT config from a local Hugging Face checkpoint "
        "folder (config.json, vocab.txt, model.safetensors or pytorch_model.bin).",
    )
    p.add_argument("config", type=Path, help="the config to fill (configs/cluener_curated.cfg)")
    p.add_argument("folder", type=Path, help="the checkpoint folder")
    p.add_argument("output", type=Path, help="where to write the filled config")
    p.add_argument("--pipe", default="transformer", help="the curated_transformer component (transformer)")
    args = p.parse_args(argv)
    try:
        config = Config().from_disk(args.config, interpolate=False)
        filled = fill_curated_config(config, args.folder, args.pipe, source=str(args.config))
    except (OSError, ValueError) as e:  # CheckpointError is a ValueError
        sys.exit(f"✘ {e}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    filled.to_disk(args.output, interpolate=False)
    print(f"✔ {args.output}: [components.{args.pipe}] filled from {args.folder}")


if __name__ == "__main__":
    main()
