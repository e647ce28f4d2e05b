"""The ``globalpointer_ner`` pipeline component."""

import os
import sys
import warnings
import weakref
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
import torch
from spacy.attrs import IDX
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate, torch2xp, xp2torch
from thinc.types import Floats4d
from wasabi import msg

from .decode import SpanCandidates, decode_spans, select_flat
from .heads import valid_cells
from .loss import loss_and_gradient
from .scorer import score_globalpointer

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_globalpointer.GlobalPointer.v2"
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
# Settings a user may change after creation; see GlobalPointerNER._after_load.
SETTINGS = (
    "spans_key",
    "threshold",
    "max_span_length",
    "spans_per_token",
    "overwrite_ents",
    "max_batch_items",
)


@Language.factory(
    "globalpointer_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "spans_key": "sc",
        "threshold": 0.0,
        "label_thresholds": {},
        "max_span_length": 64,
        "spans_per_token": 1.0,
        "overwrite_ents": False,
        "max_batch_items": 4096,
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
    label_thresholds: Dict[str, float],
    max_span_length: Optional[int],
    spans_per_token: float,
    overwrite_ents: bool,
    max_batch_items: int,
    scorer: Optional[Callable],
) -> "GlobalPointerNER":
    """Nested named entities with a GlobalPointer head.

    model (Model[List[Doc], Floats4d]): spacy_globalpointer.GlobalPointer.v2
        over any token-vector layer, or any model that scores the spans of a
        batch in band layout (see README).
    spans_key (str): doc.spans key for every predicted span (nested and
        overlapping allowed); also where gold spans are read from when training
        (falling back to doc.ents when the reference has no such group).
    threshold (float): a span is predicted when its score (a logit) is above this.
    label_thresholds (Dict[str, float]): thresholds for some labels, in place
        of ``threshold`` (`spacy globalpointer calibrate` chooses them on dev).
    max_span_length (Optional[int]): longest span scored, in tokens. Memory and
        time grow with doc length x this; null scores every span of a doc
        (quadratic in its length). Gold spans longer than this cannot be
        learned and are reported with a warning when training.
    spans_per_token (float): at most ceil(len(doc) x this) spans are kept per
        doc, the best-scoring ones; bounds decoding while the model is untrained.
    overwrite_ents (bool): false (as spaCy's ner): entities already in
        doc.ents (an entity_ruler before this component, say) are kept, and
        ours fill the tokens around them; true (as entity_ruler's setting):
        ours replace the entities they overlap, the others stay.
        doc.spans[spans_key] holds every predicted span either way.
    max_batch_items (int): padded tokens (docs x longest doc) per model call
        at prediction; docs are grouped by length. A doc longer than this
        goes alone (and a long doc is scored in chunks, see the model).
    scorer (Optional[Callable]): spacy_globalpointer.scorer.v1 gives ents_*
        and spans_{spans_key}_* scores.
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
        label_thresholds: Optional[Dict[str, float]] = None,
        max_span_length: Optional[int] = 64,
        spans_per_token: float = 1.0,
        overwrite_ents: bool = False,
        max_batch_items: int = 4096,
        scorer: Optional[Callable] = score_globalpointer,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": []}
        self.spans_key = spans_key
        self.threshold = threshold
        self.label_thresholds = label_thresholds or {}
        self.max_span_length = max_span_length
        self.spans_per_token = spans_per_token
        self.overwrite_ents = overwrite_ents
        self.max_batch_items = max_batch_items
        # What the config said: on loading, a setting that differs from the
        # saved one was given at load time and wins (see _after_load).
        self.cfg["config_settings"] = {key: self.cfg[key] for key in SETTINGS}
        self._too_long = _TooLongCounter(name)
        self._pid = os.getpid()

    # --- settings -------------------------------------------------------------------

    @property
    def spans_key(self) -> str:
        """The doc.spans key predictions are written to and gold read from."""
        return str(self.cfg["spans_key"])

    @spans_key.setter
    def spans_key(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError(f"[{self.name}] spans_key must be a non-empty string, got {value!r}.")
        self.cfg["spans_key"] = value

    key = spans_key

    @property
    def threshold(self) -> float:
        """A span is predicted when its score (a logit) is above this."""
        return float(self.cfg["threshold"])

    @threshold.setter
    def threshold(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"[{self.name}] threshold must be a number, got {value!r}.")
        self.cfg["threshold"] = float(value)

    @property
    def label_thresholds(self) -> Dict[str, float]:
        """Thresholds for some labels, in place of ``threshold``."""
        return dict(self.cfg["label_thresholds"])

    @label_thresholds.setter
    def label_thresholds(self, value: Dict[str, float]) -> None:
        bad = {k: v for k, v in dict(value).items() if isinstance(v, bool) or not isinstance(v, (int, float))}
        if bad or not all(isinstance(k, str) for k in value):
            raise ValueError(f"[{self.name}] label_thresholds must map labels to numbers, got {value!r}.")
        self.cfg["label_thresholds"] = {k: float(v) for k, v in value.items()}

    def _thresholds(self):
        """One threshold, or one per label (in label order)."""
        per_label = self.cfg["label_thresholds"]
        if not per_label:
            return self.threshold
        unknown = sorted(set(per_label) - set(self.labels))
        if unknown:
            raise ValueError(f"[{self.name}] label_thresholds names labels the component lacks: {unknown}.")
        return [per_label.get(label, self.threshold) for label in self.labels]

    @property
    def max_span_length(self) -> Optional[int]:
        """Longest span scored, in tokens (None: every span). Can be changed
        on a trained pipeline: the weights do not depend on it."""
        return self.cfg["max_span_length"]

    @max_span_length.setter
    def max_span_length(self, value: Optional[int]) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(
                f"[{self.name}] max_span_length must be a positive number of tokens or None, got {value!r}."
            )
        self.cfg["max_span_length"] = value
        if "max_span_length" in self.model.attrs:
            self.model.attrs["max_span_length"] = value or 0

    @property
    def spans_per_token(self) -> float:
        """At most ceil(len(doc) x this) spans are kept per doc."""
        return float(self.cfg["spans_per_token"])

    @spans_per_token.setter
    def spans_per_token(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"[{self.name}] spans_per_token must be positive, got {value!r}.")
        self.cfg["spans_per_token"] = float(value)

    @property
    def overwrite_ents(self) -> bool:
        """Replace doc.ents (True) or keep the entities already there and fill around them (False)."""
        return bool(self.cfg["overwrite_ents"])

    @overwrite_ents.setter
    def overwrite_ents(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"[{self.name}] overwrite_ents must be true or false, got {value!r}.")
        self.cfg["overwrite_ents"] = value

    @property
    def max_batch_items(self) -> int:
        """Padded tokens per model call at prediction."""
        return int(self.cfg["max_batch_items"])

    @max_batch_items.setter
    def max_batch_items(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"[{self.name}] max_batch_items must be a positive integer, got {value!r}.")
        self.cfg["max_batch_items"] = value

    @property
    def labels(self) -> Tuple[str, ...]:
        """The labels currently added to the component."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """The labels, as `spacy init labels` writes them."""
        return list(self.labels)

    @property
    def too_long_gold_spans(self) -> int:
        """Gold spans seen in training that were longer than max_span_length."""
        return self._too_long.count

    def add_label(self, label: str) -> int:
        """Add a label; 0 if it was there already, else 1. Labels cannot be
        added once the head is built (its size is the label count)."""
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        self._allow_extra_label()
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
        if self.model.has_dim("nO") is not False:  # declared (set or not) by the model
            self.model.set_dim("nO", len(self.labels))
        self.model.initialize(X=[eg.predicted for eg in sample] or None)

    def predict(self, docs: Iterable[Doc]) -> List[SpanCandidates]:
        """Spans above the threshold per doc, best first. Docs go to the model
        sorted by length, in groups of at most max_batch_items padded tokens."""
        if os.getpid() != self._pid:
            _one_torch_thread_in_forked_worker()
            self._pid = os.getpid()
        docs = list(docs)
        out = [SpanCandidates.empty() for _ in docs]  # empty docs stay so
        lengths = [len(doc) for doc in docs]
        order = sorted((i for i in range(len(docs)) if lengths[i]), key=lengths.__getitem__)
        thresholds = self._thresholds()
        for idx in length_groups(order, lengths, self.max_batch_items):
            scores = self.model.predict([docs[i] for i in idx])
            if hasattr(scores, "shape") and self.max_span_length:
                # A model that scores every span: the longer ones are not predicted.
                scores = scores[..., : self.max_span_length]
            found = decode_spans(scores, [lengths[i] for i in idx], thresholds, self.spans_per_token)
            for i, cand in zip(idx, found):
                out[i] = cand
        return out

    def set_annotations(self, docs: Iterable[Doc], candidates: List[SpanCandidates]) -> None:
        """Write doc.spans[spans_key] (all spans, sorted, attrs["scores"]) and
        doc.ents: a greedy non-overlapping selection by score, around the
        entities already set unless overwrite_ents."""
        strings = self.vocab.strings
        label_ids = [strings.add(label) for label in self.labels]
        for doc, cand in zip(docs, candidates):
            starts, ends = cand.starts.tolist(), cand.ends.tolist()
            spans = [Span(doc, s, e, label_ids[c]) for s, e, c in zip(starts, ends, cand.labels.tolist())]
            order = numpy.lexsort((cand.labels, cand.ends, cand.starts))
            group = SpanGroup(doc, name=self.spans_key, spans=[spans[k] for k in order.tolist()])
            group.attrs["scores"] = cand.scores[order]
            doc.spans[self.spans_key] = group
            preset = list(doc.ents)
            taken = bytearray(len(doc))
            for ent in [] if self.overwrite_ents else preset:
                taken[ent.start : ent.end] = b"\x01" * len(ent)
            ours = [spans[k] for k in select_flat(cand.starts, cand.ends, cand.scores, taken).tolist()]
            if self.overwrite_ents:
                # As entity_ruler overwrites: ours win where they overlap, the rest stay.
                for ent in ours:
                    taken[ent.start : ent.end] = b"\x01" * len(ent)
                preset = [ent for ent in preset if taken.find(1, ent.start, ent.end) == -1]
            doc.set_ents(sorted(preset + ours, key=lambda span: span.start), default="outside")

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
            for span in self._aligned_gold(eg):
                w = span.end - span.start - 1
                if w >= W:
                    too_long += 1
                elif span.label_ in label_map:
                    cells.append((b, label_map[span.label_], span.start, w))
        if too_long:
            self._too_long.add(too_long, self.max_span_length, self)
        scores_t = xp2torch(scores)
        gold = torch.zeros(scores.shape, dtype=torch.bool, device=scores_t.device)
        if cells:
            gold[tuple(torch.tensor(cells, device=scores_t.device).T)] = True
        lengths = torch.tensor([len(eg.predicted) for eg in examples], device=scores_t.device)
        loss, grad = loss_and_gradient(scores_t, gold, valid_cells(lengths, L, W)[:, None])
        return loss, torch2xp(grad)

    def _aligned_gold(self, eg: Example) -> Iterable[Span]:
        """Gold spans on the predicted doc's tokens. Where both docs have the
        same tokens (a char tokenizer, always), the spans are taken as they
        are: spaCy's alignment would cost more than the rest of the loss."""
        pred, ref = eg.predicted, eg.reference
        if len(pred) == len(ref) and pred.text == ref.text:
            if numpy.array_equal(pred.to_array([IDX]), ref.to_array([IDX])):
                return self._gold_spans(ref)
        return eg.get_aligned_spans_y2x(self._gold_spans(ref), allow_overlap=True)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()):
        given = dict(self.cfg)
        super().from_bytes(bytes_data, exclude=exclude)
        self._after_load(given)
        return self

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()):
        given = dict(self.cfg)
        super().from_disk(path, exclude=exclude)
        self._after_load(given)
        return self

    def _after_load(self, given: Dict[str, Any]) -> None:
        """The saved cfg replaces the constructor's. A setting the config gave
        differently from the one it gave when the pipeline was saved was set at
        load time (spacy.load(..., config=...)) and wins; any other takes the
        saved value, which may have been changed on the component before saving."""
        saved, saved_config = dict(self.cfg), self.cfg.get("config_settings", {})
        for key in SETTINGS:
            value = (
                given[key]
                if key not in saved or given[key] != saved_config.get(key, given[key])
                else saved[key]
            )
            setattr(self, key, value)
        self.cfg["config_settings"] = given["config_settings"]


