"""The ``globalpointer_rel`` pipeline component: relations between entities,
GPLinker's way, over whatever entities ``doc.spans[spans_key]`` holds.

Two kinds of model: RelationPointer.v1 takes the docs and trains on every
token pair of a band (its input and loss: ``_band_*``); RelationPointer.v2
takes the candidate entities (Entities), and trains on the pairs of the gold
entities, the pairs it predicts over (``_entity_*``)."""

import warnings
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model

from spacy_globalpointer.ml.entity_pair_scores import EntityPairScores
from spacy_globalpointer.ml.models.relation_pointer import DEFAULT_REL_MODEL_CONFIG
from spacy_globalpointer.ml.pair_scores import DocPairScores
from spacy_globalpointer.pipeline.batching import one_torch_thread_if_forked
from spacy_globalpointer.pipeline.gold import OutOfReach
from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY, DEFAULT_SPANS_KEY
from spacy_globalpointer.pipeline.pointer_pipe import PointerPipe
from spacy_globalpointer.pipeline.relation_decode import decode_relations
from spacy_globalpointer.pipeline.relation_training import (
    band_loss,
    entities_of,
    entity_pair_loss,
    label_index,
    training_entities,
    training_facts,
)
from spacy_globalpointer.pipeline.relations import has_relations, relations, store_relations
from spacy_globalpointer.pipeline.scorer import score_relations
from spacy_globalpointer.pipeline.settings import (
    Setting,
    count,
    defaults_of,
    flag,
    non_empty_string,
    non_negative_number,
    number,
    numbers_by_label,
    settings_doc,
)

DEFAULT_REL_MODEL = Config().from_str(DEFAULT_REL_MODEL_CONFIG)["model"]


