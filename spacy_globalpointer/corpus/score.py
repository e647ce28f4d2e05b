"""CLUENER's two metrics over its JSON lines: exact (start, end, label)
matches, micro over labels, and the official leaderboard metric (entity
strings per line, macro over labels)."""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from spacy_globalpointer.files.json_lines import InputError, iter_json_lines
from spacy_globalpointer.pipeline.scorer import prf
from spacy_globalpointer.training.converters.cluener import CLUENER_LABELS, CluenerError


def load_json_lines(path: Union[str, Path]) -> List[Dict[str, Any]]:
    """A whole JSON-lines file as dicts (for scoring); a bad line is a
    CluenerError naming file and line."""
    out = []
    for _, obj in iter_json_lines(path):
        if isinstance(obj, InputError):
            raise CluenerError(str(obj))
        out.append(obj)
    return out


def _pair_lines(
    gold: List[Dict[str, Any]], pred: List[Dict[str, Any]]
) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """Pair lines by id when every line has one, else by position."""
    if all("id" in g for g in gold) and all("id" in p for p in pred):
        by_id = {p["id"]: p for p in pred}
        return [(g, by_id.get(g["id"], {"label": {}})) for g in gold]
    if len(gold) != len(pred):
        raise ValueError(
            f"gold has {len(gold)} lines and predictions {len(pred)}, and lines carry no ids to pair them by"
        )
    return list(zip(gold, pred))


def exact_scores(gold: List[Dict[str, Any]], pred: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Micro P/R/F over exact (start, end, label) triples, and per label."""
    counts: Dict[str, List[int]] = defaultdict(lambda: [0, 0, 0])
    for g, p in _pair_lines(gold, pred):
        g_set = {
            (label, s, e)
            for label, ents in (g.get("label") or {}).items()
            for pos in ents.values()
            for s, e in pos
        }
        p_set = {
            (label, s, e)
            for label, ents in (p.get("label") or {}).items()
            for pos in ents.values()
            for s, e in pos
        }
        for label, *_ in g_set & p_set:
            counts[label][0] += 1
        for label, *_ in p_set - g_set:
            counts[label][1] += 1
        for label, *_ in g_set - p_set:
            counts[label][2] += 1
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {**prf(*total), "per_type": {label: prf(*c) for label, c in sorted(counts.items())}}


def official_scores(
    gold: List[Dict[str, Any]], pred: List[Dict[str, Any]], labels: Optional[Iterable[str]] = None
) -> Dict[str, Any]:
    """The CLUENER leaderboard metric: per label, the entity *strings* of each
    line are compared (positions ignored), TP/FP/FN summed over lines, F1 per
    label; the score is the macro average of F1 over the labels (by default
    CLUENER's ten, or the gold file's own labels if it has others)."""
    if labels is None:
        seen = {label for g in gold for label in (g.get("label") or {})}
        labels = CLUENER_LABELS if seen <= set(CLUENER_LABELS) else sorted(seen)
    labels = list(labels)
    per_type = {}
    for label in labels:
        tp = fp = fn = 0
        for g, p in _pair_lines(gold, pred):
            g_keys = set((g.get("label") or {}).get(label, {}))
            p_keys = set((p.get("label") or {}).get(label, {}))
            tp += len(p_keys & g_keys)
            fp += len(p_keys - g_keys)
            fn += len(g_keys - p_keys)
        per_type[label] = prf(tp, fp, fn)
    macro = sum(v["f"] for v in per_type.values()) / len(labels) if labels else 0.0
    return {"macro_f": macro, "per_type": per_type}


def score_files(gold_path: Union[str, Path], pred_path: Union[str, Path]) -> Dict[str, Any]:
    """Both metrics of a predicted CLUENER file against the gold one."""
    gold, pred = load_json_lines(gold_path), load_json_lines(pred_path)
    return {"exact": exact_scores(gold, pred), "official": official_scores(gold, pred)}
