"""The pairwise relation baseline of benchmarks/conll04.py, in the shape of
spaCy's ``rel_component`` tutorial: every ordered pair of candidate entities
within the distance bound is one instance, its features are the two
entities' mean-pooled token vectors concatenated, and a linear layer with a
logistic output scores each relation label (the tutorial's loss: the squared
difference to the truth; its cut: 0.5).

Unlike the tutorial it reads its candidates from ``doc.spans[spans_key]``
(what globalpointer_ner wrote, as globalpointer_rel does), trains on the gold
entities' pairs, and stores relations where globalpointer_rel stores them, so
one scorer (``spacy_globalpointer.relation_scorer.v1``) scores both. Loaded
with ``spacy train --code benchmarks/pairwise_rel.py``.
"""

from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import registry
from thinc.api import Logistic, Model, Optimizer, chain, set_dropout_rate
from thinc.types import Floats2d

from spacy_globalpointer.pipeline.relations import Relation, relations, set_relations
from spacy_globalpointer.pipeline.scorer import score_relations

# Per doc: (P, 4) token offsets of the pair's head start, head end, tail start, tail end.
Pairs = List[numpy.ndarray]


@registry.architectures("benchmarks.PairwiseRel.v1")
def build_pairwise_rel(tok2vec: Model, width: int, nO: Optional[int] = None) -> Model:
    """tok2vec: the token vectors (a listener); width: their size."""
    from thinc.api import Linear

    pool = Model("mean_pool_pairs", _pool_forward, layers=[tok2vec], dims={"nO": 2 * width})
    output = Linear(nO=nO, nI=2 * width)
    model = chain(pool, output, Logistic())
    model.set_ref("output_layer", output)
    return model


def _pool_forward(model: Model, inputs: Tuple[List[Doc], Pairs], is_train: bool):
    docs, pairs = inputs
    vectors, backprop_tok2vec = model.layers[0](docs, is_train)
    xp = model.ops.xp
    width = model.get_dim("nO") // 2
    averages, rows = [], []
    for vecs, doc_pairs in zip(vectors, pairs):
        # One row per entity: 1/length over its tokens, so average @ vecs is the mean.
        average = numpy.zeros((2 * len(doc_pairs), vecs.shape[0]), dtype="float32")
        for i, (hs, he, ts, te) in enumerate(doc_pairs):
            average[2 * i, hs:he] = 1.0 / (he - hs)
            average[2 * i + 1, ts:te] = 1.0 / (te - ts)
        average = xp.asarray(average)
        averages.append(average)
        rows.append((average @ vecs).reshape((len(doc_pairs), 2 * width)))
    out = xp.concatenate(rows) if rows else xp.zeros((0, 2 * width), dtype="float32")

    def backprop(d_out: Floats2d):
        d_vectors, k = [], 0
        for average in averages:
            n = average.shape[0] // 2
            d_vectors.append(average.T @ d_out[k : k + n].reshape((2 * n, width)))
            k += n
        backprop_tok2vec(d_vectors)
        return inputs

    return out, backprop


def candidate_pairs(spans: List[Tuple[int, int]], max_distance: int) -> numpy.ndarray:
    """Ordered pairs (head, tail) of distinct spans whose starts, and whose
    ends, are at most max_distance tokens apart (globalpointer_rel's bound)."""
    out = [
        (hs, he, ts, te)
        for i, (hs, he) in enumerate(spans)
        for j, (ts, te) in enumerate(spans)
        if i != j and abs(ts - hs) <= max_distance and abs(te - he) <= max_distance
    ]
    return numpy.asarray(out, dtype="int64").reshape((-1, 4))


