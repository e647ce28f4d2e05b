"""`spacy globalpointer calibrate`."""

from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt, setup_gpu
from wasabi import msg

from spacy_globalpointer.cli.app import app, failing_on, table
from spacy_globalpointer.files.json_lines import write_json


@app.command("calibrate")
def calibrate_cli(
    model: Path = Arg(
        ..., help="Trained pipeline folder (written in place unless --output-model)", exists=True
    ),
    dev_path: Path = Arg(..., help="Gold .spacy (DocBin), e.g. corpus/dev.spacy", exists=True),
    output: Optional[Path] = Opt(
        None, "--output", help="Also write what was chosen, with the scores, as JSON"
    ),
    output_model: Optional[Path] = Opt(
        None, "--output-model", help="Save the calibrated pipeline here instead"
    ),
    component: str = Opt(
        "globalpointer_ner", "--component", help="Name of the component (a globalpointer_ner or _rel)"
    ),
    metric: Optional[str] = Opt(
        None,
        "--metric",
        help="ents_f or spans_KEY_f (default: the pipeline's score weights' choice); rel_micro_f for "
        "a globalpointer_rel",
    ),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
    if_present: bool = Opt(
        False, "--if-present", help="A pipeline without the component: say so and change nothing"
    ),
):
    """Choose the decision threshold of a trained pipeline on gold data: the
    one threshold with the best exact-match F (of doc.ents, or of every span
    with --metric spans_KEY_f; by default the metric the pipeline is selected
    on, its [training.score_weights]), or per-label ones,
    whichever wins on held-out halves of the data; the pipeline's own
    threshold stays when neither beats it there. Stores them in the pipeline
    (config.cfg and the component), so spacy.load uses them. For a relation
    component (--component globalpointer_rel) the same on the strict
    relation F, with the entities the pipeline predicts: calibrate the
    entities first.

    \b
    Examples:
      spacy globalpointer calibrate training/cluener_cpu/model-best corpus/dev.spacy
      spacy globalpointer calibrate training/conll04/model-best corpus/conll04_dev.spacy \
        --output-model training/conll04/model-calibrated
      spacy globalpointer calibrate training/conll04/model-calibrated corpus/conll04_dev.spacy \
        --component globalpointer_rel
    """
    import spacy
    from spacy.tokens import DocBin

    from spacy_globalpointer.pipeline.calibrate import calibrate, save_calibrated

    setup_gpu(gpu_id, silent=True)
    nlp = spacy.load(model)
    if if_present and component not in nlp.pipe_names:
        msg.info(f"No {component} in {model} ({', '.join(nlp.pipe_names)}): nothing to calibrate")
        if output_model is not None:
            nlp.to_disk(output_model)
        return
    references = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    with failing_on(ValueError):
        result = calibrate(nlp, references, component, metric)
    save_calibrated(nlp, output_model or model, component)
    msg.info(f"Metric: {result.metric}" + ("" if metric else " (the pipeline's selection target)"))
    rows = [
        (name.replace("_", " "), *(f"{100 * v[k]:.2f}" for k in "prf")) for name, v in result.scores.items()
    ]
    table(rows, (f"{result.metric[:-2]} on {dev_path.name}", "P", "R", "F"))
    if result.choice == "unchanged":
        msg.good(
            f"Threshold left at {result.threshold:+.2f}: a new one (best on all of {dev_path.name}: "
            f"{result.best_global:+.2f}) did not win on held-out halves; saved to {output_model or model}"
        )
    else:
        chosen = "per label" if result.per_label_used else "one for all labels"
        msg.good(f"Threshold {result.threshold:+.2f} ({chosen}), saved to {output_model or model}")
    if result.label_thresholds:
        table(sorted(result.label_thresholds.items()), ("label", "threshold"))
    if result.metric == "rel_micro_f":
        print_per_relation_label(nlp, references, component, dev_path.name)
    else:
        print_per_length(nlp, references, component, result.metric, dev_path.name)
    if output:
        data = {
            "threshold": result.threshold,
            "label_thresholds": result.label_thresholds,
            "choice": result.choice,
            "per_label_used": result.per_label_used,
            "best_global": result.best_global,
            "metric": result.metric,
            "scores": result.scores,
        }
        write_json(output, data)


def print_per_length(nlp, references, component: str, metric: str, name: str) -> None:
    """P/R/F by gold span length at the thresholds chosen, for the metric's spans."""
    from spacy.training import Example

    from spacy_globalpointer.pipeline.calibration_data import pipes_up_to
    from spacy_globalpointer.pipeline.scorer import score_with_lengths

    gp = nlp.get_pipe(component)
    with pipes_up_to(nlp, component):
        docs = nlp.pipe(r.text for r in references)
        examples = [Example(doc, ref) for doc, ref in zip(docs, references)]
    key = "ents_per_length" if metric == "ents_f" else f"spans_{gp.spans_key}_per_length"
    rows = [
        (bucket, v["tp"] + v["fn"], *(f"{100 * v[k]:.2f}" for k in "prf"))
        for bucket, v in score_with_lengths(examples, spans_key=gp.spans_key)[key].items()
    ]
    table(rows, (f"{metric[:-2]} by length on {name}", "gold", "P", "R", "F"))


def print_per_relation_label(nlp, references, component: str, name: str) -> None:
    """Strict P/R/F per relation label at the thresholds chosen."""
    from spacy.training import Example

    from spacy_globalpointer.pipeline.calibration_data import pipes_up_to
    from spacy_globalpointer.pipeline.scorer import score_relations

    rel = nlp.get_pipe(component)
    with pipes_up_to(nlp, component):
        docs = nlp.pipe(r.text for r in references)
        examples = [Example(doc, ref) for doc, ref in zip(docs, references)]
    rows = [
        (label, v["tp"] + v["fn"], *(f"{100 * v[k]:.2f}" for k in "prf"))
        for label, v in score_relations(examples, relations_key=rel.relations_key)["rel_per_type"].items()
    ]
    table(rows, (f"relations by label on {name}", "gold", "P", "R", "F"))