def length_groups(order: Iterable[int], lengths: List[int], max_items: int) -> Iterable[List[int]]:
    """Consecutive indices of ``order`` in groups of at most max_items padded
    tokens (group size x longest doc); a longer doc goes alone."""
    group: List[int] = []
    longest = 0
    for i in order:
        if group and (len(group) + 1) * max(longest, lengths[i]) > max_items:
            yield group
            group, longest = [], 0
        group.append(i)
        longest = max(longest, lengths[i])
    if group:
        yield group


def _one_torch_thread_in_forked_worker() -> None:
    # nlp.pipe(n_process=N) forks workers: torch's OpenMP pool, already used
    # by the parent, hangs in a forked child, and N x the parent's threads
    # would oversubscribe the cores. Only this component's own process, once
    # it finds itself in a fork of where it was made, is changed.
    torch.set_num_threads(1)


class _TooLongCounter:
    """Gold spans longer than max_span_length: one warning when the first are
    met, the total when the component goes away (the end of `spacy train`)."""

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.limit: Optional[int] = None
        self._finalizer: Optional[weakref.finalize] = None

    def add(self, n: int, limit: Optional[int], owner: object) -> None:
        if not self.count:
            warnings.warn(
                f"[{self.name}] Some gold spans are longer than max_span_length={limit} tokens "
                f"and cannot be learned; raise max_span_length to include them. The total is "
                f"reported at the end of training (and in the component's too_long_gold_spans).",
                stacklevel=3,
            )
            self._finalizer = weakref.finalize(owner, _report_too_long, self.name, self)
        self.count += n
        self.limit = limit


def _report_too_long(name: str, counter: "_TooLongCounter") -> None:
    msg.warn(
        f"[{name}] {counter.count} gold span(s) in training were longer than "
        f"max_span_length={counter.limit} tokens and could not be learned."
    )
    sys.stderr.flush()