class GlobalPointerRel(PointerPipe):
    """Relations between the entities of doc.spans[spans_key]: a relation is
    predicted when its score is above the threshold (v1: both its
    head-to-head and its tail-to-tail pointer score); it is stored on the Doc
    (pipeline/relations.py)."""

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
        0.0,
        number,
        "A relation is predicted when its score is above this (RelationPointer.v1: its head and its tail "
        "pointer score, both).",
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
    schema_filter = Setting(
        False,
        flag,
        "Keep a predicted relation only when its (subject label, relation label, object label) occurs in "
        "the training data (read at initialize): the entities' labels must fit the relation. false: any.",
    )
    negative_spans = Setting(
        0.0,
        non_negative_number,
        "RelationPointer.v2: in training, this many random spans per token of a doc (1-4 tokens, random "
        "entity labels) join its candidate entities, as entities of no relation (SpERT's negative "
        "samples): the model learns to reject pairs of spans that are no entity. 0: none.",
    )

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "globalpointer_rel",
        *,
        spans_key: str,
        relations_key: str,
        threshold: float,
        label_thresholds: Mapping[str, float],
        max_distance: int,
        schema_filter: bool,
        negative_spans: float,
        scorer: Optional[Callable] = score_relations,
    ) -> None:
        """Each setting is described once, in its declaration above."""
        too_far = OutOfReach(
            name,
            "gold relation",
            why="join entities farther apart than max_distance={limit} tokens",
            why_past="joined entities farther apart than max_distance={limit} tokens",
            setting="max_distance",
            attribute="too_far_gold_relations",
        )
        super().__init__(vocab, model, name, scorer=scorer, out_of_reach=too_far)
        # RelationPointer.v2 and its like take the candidate entities, with their labels' indices.
        self._takes_entities = model.has_dim("nE") is not False
        self.cfg["entity_labels"] = []
        # (subject label, relation label, object label) of the training data's relations (schema_filter).
        self.cfg["schema"] = []
        self.spans_key = spans_key
        self.relations_key = relations_key
        self.threshold = threshold
        self.label_thresholds = label_thresholds
        self.max_distance = max_distance
        self.schema_filter = schema_filter
        self.negative_spans = negative_spans
        self._settings_configured()

    def _setting_changed(self, name: str, value: Any) -> None:
        if name in ("max_distance", "spans_key") and name in self.model.attrs:
            self.model.attrs[name] = value

    @property
    def too_far_gold_relations(self) -> int:
        """Gold relations seen in training whose entities were farther apart than max_distance."""
        return self._out_of_reach.count

    @property
    def entity_labels(self) -> Tuple[str, ...]:
        """The entity labels a model that embeds them (RelationPointer.v2) knows."""
        return tuple(self.cfg["entity_labels"])

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
        entity_labels: Optional[List[str]] = None,
    ) -> None:
        """PointerPipe.initialize; first, for a model that embeds entity labels,
        ``entity_labels``: given (as init-config writes them), or read from
        the examples' gold entities (doc.spans[spans_key], else doc.ents);
        and the schema schema_filter keeps to, from their gold relations."""
        if callable(get_examples) and (
            self.schema_filter or (self._takes_entities and entity_labels is None)
        ):
            read, schema = training_facts(get_examples(), self.spans_key, self.relations_key, self.name)
            entity_labels = read if entity_labels is None else entity_labels
            self.cfg["schema"] = [list(triple) for triple in schema]
        if self._takes_entities:
            self.cfg["entity_labels"] = list(entity_labels or [])
            self.model.set_dim("nE", len(self.entity_labels) + 1)
        super().initialize(get_examples, nlp=nlp, labels=labels)

    def _gold_labels(self, reference: Doc) -> Iterable[str]:
        return (rel.label for rel in relations(reference, self.relations_key))

    def _model_input(self, examples: List[Example], initializing: bool = False) -> Any:
        if not self._takes_entities:
            return [eg.predicted for eg in examples]
        negatives = 0.0 if initializing else self.negative_spans
        index = label_index(self.entity_labels)
        return training_entities(examples, self.spans_key, self.relations_key, index, self.name, negatives)

    def _no_labels(self) -> str:
        return (
            f"no relation labels: none were given and the examples hold no relations under the key "
            f"'{self.relations_key}'. Pass labels via [initialize.components.{self.name}]. (A DocBin "
            f"keeps relations only when written with DocBin(store_user_data=True).)"
        )

    def _check_sample(self, sample: List[Example]) -> None:
        """A warning when none of the examples read carries relation
        annotation (a DocBin written without store_user_data=True drops it):
        every doc would be skipped."""
        if sample and not any(has_relations(eg.reference, self.relations_key) for eg in sample):
            warnings.warn(
                f"[{self.name}] none of the first {len(sample)} training docs carries relation annotation "
                f"under the key '{self.relations_key}': the relation loss skips such docs. A DocBin keeps "
                f"relations only when written with DocBin(store_user_data=True) (as `spacy globalpointer "
                f"convert` writes it).",
                stacklevel=3,
            )

    def predict(self, docs: Iterable[Doc]) -> List[DocPairScores]:
        """Per doc, its candidate pairs (indices into doc.spans[spans_key]) and their scores."""
        docs = list(docs)
        with one_torch_thread_if_forked(self._pid):
            if self._takes_entities:
                return self.model.predict(entities_of(docs, self.spans_key, label_index(self.entity_labels)))
            return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], predictions: List[DocPairScores]) -> None:
        """Store on each doc the pairs whose scores are above the label's threshold (and, with
        schema_filter, whose entities' labels the training data's relations had)."""
        docs = list(docs)
        # An empty schema (a pipeline saved before it was read, or a filter that is off) keeps all.
        schema = {tuple(triple) for triple in self.cfg.get("schema", [])} if self.schema_filter else set()
        thresholds = numpy.asarray(self.thresholds())
        found = decode_relations(docs, predictions, self.labels, thresholds, self.spans_key, schema)
        for doc, rels in zip(docs, found):
            store_relations(doc, rels, self.relations_key)

    def get_loss(self, examples: Iterable[Example], scores: Any) -> Tuple[float, Any]:
        """Multilabel categorical cross-entropy against the gold relations,
        aligned to the predicted tokens: of each pointer's pair band (one row
        per doc, label and pointer; v1), or of the candidate pairs of the gold
        entities (one row per doc and label; v2). A doc without relation
        annotation takes no part."""
        if isinstance(scores, EntityPairScores):
            loss, grad, too_far = entity_pair_loss(scores, self.labels, label_index(self.entity_labels))
            self._out_of_reach_gold(too_far, self.max_distance)
        else:
            loss, grad, too_far = band_loss(list(examples), scores, self.labels, self.relations_key)
            self._out_of_reach_gold(too_far, (scores.shape[-1] - 1) // 2)
        return loss, grad


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
    schema_filter: bool,
    negative_spans: float,
    scorer: Optional[Callable],
) -> GlobalPointerRel:
    """Relations between entities with GPLinker's pointers.

    model (Model): spacy_globalpointer.RelationPointer.v2 (or .v1) over any
        token-vector layer.
    scorer (Optional[Callable]): spacy_globalpointer.relation_scorer.v1: strict
        relation P/R/F (rel_micro_*), the same with entity labels ignored
        (rel_boundaries_*), and per relation label (rel_per_type).
    The settings (each a property of GlobalPointerRel, where they are
    described once):
    """
    return GlobalPointerRel(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        relations_key=relations_key,
        threshold=threshold,
        label_thresholds=label_thresholds,
        max_distance=max_distance,
        schema_filter=schema_filter,
        negative_spans=negative_spans,
        scorer=scorer,
    )


make_globalpointer_rel.__doc__ = f"{make_globalpointer_rel.__doc__}\n{settings_doc(GlobalPointerRel)}\n"
