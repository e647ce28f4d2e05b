"""The ``globalpointer_rel`` pipeline component: relations between entities,
GPLinker's way, over whatever entities ``doc.spans[spans_key]`` holds."""

import warnings
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, cast

import numpy
import torch
from spacy.errors import Errors
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, torch2xp, xp2torch
from thinc.types import Floats4d

from spacy_globalpointer.ml.models.relation_pointer import DEFAULT_REL_MODEL_CONFIG
from spacy_globalpointer.ml.pair_scores import DocPairScores
from spacy_globalpointer.ml.pytorch.loss import loss_and_gradient
from spacy_globalpointer.ml.pytorch.pairs import pair_band_valid
from spacy_globalpointer.pipeline.batching import one_torch_thread_if_forked
from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY, DEFAULT_SPANS_KEY
from spacy_globalpointer.pipeline.pointer_pipe import PointerPipe
from spacy_globalpointer.pipeline.relations import relations, store_relations
from spacy_globalpointer.pipeline.scorer import score_relations
from spacy_globalpointer.pipeline.settings import (
    Setting,
    count,
    defaults_of,
    non_empty_string,
    number,
    numbers_by_label,
    settings_doc,
)

DEFAULT_REL_MODEL = Config().from_str(DEFAULT_REL_MODEL_CONFIG)["model"]
# A gold cell of the pair band: doc, label, pointer (0: heads, 1: tails), token, offset + D.
Cell = Tuple[int, int, int, int, int]


class GlobalPointerRel(PointerPipe):
    """Relations between the entities of doc.spans[spans_key]: a relation is
    predicted when both its head-to-head and its tail-to-tail pointer score
    above the threshold; it is stored on the Doc (pipeline/relations.py)."""

    spans_key = Setting(
        DEFAULT_SPANS_KEY,
        non_empty_string,
        "doc.spans key of the candidate entities (what globalpointer_ner, a span_ruler or gold put "
        "there); they may nest, and a relation may join nested entities.",
    )
    relations_key = Setting(
        DEFAULT_RELATIONS_KEY,
        non_empty_string,
        "Where the relations are stored on a Doc (read them with spacy_globalpointer.relations(doc, "
        "key)); gold relations are read from there too.",
    )
    threshold = Setting(
        0.0, number, "A relation is predicted when its head and tail pointer scores are both above this."
    )
    label_thresholds: Setting[Mapping[str, float]] = Setting(
        {}, numbers_by_label, "Thresholds for some relation labels, in place of threshold."
    )
    max_distance = Setting(
        64,
        count,
        "The longest distance, in tokens, between the starts (and between the ends) of two related "
        "entities that is scored. Training cells and prediction pairs grow with doc length x this; "
        "gold relations farther apart cannot be learned and are reported.",
    )

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "globalpointer_rel",
        *,
        scorer: Optional[Callable] = score_relations,
        **settings: Any,
    ) -> None:
        self._too_far = 0
        super().__init__(vocab, model, name, scorer=scorer, **settings)

    def _setting_changed(self, name: str, value: Any) -> None:
        if name in ("max_distance", "spans_key") and name in self.model.attrs:
            self.model.attrs[name] = value

    @property
    def too_far_gold_relations(self) -> int:
        """Gold relations seen in training whose entities were farther apart than max_distance."""
        return self._too_far

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Add the relation labels (given, or read from the examples' gold
        relations) and build the model on a sample of the examples."""
        if get_examples is None or not callable(get_examples):
            raise TypeError(Errors.E930.format(method="GlobalPointerRel.initialize", obj=type(get_examples)))
        sample = list(islice(get_examples(), 10))
        for label in labels if labels is not None else []:
            self.add_label(label)
        if labels is None:
            for eg in get_examples():
                for rel in relations(eg.reference, self.relations_key):
                    self.add_label(rel.label)
        validate_examples(sample, "GlobalPointerRel.initialize")
        if not self.labels:
            raise ValueError(
                f"[{self.name}] no relation labels: none were given and the examples hold no relations "
                f"under the key '{self.relations_key}'. Pass labels via [initialize.components.{self.name}]."
            )
        self.model.set_dim("nO", len(self.labels))
        self.model.initialize(X=[eg.predicted for eg in sample] or None)

    def predict(self, docs: Iterable[Doc]) -> List[DocPairScores]:
        """Per doc, its candidate pairs and their head and tail scores."""
        with one_torch_thread_if_forked(self._pid):
            return self.model.predict(list(docs))

    def set_annotations(self, docs: Iterable[Doc], predictions: List[DocPairScores]) -> None:
        """Store on each doc the pairs whose two pointer scores are both above the label's threshold."""
        docs = list(docs)
        # Read once: each setting is a checked property, and this loop runs per relation.
        labels, spans_key, per_label = self.labels, self.spans_key, self.label_thresholds
        thresholds = numpy.asarray([per_label.get(label, self.threshold) for label in labels])
        found: List[list] = [[] for _ in docs]
        counts = [len(pairs) for pairs, _ in predictions]
        if sum(counts):
            # One comparison for the batch: a sentence has few pairs, and a call per doc costs more.
            lower = numpy.concatenate([scores for _, scores in predictions]).min(axis=2)
            ends = numpy.cumsum(counts)
            for row, c in zip(*numpy.nonzero(lower > thresholds[None, :])):
                k = int(numpy.searchsorted(ends, row, side="right"))
                a, b = predictions[k][0][row - (ends[k] - counts[k])]
                group = docs[k].spans[spans_key]
                found[k].append(
                    (*_bounds(group[int(a)]), *_bounds(group[int(b)]), labels[c], float(lower[row, c]))
                )
        for doc, rels in zip(docs, found):
            store_relations(doc, rels, self.relations_key)

    def get_loss(self, examples: Iterable[Example], scores: Any) -> Tuple[float, Any]:
        """Multilabel categorical cross-entropy of each pointer's pair band
        (one row per doc, label and pointer) against the gold relations."""
        examples = list(examples)
        B, C, _, L, W = scores.shape
        D = (W - 1) // 2
        cells = self._gold_cells(examples, D)
        scores_t = xp2torch(scores)
        gold = torch.zeros(scores_t.shape, dtype=torch.bool, device=scores_t.device)
        if cells:
            gold[tuple(torch.tensor(cells, device=scores_t.device).T)] = True
        lengths = torch.tensor([len(eg.predicted) for eg in examples], device=scores_t.device)
        valid = pair_band_valid(lengths, L, D)[:, None, None]
        loss, grad = loss_and_gradient(scores_t, gold, valid)
        return loss, cast(Floats4d, torch2xp(grad))

    def _gold_cells(self, examples: List[Example], D: int) -> List[Cell]:
        label_ids = {label: i for i, label in enumerate(self.labels)}
        cells: List[Cell] = []
        too_far = 0
        for b, eg in enumerate(examples):
            for rel in relations(eg.reference, self.relations_key):
                c = label_ids.get(rel.label)
                ends = _aligned(eg, rel.head), _aligned(eg, rel.tail)
                if c is None or ends[0] is None or ends[1] is None:
                    continue
                (hs, he), (ts, te) = ends  # type: ignore[misc]
                if abs(ts - hs) > D or abs(te - he) > D:
                    too_far += 1
                    continue
                cells += [(b, c, 0, hs, ts - hs + D), (b, c, 1, he - 1, te - he + D)]
        if too_far:
            if not self._too_far:
                warnings.warn(
                    f"[{self.name}] Some gold relations join entities farther apart than "
                    f"max_distance={D} tokens and cannot be learned; raise max_distance to include them "
                    f"(the count is the component's too_far_gold_relations).",
                    stacklevel=3,
                )
            self._too_far += too_far
        return cells


