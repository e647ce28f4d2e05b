"""`spacy globalpointer calibrate`."""

from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt, setup_gpu
from wasabi import msg

from ..outputs import write_json
from .app import app, table


@app.command("calibrate")
def calibrate_cli(
    model: Path = Arg(
        ..., help="Trained pipeline folder (written in place unless --output-model)", exists=True
    ),
    dev_path: Path = Arg(..., help="Gold .spacy (DocBin with doc.ents), e.g. corpus/dev.spacy", exists=True),
    output: Optional[Path] = Opt(
        None, "--output", help="Also write what was chosen, with the scores, as JSON"
    ),
    output_model: Optional[Path] = Opt(
        None, "--output-model", help="Save the calibrated pipeline here instead"
    ),
    component: str = Opt("globalpointer_ner", "--component", help="Name of the component"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
):
    """Choose the decision threshold of a trained pipeline on gold data: the
    one threshold with the best exact-match F of doc.ents, or per-label ones,
    whichever wins on held-out halves of the data; the pipeline's own
    threshold stays when neither beats it there. Stores them in the pipeline
    (config.cfg and the component), so spacy.load uses them.

    \b
    Example:
      spacy globalpointer calibrate training/cluener_cpu/model-best corpus/dev.spacy
    """
    import spacy
    from spacy.tokens import DocBin

    from ..calibrate import calibrate, save_calibrated

    setup_gpu(gpu_id, silent=True)
    nlp = spacy.load(model)
    references = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    result = calibrate(nlp, references, component)
    save_calibrated(nlp, output_model or model, component)
    rows = [
        (name.replace("_", " "), *(f"{100 * v[k]:.2f}" for k in "prf")) for name, v in result.scores.items()
    ]
    table(rows, ("doc.ents on " + dev_path.name, "P", "R", "F"))
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
    if output:
        data = {
            "threshold": result.threshold,
            "label_thresholds": result.label_thresholds,
            "choice": result.choice,
            "per_label_used": result.per_label_used,
            "best_global": result.best_global,
            "scores": result.scores,
        }
        write_json(output, data)
