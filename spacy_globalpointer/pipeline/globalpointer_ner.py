"""The ``globalpointer_ner`` pipeline component."""

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, cast

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model, torch2xp, xp2torch
from thinc.types import Floats4d

from spacy_globalpointer.ml.chunked_scores import SpanScores
from spacy_globalpointer.ml.models.globalpointer import DEFAULT_MODEL_CONFIG
from spacy_globalpointer.ml.pytorch.loss import band_loss
from spacy_globalpointer.pipeline.annotate import write_predictions
from spacy_globalpointer.pipeline.batching import length_groups, one_torch_thread_if_forked
from spacy_globalpointer.pipeline.decode import SpanCandidates, decode_spans
from spacy_globalpointer.pipeline.gold import OutOfReach, gold_cells, gold_spans
from spacy_globalpointer.pipeline.keys import DEFAULT_SPANS_KEY
from spacy_globalpointer.pipeline.pointer_pipe import PointerPipe
from spacy_globalpointer.pipeline.scorer import score_globalpointer
from spacy_globalpointer.pipeline.settings import (
    Setting,
    count,
    count_or_none,
    defaults_of,
    flag,
    non_empty_string,
    non_negative_number,
    number,
    numbers_by_label,
    positive_number,
    settings_doc,
)

DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


class GlobalPointerNER(PointerPipe):
    """Span-scoring NER: spans above the threshold go to doc.spans[spans_key], a
    non-overlapping selection to doc.ents. The settings below are properties,
    checked when set and saved with the pipeline (settings.py)."""

    spans_key = Setting(
        DEFAULT_SPANS_KEY,
        non_empty_string,
        "doc.spans key for every predicted span (nested and overlapping allowed); also where gold spans "
        "are read from when training (falling back to doc.ents when the reference has no such group).",
    )
    threshold = Setting(0.0, number, "A span is predicted when its score (a logit) is above this.")
    label_thresholds: Setting[Mapping[str, float]] = Setting(
        {},
        numbers_by_label,
        "Thresholds for some labels, in place of threshold (`spacy globalpointer calibrate` chooses "
        "them on dev). Read-only as a mapping: assign a new one to change it.",
    )
    max_span_length: Setting[Optional[int]] = Setting(
        64,
        count_or_none,
        "Longest span scored, in tokens. Memory and time grow with doc length x this; None scores every "
        "span of a doc (quadratic in its length). Gold spans longer than this cannot be learned and are "
        "reported with a warning when training. The weights do not depend on it.",
    )
    spans_per_token = Setting(
        1.0,
        positive_number,
        "At most ceil(len(doc) x this) spans are kept per doc, the best-scoring ones; bounds decoding "
        "while the model is untrained.",
    )
    overwrite_ents = Setting(
        False,
        flag,
        "false (as spaCy's ner): entities already in doc.ents (an entity_ruler before this component, "
        "say) are kept, and ours fill the tokens around them; true: ours replace the entities they "
        "overlap. doc.spans[spans_key] holds every predicted span either way.",
    )
    max_batch_items = Setting(
        4096,
        count,
        "Padded tokens (docs x longest doc) per model call at prediction; docs are grouped by length. "
        "A doc longer than this goes alone (and a long doc is scored in chunks, see the model).",
    )
    length_weight = Setting(
        0.0,
        non_negative_number,
        "In training, each gold span of n tokens weighs n**length_weight among its row's positives in "
        "the loss; above 0 (0.5, say) a missed long span costs more than a missed short one. 0: every "
        "span alike.",
    )

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], SpanScores],
        name: str = "globalpointer_ner",
        *,
        spans_key: str,
        threshold: float,
        label_thresholds: Mapping[str, float],
        max_span_length: Optional[int],
        spans_per_token: float,
        overwrite_ents: bool,
        max_batch_items: int,
        length_weight: float,
        scorer: Optional[Callable] = score_globalpointer,
    ) -> None:
        """Each setting is described once, in its declaration above."""
        too_long = OutOfReach(
            name,
            "gold span",
            why="are longer than max_span_length={limit} tokens",
            why_past="were longer than max_span_length={limit} tokens",
            setting="max_span_length",
            attribute="too_long_gold_spans",
        )
        super().__init__(vocab, model, name, scorer=scorer, out_of_reach=too_long)
        self.spans_key = spans_key
        self.threshold = threshold
        self.label_thresholds = label_thresholds
        self.max_span_length = max_span_length
        self.spans_per_token = spans_per_token
        self.overwrite_ents = overwrite_ents
        self.max_batch_items = max_batch_items
        self.length_weight = length_weight
        self._settings_configured()

    def _setting_changed(self, name: str, value: Any) -> None:
        if name == "max_span_length" and "max_span_length" in self.model.attrs:
            self.model.attrs["max_span_length"] = value

    @property
    def too_long_gold_spans(self) -> int:
        """Gold spans seen in training that were longer than max_span_length."""
        return self._out_of_reach.count

    def _gold_labels(self, reference: Doc) -> Iterable[str]:
        return (span.label_ for span in gold_spans(reference, self.spans_key, self.name))

    def _no_labels(self) -> str:
        return (
            f"no labels: none were given and the examples hold no spans in doc.spans['{self.spans_key}'] "
            f"or doc.ents. Check the spans key, or pass labels via "
            f"[initialize.components.{self.name}.labels]."
        )

    def predict(self, docs: Iterable[Doc]) -> List[SpanCandidates]:
        """Spans above the threshold per doc, best first. Docs go to the model
        sorted by length, in groups of at most max_batch_items padded tokens."""
        docs = list(docs)
        out = [SpanCandidates.empty() for _ in docs]  # empty docs stay so
        lengths = [len(doc) for doc in docs]
        order = sorted((i for i in range(len(docs)) if lengths[i]), key=lengths.__getitem__)
        # One number for every label where there are no label thresholds: the comparison is cheaper.
        thresholds = self.thresholds() if self.label_thresholds else self.threshold
        with one_torch_thread_if_forked(self._pid):
            for idx in length_groups(order, lengths, self.max_batch_items):
                scores = self.model.predict([docs[i] for i in idx])
                found = decode_spans(
                    scores, [lengths[i] for i in idx], thresholds, self.spans_per_token, self.max_span_length
                )
                for i, cand in zip(idx, found):
                    out[i] = cand
        return out

    def set_annotations(self, docs: Iterable[Doc], candidates: List[SpanCandidates]) -> None:
        """Write doc.spans[spans_key] (all spans, sorted, attrs["scores"]) and
        doc.ents: a greedy non-overlapping selection by score, around the
        entities already set unless overwrite_ents."""
        label_ids = [self.vocab.strings.add(label) for label in self.labels]
        for doc, cand in zip(docs, candidates):
            write_predictions(doc, cand, label_ids, self.spans_key, self.overwrite_ents)

    def get_loss(self, examples: Iterable[Example], scores: Floats4d) -> Tuple[float, Floats4d]:
        """Multilabel categorical cross-entropy of the band scores against the
        gold spans, aligned to the predicted tokens."""
        examples = list(examples)
        B, C, L, W = scores.shape
        cells, too_long = gold_cells(examples, self.labels, self.spans_key, W, self.name)
        self._out_of_reach_gold(too_long, self.max_span_length)
        lengths = [len(eg.predicted) for eg in examples]
        loss, grad = band_loss(xp2torch(scores), cells, lengths, self.length_weight)
        return loss, cast(Floats4d, torch2xp(grad))


