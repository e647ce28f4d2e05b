"""`spacy globalpointer label-studio-config`."""

import sys
from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt
from wasabi import msg

from spacy_globalpointer.cli.app import app, failing_on
from spacy_globalpointer.corpus.annotation_output import LS_DATA_KEY, LS_FROM_NAME, LS_TO_NAME


@app.command("label-studio-config")
def label_studio_config_cli(
    model: str = Arg(..., help="Pipeline name or path", metavar="MODEL"),
    output: Optional[Path] = Arg(
        None, help="Write the config here (default: standard output)", metavar="OUTPUT"
    ),
    ls_from_name: str = Opt(LS_FROM_NAME, "--ls-from-name", help="The Labels tag's name"),
    ls_to_name: str = Opt(LS_TO_NAME, "--ls-to-name", help="The Text tag's name"),
    ls_data_key: str = Opt(LS_DATA_KEY, "--ls-data-key", help="The task's data field holding the text"),
):
    """The Label Studio labelling config (Settings > Labeling Interface >
    Code) that shows the pipeline's predictions: its entity labels in a
    <Labels> tag on a <Text> tag, and its relation labels in <Relations>
    when it predicts relations. The tag names must be those of the tasks:
    give predict --format label-studio the same --ls-* options (predict
    also writes this config beside its output). convert reads the exports
    back (--ls-from-name/--ls-to-name there read only those tags).

    \b
    Examples:
      spacy globalpointer label-studio-config training/model-best
      spacy globalpointer label-studio-config training/model-best config.xml --ls-from-name ner
    """
    import spacy

    from spacy_globalpointer.corpus.label_studio_config import label_config, pipeline_labels

    with failing_on(OSError):  # a pipeline that is not there
        nlp = spacy.load(model)
    entities, relations = pipeline_labels(nlp)
    if not entities:
        msg.fail(f"{model}: no globalpointer_ner component, so no entity labels to show", exits=1)
    config = label_config(entities, relations, (ls_from_name, ls_to_name, ls_data_key))
    if output is None:
        sys.stdout.write(config)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(config, encoding="utf8")
    msg.good(
        f"Wrote the labelling config ({len(entities)} entity, {len(relations)} relation labels) to {output}"
    )
