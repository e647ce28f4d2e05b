"""The ``globalpointer_ner`` pipeline component."""
import warnings
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, NumpyOps, Optimizer, set_dropout_rate, torch2xp, xp2torch
from thinc.types import Floats4d

from .decode import SpanCandidates, decode_spans, select_flat, valid_cells
from .loss import loss_and_gradient
from .scorer import score_globalpointer
from .util import resolve_msgpack_entry_points

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_globalpointer.GlobalPointer.v1"
head = "GlobalPointer"
rope = true
head_size = 64

[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 128
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [5000, 1000, 2500, 2500]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 128
depth = 4
window_size = 1
maxout_pieces = 3
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
# Padded tokens (docs x longest doc) per call at prediction. The encoder's
# CPU activations for a few thousand tokens stay in cache, a whole 256-doc
# batch's do not (on GPU it takes the whole batch). The head pads its call
# to the longest doc, so it gets docs of similar length together.
CPU_ENCODER_TOKENS = 4096
HEAD_TOKENS = 4096


@Language.factory(
    "globalpointer_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "spans_key": "sc",
        "threshold": 0.0,
        "max_span_length": 64,
        "spans_per_token": 1.0,
        "scorer": {"@scorers": "spacy_globalpointer.scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_globalpointer_ner(
    nlp: Language,
    name: str,
    model: Model[List[Doc], Floats4d],
    spans_key: str,
    threshold: float,
    max_span_length: Optional[int],
    spans_per_token: float,
    scorer: Optional[Callable],
) -> "GlobalPointerNER":
    """Nested named entities with a GlobalPointer head.

    model (Model[List[Doc], Floats4d]): spacy_globalpointer.GlobalPointer.v1
        over any token-vector layer.
    spans_key (str): doc.spans key for every predicted span (nested and
        overlapping allowed); also where gold spans are read from when training
        (falling back to doc.ents when the reference has no such group).
    threshold (float): a span is predicted when its score (a logit) is above this.
    max_span_length (Optional[int]): longest span scored, in tokens. Memory and
        time grow with doc length x this; null scores every span of a doc
        (quadratic in its length). Gold spans longer than this cannot be
        learned and are reported with a warning when training.
    spans_per_token (float): at most ceil(len(doc) x this) spans are kept per
        doc, the best-scoring ones; bounds decoding while the model is untrained.
    scorer (Optional[Callable]): spacy_globalpointer.scorer.v1 gives ents_*
        and spans_{spans_key}_* scores.
    """
    return GlobalPointerNER(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        threshold=threshold,
        max_span_length=max_span_length,
        spans_per_token=spans_per_token,
        scorer=scorer,
    )


class GlobalPointerNER(TrainablePipe):
    """Span-scoring NER: every (start, end, label) is scored; spans above the
    threshold go to doc.spans[spans_key], a non-overlapping selection to doc.ents."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], Floats4d],
        name: str = "globalpointer_ner",
        *,
        spans_key: str = "sc",
        threshold: float = 0.0,
        max_span_length: Optional[int] = 64,
        spans_per_token: float = 1.0,
        scorer: Optional[Callable] = score_globalpointer,
    ) -> None:
        if spans_per_token <= 0:
            raise ValueError(f"spans_per_token must be positive, got {spans_per_token}.")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "labels": [],
            "spans_key": spans_key,
            "threshold": threshold,
            "max_span_length": None,
            "spans_per_token": spans_per_token,
        }
        self.max_span_length = max_span_length
        # Our docs carry span groups, each (de)serialized through msgpack:
        # nlp.pipe(n_process=N) ships every doc back that way, and without
        # this spends most of its time re-scanning entry points.
        resolve_msgpack_entry_points()

    def _set_model_span_length(self) -> None:
        self.model.get_ref("scorer").attrs["max_span_length"] = self.cfg["max_span_length"] or 0

    @property
    def max_span_length(self) -> Optional[int]:
        """Longest span scored, in tokens (None: every span). Can be changed
        on a trained pipeline: the weights do not depend on it."""
        return self.cfg["max_span_length"]

    @max_span_length.setter
    def max_span_length(self, value: Optional[int]) -> None:
        if value is not None and value < 1:
            raise ValueError(f"max_span_length must be a positive number of tokens or None, got {value}.")
        self.cfg["max_span_length"] = value
        self._set_model_span_length()

    @property
    def key(self) -> str:
        """The doc.spans key predictions are written to and gold read from."""
        return str(self.cfg["spans_key"])

    @property
    def labels(self) -> Tuple[str, ...]:
        """The labels currently added to the component."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """The labels, as `spacy init labels` writes them."""
        return list(self.labels)

    def add_label(self, label: str) -> int:
        """Add a label; 0 if it was there already, else 1. Labels cannot be
        added once the head is built (its size is the label count)."""
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        scorer = self.model.get_ref("scorer")
        if scorer.has_dim("nO") and scorer.get_dim("nO") == len(self.labels):
            raise ValueError(Errors.E922.format(name=self.name, nO=scorer.get_dim("nO")))
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def _gold_spans(self, doc: Doc) -> Iterable[Span]:
        """Gold: doc.spans[spans_key], else doc.ents; never a silent guess."""
        if self.key in doc.spans:
            return doc.spans[self.key]
        if doc.spans:
            raise ValueError(
                f"[{self.name}] A gold doc has span groups {sorted(doc.spans)} but none "
                f"under spans_key '{self.key}'. Set [components.{self.name}] spans_key to "
                f"the key your data uses, or convert the data with --spans-key {self.key}."
            )
        return doc.ents

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Add labels (given, e.g. from `spacy init labels`, or read from the
        examples' gold spans) and build the model on a sample of the examples.
        With labels given, only the first 10 examples are read."""
        if get_examples is None or not callable(get_examples):
            raise TypeError(Errors.E930.format(method="GlobalPointerNER.initialize", obj=type(get_examples)))
        if labels is not None:
            for label in labels:
                self.add_label(label)
            sample = list(islice(get_examples(), 10))
        else:
            sample = []
            for eg in get_examples():
                for span in self._gold_spans(eg.reference):
                    self.add_label(span.label_)
                if len(sample) < 10:
                    sample.append(eg)
        # spaCy's validate_get_examples would read the whole corpus once more.
        validate_examples(sample, "GlobalPointerNER.initialize")
        if not self.labels:
            raise ValueError(
                f"The '{self.name}' component has no labels: none were given and "
                f"the examples hold no spans in doc.spans['{self.key}'] or doc.ents. "
                f"Check the spans key, or pass labels via [initialize.components.{self.name}.labels]."
            )
        self.model.get_ref("scorer").set_dim("nO", len(self.labels))
        self.model.initialize(X=[eg.predicted for eg in sample] or None)

    def predict(self, docs: Iterable[Doc]) -> List[SpanCandidates]:
        """Spans above the threshold per doc, best first."""
        docs = list(docs)
        out: List[SpanCandidates] = [None] * len(docs)  # type: ignore[list-item]
        lengths = [len(doc) for doc in docs]
        if not any(lengths):
            # Nothing to score; spacy-transformers' pooling also fails on a batch of only empty docs.
            return decode_spans(self.model.ops.alloc4f(len(docs), len(self.labels), 0, 0), [0] * len(docs), 0.0, 1.0)
        # The encoder's cost is per token: on the CPU it takes groups of docs
        # in order (see CPU_ENCODER_TOKENS), on a GPU the whole batch. The head
        # pads to the longest doc of its call, so it scores docs sorted by length.
        tok2vec = self.model.get_ref("tok2vec")
        if isinstance(self.model.ops, NumpyOps):
            tokvecs = [v for idx in _padded_groups(range(len(docs)), lengths, CPU_ENCODER_TOKENS) for v in tok2vec.predict([docs[i] for i in idx])]
        else:
            tokvecs = tok2vec.predict(docs)
        scorer = self.model.get_ref("scorer")
        order = sorted(range(len(docs)), key=lengths.__getitem__)
        for idx in _padded_groups(order, lengths, HEAD_TOKENS):
            scores = scorer.predict([tokvecs[i] for i in idx])
            for i, cand in zip(idx, decode_spans(scores, [lengths[i] for i in idx], self.cfg["threshold"], self.cfg["spans_per_token"])):
                out[i] = cand
        return out

    def set_annotations(self, docs: Iterable[Doc], candidates: List[SpanCandidates]) -> None:
        """Write doc.spans[spans_key] (all spans, sorted, attrs["scores"]) and
        doc.ents (a greedy non-overlapping selection by score)."""
        strings = self.vocab.strings
        label_ids = [strings.add(label) for label in self.labels]
        for doc, cand in zip(docs, candidates):
            spans = [Span(doc, s, e, label_ids[c]) for s, e, c in zip(cand.starts.tolist(), cand.ends.tolist(), cand.labels.tolist())]
            order = numpy.lexsort((cand.labels, cand.ends, cand.starts))
            group = SpanGroup(doc, name=self.key, spans=[spans[k] for k in order.tolist()])
            group.attrs["scores"] = cand.scores[order]
            doc.spans[self.key] = group
            flat = sorted(select_flat(cand.starts, cand.ends, cand.scores).tolist(), key=lambda k: cand.starts[k])
            doc.set_ents([spans[k] for k in flat], default="outside")

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "GlobalPointerNER.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Floats4d) -> Tuple[float, Floats4d]:
        """Multilabel categorical cross-entropy of the band scores against the
        gold spans, aligned to the predicted tokens."""
        examples = list(examples)
        ops = self.model.ops
        B, C, L, W = scores.shape
        label_map = {label: i for i, label in enumerate(self.labels)}
        cells: List[Tuple[int, int, int, int]] = []
        too_long = 0
        for b, eg in enumerate(examples):
            ref = eg.reference
            if len(ref) and self.key not in ref.spans and not ref.has_annotation("ENT_IOB"):
                # Unannotated is not "no entities": training on it would teach misses.
                raise ValueError(
                    f"[{self.name}] A gold doc has neither doc.spans['{self.key}'] nor "
                    f"doc.ents annotation: {ref.text[:50]!r}. Annotate entities in one of them."
                )
            for span in eg.get_aligned_spans_y2x(self._gold_spans(ref), allow_overlap=True):
                w = span.end - span.start - 1
                if w >= W:
                    too_long += 1
                elif span.label_ in label_map:
                    cells.append((b, label_map[span.label_], span.start, w))
        if too_long:
            warnings.warn(
                f"[{self.name}] {too_long} gold span(s) in this batch are longer than "
                f"max_span_length={self.cfg['max_span_length']} tokens and cannot be "
                f"learned; raise max_span_length to include them."
            )
        gold = ops.xp.zeros(scores.shape, dtype=bool)
        if cells:
            idx = ops.xp.asarray(cells, dtype="int64")
            gold[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]] = True
        valid = valid_cells(ops.xp, [len(eg.predicted) for eg in examples], L, W)[:, None]
        loss, grad = loss_and_gradient(*(xp2torch(a) for a in (scores, gold, valid)))
        return loss, torch2xp(grad)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()):
        given = self.key
        super().from_bytes(bytes_data, exclude=exclude)
        self._after_load(given)
        return self

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()):
        given = self.key
        super().from_disk(path, exclude=exclude)
        self._after_load(given)
        return self

    def _after_load(self, given_key: str) -> None:
        # The saved cfg replaces the constructor's: a spans_key override
        # given at load time would otherwise be dropped without a word.
        if self.key != given_key:
            raise ValueError(
                f"[{self.name}] This pipeline was saved with spans_key '{self.key}' but is "
                f"loaded with spans_key '{given_key}'. Load it without overriding spans_key, "
                f"or set it after loading: nlp.get_pipe('{self.name}').cfg['spans_key'] = '{given_key}'."
            )
        self._set_model_span_length()


def _padded_groups(order: Iterable[int], lengths: List[int], max_tokens: int) -> Iterable[List[int]]:
    """Consecutive indices of ``order`` in groups of at most max_tokens padded
    tokens (group size x longest doc); a longer doc goes alone."""
    group: List[int] = []
    longest = 0
    for i in order:
        if group and (len(group) + 1) * max(longest, lengths[i]) > max_tokens:
            yield group
            group, longest = [], 0
        group.append(i)
        longest = max(longest, lengths[i])
    if group:
        yield group
