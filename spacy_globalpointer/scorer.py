"""Scores for the component (flat entities and the nested span group), and
the package's one P/R/F of counts."""

from typing import Any, Callable, Dict, Iterable

from spacy.scorer import PRFScore, Scorer, get_ner_prf
from spacy.training import Example
from spacy.util import registry


def score_globalpointer(examples: Iterable[Example], *, spans_key: str = "sc", **kwargs) -> Dict[str, Any]:
    """ents_p/r/f and ents_per_type over doc.ents, plus spans_{key}_p/r/f and
    spans_{key}_per_type over doc.spans[spans_key] (overlaps allowed)."""
    examples = list(examples)
    scores = get_ner_prf(examples)
    scores.update(
        Scorer.score_spans(
            examples,
            attr=f"spans_{spans_key}",
            getter=lambda doc, attr: doc.spans.get(spans_key, []),
            has_annotation=lambda doc: spans_key in doc.spans,
            allow_overlap=True,
        )
    )
    return scores


@registry.scorers("spacy_globalpointer.scorer.v1")
def make_globalpointer_scorer() -> Callable:
    return score_globalpointer


def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    """P/R/F of these counts (spaCy's PRFScore), with the counts."""
    return {**PRFScore(tp=tp, fp=fp, fn=fn).to_dict(), "tp": tp, "fp": fp, "fn": fn}
