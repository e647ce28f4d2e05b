"""The Label Studio labelling config that shows a pipeline's predictions: a
``<Labels>`` tag with the entity labels on a ``<Text>`` tag, and
``<Relations>`` with the relation labels when the pipeline predicts
relations, the tags named as ``predict --format label-studio`` names them
in its tasks (a project whose tags have other names imports the predictions
without an error and shows none of them)."""

from pathlib import Path
from typing import TYPE_CHECKING, List, Sequence, Tuple, Union
from xml.sax.saxutils import quoteattr

from spacy_globalpointer.corpus.annotation_output import LS_DATA_KEY, LS_FROM_NAME, LS_TO_NAME

if TYPE_CHECKING:
    from spacy.language import Language

# Beside a single output file (NAME.label_config.xml), or in an output folder.
CONFIG_SUFFIX = ".label_config.xml"
CONFIG_NAME = "label_config.xml"
# Distinct region colours, cycled (Label Studio otherwise draws labels alike).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def pipeline_labels(nlp: "Language") -> Tuple[List[str], List[str]]:
    """The entity labels of the pipeline's globalpointer_ner components and
    the relation labels of its globalpointer_rel components, in their order."""
    from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER
    from spacy_globalpointer.pipeline.globalpointer_rel import GlobalPointerRel

    entities: List[str] = []
    relations: List[str] = []
    for _, proc in nlp.pipeline:
        if isinstance(proc, GlobalPointerNER):
            entities += [label for label in proc.labels if label not in entities]
        elif isinstance(proc, GlobalPointerRel):
            relations += [label for label in proc.labels if label not in relations]
    return entities, relations


def label_config(
    entity_labels: Sequence[str],
    relation_labels: Sequence[str] = (),
    names: Tuple[str, str, str] = (LS_FROM_NAME, LS_TO_NAME, LS_DATA_KEY),
) -> str:
    """The ``<View>`` for these labels; ``names``: the Labels tag's name
    (from_name), the Text tag's (to_name) and the task's data key."""
    from_name, to_name, data_key = names
    lines = ["<View>"]
    if relation_labels:
        lines += ["  <Relations>", *(f"    <Relation value={quoteattr(x)}/>" for x in relation_labels)]
        lines.append("  </Relations>")
    lines.append(f"  <Labels name={quoteattr(from_name)} toName={quoteattr(to_name)}>")
    for k, label in enumerate(entity_labels):
        lines.append(f'    <Label value={quoteattr(label)} background="{PALETTE[k % len(PALETTE)]}"/>')
    lines.append("  </Labels>")
    lines.append(f"  <Text name={quoteattr(to_name)} value={quoteattr('$' + data_key)}/>")
    return "\n".join(lines + ["</View>"]) + "\n"


def config_path(output: Union[str, Path]) -> Path:
    """Where predict writes the config: NAME.label_config.xml beside a
    single output file, label_config.xml in an output folder."""
    output = Path(output)
    if output.suffix in (".json", ".jsonl") and not output.is_dir():
        return output.with_name(output.stem + CONFIG_SUFFIX)
    return output / CONFIG_NAME


def write_label_config(nlp: "Language", path: Union[str, Path], names: Tuple[str, str, str]) -> Path:
    """Write the pipeline's config to ``path``, its folder made if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(label_config(*pipeline_labels(nlp), names=names), encoding="utf8")
    return path
