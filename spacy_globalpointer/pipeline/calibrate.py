"""Choosing the decision threshold on held-out data after training.

The head is trained with a loss whose natural cut is a logit of 0, but 0 is
not always where a trained model's F-score peaks: a model that is precise and
misses entities peaks lower. The component keeps one threshold and, optionally, one per label; this module
picks them to maximise an exact-match F-score on a dev set: of doc.ents (the
flat selection), or of every span in doc.spans[key] (nested data), by default
the one the pipeline selects models on. For globalpointer_rel, the same
choice for its relation threshold, on the strict relation F (``rel_micro_f``)
with the entities the pipeline predicts.

A new threshold is only kept when it pays on data it was not chosen on: the
dev docs are split in two, thresholds chosen on each half are scored on the
other, and the winner there among the pipeline's current threshold (nothing
chosen, so its held-out score is its dev score), one global threshold and
per-label ones is used. Ties go to the simpler choice. A model whose F already
peaks near its current cut keeps it: a threshold fitted to dev's noise would
score higher on dev and lower on new data. (Calibrating a pipeline again on
the data its threshold was chosen on favours keeping that threshold: its
score there is in-sample. Calibrate model-best, as the project does.)
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple, Union, cast

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from spacy_globalpointer.pipeline.calibration_data import (
    GRID,
    DevDoc,
    collect,
    collect_relations,
)
from spacy_globalpointer.pipeline.decode import select_flat
from spacy_globalpointer.pipeline.scorer import count_matches, prf

if TYPE_CHECKING:
    from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER


def metrics(spans_key: str) -> Tuple[str, str]:
    """The scores calibrate can maximise: flat doc.ents, or every span of the group."""
    return "ents_f", f"spans_{spans_key}_f"


RELATION_METRIC = "rel_micro_f"


def selection_metric(nlp: Language, spans_key: str) -> str:
    """The pipeline's own selection target: of ents_f and spans_KEY_f, the
    one its [training.score_weights] weighs most (ents_f on a tie)."""
    weights = nlp.config.get("training", {}).get("score_weights", {}) or {}
    flat, nested = metrics(spans_key)
    return nested if (weights.get(nested) or 0.0) > (weights.get(flat) or 0.0) else flat


# What calibrate can keep, simplest first (ties on held-out F go to the earlier).
CHOICES = ("unchanged", "global", "per_label")


@dataclass
class Calibration:
    """What calibrate set on the component (``threshold``,
    ``label_thresholds``), which of CHOICES that is, the best single threshold
    on all the data whether used or not, the metric maximised, and the P/R/F
    of that metric behind the choice."""

    threshold: float
    label_thresholds: Dict[str, float]
    choice: str
    best_global: float
    scores: Dict[str, Dict[str, float]] = field(default_factory=dict)
    metric: str = "ents_f"

    @property
    def per_label_used(self) -> bool:
        return self.choice == "per_label"


def counts(docs: Sequence[DevDoc], thresholds: numpy.ndarray, n_labels: int) -> numpy.ndarray:
    """(labels + 1, 3) true positives, false positives, false negatives (the
    last row: gold labels the component does not know) of the flat selection,
    made as the component makes it, or of every span, with these per-label
    thresholds."""
    out = numpy.zeros((n_labels + 1, 3), dtype="int64")
    for doc in docs:
        cand = doc.spans
        keep = numpy.flatnonzero(cand.scores > thresholds[cand.labels])
        chosen = keep
        if doc.flat and len(keep):
            chosen = keep[select_flat(cand.starts[keep], cand.ends[keep], cand.scores[keep])]
        pred = {doc.chars[k] for k in chosen}
        count_matches(doc.gold, pred, lambda key: key[-1], out)
    return out


def scores_of(c: numpy.ndarray) -> Dict[str, float]:
    """P/R/F of counts over all labels (rows of ``counts``)."""
    tp, fp, fn = (int(x) for x in c.sum(0))
    return prf(tp, fp, fn)


def f_score(c: numpy.ndarray) -> float:
    return scores_of(c)["f"]


def best_global(docs, n_labels) -> float:
    """The grid value with the best F (the one closest to 0 among ties)."""
    fs = [f_score(counts(docs, numpy.full(n_labels, t), n_labels)) for t in GRID]
    best = max(fs)
    return float(min((t for t, f in zip(GRID, fs) if f == best), key=abs))


def best_per_label(docs, n_labels, start: float, rounds: int = 1) -> numpy.ndarray:
    """Coordinate ascent over labels from one global threshold, on a coarser grid."""
    th = numpy.full(n_labels, start)
    best = f_score(counts(docs, th, n_labels))
    for _ in range(rounds):
        for c in range(n_labels):
            for t in GRID[::3]:
                trial = th.copy()
                trial[c] = t
                f = f_score(counts(docs, trial, n_labels))
                if f > best:
                    best, th = f, trial
    return th


def calibrate(
    nlp: Language,
    references: Sequence[Doc],
    component: str = "globalpointer_ner",
    metric: Optional[str] = None,
) -> Calibration:
    """Choose the thresholds for ``component`` on ``references`` (gold docs)
    to maximise ``metric`` (a globalpointer_ner: ``ents_f`` or
    ``spans_KEY_f``, by default the pipeline's selection target; a
    globalpointer_rel: ``rel_micro_f``) and set them on the component;
    returns what was chosen, with the dev scores at the old threshold, the
    global and the per-label ones, and the held-out scores that decided
    between them."""
    from spacy_globalpointer.pipeline.globalpointer_rel import GlobalPointerRel

    # cast: Language.get_pipe is typed to return any pipe; ``component`` names one of ours.
    gp = cast("GlobalPointerNER", nlp.get_pipe(component))
    is_rel = isinstance(gp, GlobalPointerRel)
    allowed = (RELATION_METRIC,) if is_rel else metrics(gp.spans_key)
    metric = metric or (RELATION_METRIC if is_rel else selection_metric(nlp, gp.spans_key))
    if metric not in allowed:
        raise ValueError(f"[{component}] metric must be one of {allowed}, got {metric!r}")
    labels = list(gp.labels)
    n = len(labels)
    docs = (
        collect_relations(nlp, component, references)
        if is_rel
        else collect(nlp, component, references, metric)
    )
    old = numpy.asarray(gp.thresholds(), dtype="float32")
    glob = best_global(docs, n)
    per_label = best_per_label(docs, n, glob)
    # Held-out check: choose on one half, score on the other, both ways.
    halves = [list(range(0, len(docs), 2)), list(range(1, len(docs), 2))]
    held = {
        "global": numpy.zeros((n + 1, 3), dtype="int64"),
        "per_label": numpy.zeros((n + 1, 3), dtype="int64"),
    }
    for fit, test in (halves, halves[::-1]):
        fit_docs, test_docs = [docs[i] for i in fit], [docs[i] for i in test]
        g = best_global(fit_docs, n)
        held["global"] += counts(test_docs, numpy.full(n, g), n)
        held["per_label"] += counts(test_docs, best_per_label(fit_docs, n, g), n)
    old_counts = counts(docs, old, n)
    # Nothing is chosen for "unchanged": its held-out score is its score.
    held_f = {
        "unchanged": f_score(old_counts),
        "global": f_score(held["global"]),
        "per_label": f_score(held["per_label"]),
    }
    choice = max(CHOICES, key=lambda c: (held_f[c], -CHOICES.index(c)))

    def row(c):
        return {key: scores_of(c)[key] for key in "prf"}

    scores = {
        "dev_old_threshold": row(old_counts),
        "dev_global": row(counts(docs, numpy.full(n, glob), n)),
        "dev_per_label": row(counts(docs, per_label, n)),
        "held_out_global": row(held["global"]),
        "held_out_per_label": row(held["per_label"]),
    }
    if choice == "unchanged":
        threshold, label_thresholds = float(gp.threshold), dict(gp.label_thresholds)
    else:
        chosen = per_label if choice == "per_label" else numpy.full(n, glob)
        threshold = glob
        label_thresholds = {label: float(t) for label, t in zip(labels, chosen) if float(t) != glob}
    result = Calibration(threshold, label_thresholds, choice, glob, scores, metric)
    gp.threshold, gp.label_thresholds = result.threshold, result.label_thresholds
    return result


def save_calibrated(nlp: Language, path: Union[str, Path], component: str = "globalpointer_ner") -> None:
    """Save the pipeline with its new thresholds in both places a pipeline
    keeps them: the component's cfg and config.cfg (what spacy.load reads)."""
    from thinc.api import Config

    # cast: Language.get_pipe is typed to return any pipe; ``component`` names a globalpointer_ner.
    gp = cast("GlobalPointerNER", nlp.get_pipe(component))
    gp.mark_configured("threshold", "label_thresholds")
    nlp.to_disk(path)
    config = Config().from_disk(Path(path) / "config.cfg", interpolate=False)
    config["components"][component]["threshold"] = gp.threshold
    config["components"][component]["label_thresholds"] = dict(gp.label_thresholds)
    config.to_disk(Path(path) / "config.cfg", interpolate=False)
