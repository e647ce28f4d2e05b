"""`spacy globalpointer fill-curated-config`."""

from pathlib import Path

from spacy.cli._util import Arg, Opt
from wasabi import msg

from spacy_globalpointer.cli.app import app, failing_on


@app.command("fill-curated-config")
def fill_curated_config_cli(
    config_path: Path = Arg(..., help="The config to fill (configs/cluener_curated.cfg)", exists=True),
    folder: Path = Arg(..., help="A Hugging Face BERT checkpoint folder", exists=True, file_okay=False),
    output: Path = Arg(..., help="Where to write the filled config"),
    pipe: str = Opt("transformer", "--pipe", help="The curated_transformer component to fill"),
):
    """Fill a spacy-curated-transformers BERT config from a local checkpoint
    folder (config.json, vocab.txt, model.safetensors or pytorch_model.bin):
    the encoder's sizes, activation and dropout rates from config.json, and
    [initialize] loading the folder's weights and vocabulary. The sizes are
    part of the pipeline's config (it is rebuilt from them when loaded,
    without the folder), so they are written once, before training, as
    curated's own `spacy init fill-curated-transformer` does from the hub.

    \b
    Example:
      spacy globalpointer fill-curated-config configs/cluener_curated.cfg ./bert-base-chinese train.cfg
    """
    from thinc.api import Config

    from spacy_globalpointer.transformers.fill_curated_config import fill_curated_config

    with failing_on(OSError, ValueError):  # CheckpointError is a ValueError
        config = Config().from_disk(config_path, interpolate=False)
        filled = fill_curated_config(config, folder, pipe, source=str(config_path))
    output.parent.mkdir(parents=True, exist_ok=True)
    filled.to_disk(output, interpolate=False)
    msg.good(f"{output}: [components.{pipe}] filled from {folder}")
