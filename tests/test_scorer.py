"""P/R/F by span length (scorer.v2), on hand-made predictions and gold."""

import pytest
import spacy
from spacy.tokens import Span
from spacy.training import Example

from spacy_globalpointer.pipeline.scorer import make_globalpointer_scorer_v2, score_globalpointer


def example(nlp, words, gold, pred):
    """gold / pred: (start, end, label) token spans; ents are the first, flat ones."""
    ref, doc = (spacy.tokens.Doc(nlp.vocab, words=words) for _ in range(2))
    for d, spans in ((ref, gold), (doc, pred)):
        group = [Span(d, s, e, label) for s, e, label in spans]
        d.spans["sc"] = group
        d.set_ents(
            [
                sp
                for k, sp in enumerate(group)
                if all(sp.start >= o.end or sp.end <= o.start for o in group[:k])
            ]
        )
    return Example(doc, ref)


def test_per_length_counts_by_hand():
    nlp = spacy.blank("en")
    words = [f"w{i}" for i in range(30)]
    gold = [(0, 1, "A"), (2, 5, "B"), (10, 22, "C"), (10, 12, "A"), (25, 26, "A")]
    pred = [(0, 1, "A"), (2, 5, "B"), (10, 21, "C"), (10, 12, "A"), (27, 30, "B")]
    scores = make_globalpointer_scorer_v2()([example(nlp, words, gold, pred)])
    spans = scores["spans_sc_per_length"]
    # 1-2: gold (0,1) (10,12) (25,26) vs pred (0,1) (10,12): tp 2, fn 1
    assert (spans["1-2"]["tp"], spans["1-2"]["fp"], spans["1-2"]["fn"]) == (2, 0, 1)
    # 3-4: gold (2,5) vs pred (2,5) and (27,30): tp 1, fp 1
    assert (spans["3-4"]["tp"], spans["3-4"]["fp"], spans["3-4"]["fn"]) == (1, 1, 0)
    # 8-12: pred (10,21) is 11 tokens, wrong; 13+: gold (10,22) is 12 tokens -> 8-12 too
    assert (spans["8-12"]["tp"], spans["8-12"]["fp"], spans["8-12"]["fn"]) == (0, 1, 1)
    assert "5-7" not in spans and "13+" not in spans
    assert spans["1-2"]["r"] == pytest.approx(2 / 3) and spans["3-4"]["p"] == pytest.approx(1 / 2)
    # the totals are spaCy's own
    plain = score_globalpointer([example(nlp, words, gold, pred)])
    for key in ("spans_sc_f", "ents_f", "ents_p"):
        assert scores[key] == plain[key]
    tp = sum(v["tp"] for v in spans.values())
    assert tp == 3 and scores["spans_sc_p"] == pytest.approx(tp / len(pred))
    ents = scores["ents_per_length"]
    assert sum(v["tp"] + v["fn"] for v in ents.values()) == 4  # (10,12) overlaps (10,22): not in gold ents


def test_bad_buckets_fail():
    with pytest.raises(ValueError, match="length_buckets"):
        make_globalpointer_scorer_v2([3, 1])