def _bounds(span: Span) -> Tuple[int, int, str]:
    return span.start, span.end, span.label_


def _aligned(eg: Example, span: Span) -> Optional[Tuple[int, int]]:
    """A reference span's (start, end) in the predicted doc's tokens, or None where it does not align."""
    if len(eg.predicted) == len(eg.reference) and eg.predicted.text == eg.reference.text:
        return span.start, span.end
    found = eg.get_aligned_spans_y2x([span], allow_overlap=True)
    return (found[0].start, found[0].end) if len(found) == 1 else None


@Language.factory(
    "globalpointer_rel",
    assigns=["doc.user_data"],
    default_config={
        "model": DEFAULT_REL_MODEL,
        **defaults_of(GlobalPointerRel),
        "scorer": {"@scorers": "spacy_globalpointer.relation_scorer.v1"},
    },
    default_score_weights={"rel_micro_f": 1.0, "rel_micro_p": 0.0, "rel_micro_r": 0.0, "rel_per_type": None},
)
def make_globalpointer_rel(
    nlp: Language,
    name: str,
    model: Model,
    spans_key: str,
    relations_key: str,
    threshold: float,
    label_thresholds: Dict[str, float],
    max_distance: int,
    scorer: Optional[Callable],
) -> GlobalPointerRel:
    """Relations between entities with GPLinker's pointers.

    model (Model): spacy_globalpointer.RelationPointer.v1 over any token-vector layer.
    scorer (Optional[Callable]): spacy_globalpointer.relation_scorer.v1: strict
        relation P/R/F (rel_micro_*), the same with entity labels ignored
        (rel_boundaries_*), and per relation label (rel_per_type).
    The settings (each a property of GlobalPointerRel, where they are
    described once):
    """
    settings = {key: value for key, value in locals().items() if key in defaults_of(GlobalPointerRel)}
    return GlobalPointerRel(nlp.vocab, model, name, scorer=scorer, **settings)


make_globalpointer_rel.__doc__ = f"{make_globalpointer_rel.__doc__}\n{settings_doc(GlobalPointerRel)}\n"