@Language.factory(
    "globalpointer_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        **defaults_of(GlobalPointerNER),
        "scorer": {"@scorers": "spacy_globalpointer.scorer.v2"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_globalpointer_ner(
    nlp: Language,
    name: str,
    model: Model[List[Doc], SpanScores],
    spans_key: str,
    threshold: float,
    label_thresholds: Dict[str, float],
    max_span_length: Optional[int],
    spans_per_token: float,
    overwrite_ents: bool,
    max_batch_items: int,
    length_weight: float,
    scorer: Optional[Callable],
) -> GlobalPointerNER:
    """Nested named entities with a GlobalPointer head.

    model (Model[List[Doc], SpanScores]): spacy_globalpointer.GlobalPointer.v3
        over any token-vector layer, or any model that scores the spans of a
        batch in band layout (docs/design.md).
    scorer (Optional[Callable]): spacy_globalpointer.scorer.v2 gives ents_*
        and spans_{spans_key}_* scores, also by span length (v1: without them).
    The settings (each a property of GlobalPointerNER, where they are
    described once):
    """
    return GlobalPointerNER(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        threshold=threshold,
        label_thresholds=label_thresholds,
        max_span_length=max_span_length,
        spans_per_token=spans_per_token,
        overwrite_ents=overwrite_ents,
        max_batch_items=max_batch_items,
        length_weight=length_weight,
        scorer=scorer,
    )


make_globalpointer_ner.__doc__ = f"{make_globalpointer_ner.__doc__}\n{settings_doc(GlobalPointerNER)}\n"