class PairwiseRel(TrainablePipe):
    def __init__(self, vocab, model, name, *, spans_key, relations_key, threshold, max_distance):
        self.vocab, self.model, self.name = vocab, model, name
        self.cfg = {
            "labels": [],
            "spans_key": spans_key,
            "relations_key": relations_key,
            "threshold": threshold,
            "max_distance": max_distance,
        }
        self.scorer = lambda examples, **kw: score_relations(examples, relations_key=relations_key)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    def add_label(self, label: str) -> int:
        if label in self.labels:
            return 0
        self.cfg["labels"].append(label)
        return 1

    def _spans(self, doc: Doc) -> List[Span]:
        # Distinct (start, end) only: a span under two labels is one entity to pool.
        seen: Dict[Tuple[int, int], Span] = {}
        for span in doc.spans.get(self.cfg["spans_key"], []):
            seen.setdefault((span.start, span.end), span)
        return list(seen.values())

    def predict(self, docs: Iterable[Doc]):
        docs = list(docs)
        pairs = [
            candidate_pairs([(s.start, s.end) for s in self._spans(doc)], self.cfg["max_distance"])
            for doc in docs
        ]
        if not sum(len(p) for p in pairs):
            return pairs, numpy.zeros((0, len(self.labels)), dtype="float32")
        return pairs, self.model.ops.to_numpy(self.model.predict((docs, pairs)))

    def set_annotations(self, docs: Iterable[Doc], predictions) -> None:
        pairs, scores = predictions
        k = 0
        for doc, doc_pairs in zip(docs, pairs):
            by_offsets = {(s.start, s.end): s for s in self._spans(doc)}
            found = []
            for hs, he, ts, te in doc_pairs:
                for c in numpy.flatnonzero(scores[k] > self.cfg["threshold"]):
                    head, tail = by_offsets[(hs, he)], by_offsets[(ts, te)]
                    found.append(Relation(head, tail, self.labels[c], float(scores[k, c])))
                k += 1
            set_relations(doc, found, self.cfg["relations_key"])

    def _gold(self, examples: List[Example]) -> Tuple[Pairs, numpy.ndarray]:
        """Candidate pairs of the gold entities (in the predicted docs'
        tokens) and their truth per label."""
        label_ids = {label: i for i, label in enumerate(self.labels)}
        pairs, truths = [], []
        for eg in examples:
            aligned = {}
            for span in eg.reference.spans.get(self.cfg["spans_key"], []):
                found = eg.get_aligned_spans_y2x([span], allow_overlap=True)
                if len(found) == 1:
                    aligned[(span.start, span.end)] = (found[0].start, found[0].end)
            doc_pairs = candidate_pairs(sorted(set(aligned.values())), self.cfg["max_distance"])
            index = {tuple(p): i for i, p in enumerate(doc_pairs.tolist())}
            truth = numpy.zeros((len(doc_pairs), len(self.labels)), dtype="float32")
            for rel in relations(eg.reference, self.cfg["relations_key"]):
                head = aligned.get((rel.head.start, rel.head.end))
                tail = aligned.get((rel.tail.start, rel.tail.end))
                i = index.get((*head, *tail)) if head and tail else None
                if i is not None and rel.label in label_ids:
                    truth[i, label_ids[rel.label]] = 1.0
            pairs.append(doc_pairs)
            truths.append(truth)
        return pairs, numpy.concatenate(truths) if truths else numpy.zeros((0, len(self.labels)))

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        pairs, truth = self._gold(examples)
        if not len(truth):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update(([eg.predicted for eg in examples], pairs))
        d_scores = scores - self.model.ops.asarray2f(truth)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += float((d_scores**2).sum())
        return losses

    def initialize(self, get_examples: Callable, *, nlp=None, labels: Optional[List[str]] = None) -> None:
        for label in labels or []:
            self.add_label(label)
        if not labels:
            for eg in get_examples():
                for rel in relations(eg.reference, self.cfg["relations_key"]):
                    self.add_label(rel.label)
        self.model.get_ref("output_layer").set_dim("nO", len(self.labels))
        sample = list(islice(get_examples(), 10))
        pairs, _ = self._gold(sample)
        self.model.initialize(X=([eg.predicted for eg in sample], pairs))


@Language.factory(
    "pairwise_rel",
    assigns=["doc.user_data"],
    default_config={"spans_key": "sc", "relations_key": "rel", "threshold": 0.5, "max_distance": 64},
    default_score_weights={"rel_micro_f": 1.0, "rel_micro_p": 0.0, "rel_micro_r": 0.0, "rel_per_type": None},
)
def make_pairwise_rel(
    nlp: Language,
    name: str,
    model: Model,
    spans_key: str,
    relations_key: str,
    threshold: float,
    max_distance: int,
) -> PairwiseRel:
    return PairwiseRel(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        relations_key=relations_key,
        threshold=threshold,
        max_distance=max_distance,
    )
