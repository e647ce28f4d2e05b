"""Toy data: short Chinese docs with nested entities (TRAIN_DATA), and with
relations between them (RELATION_DATA), and small pipelines trained on them."""

import math
import re
from typing import List

from spacy.language import Language
from spacy.training import Example

TRAIN_DATA = [
    ("张三在北京大学读书", [("北京大学", "ORG"), ("北京", "LOC"), ("张三", "PER")]),
    ("李四去了上海交通大学", [("上海交通大学", "ORG"), ("上海", "LOC"), ("李四", "PER")]),
    ("王五是清华大学的老师", [("清华大学", "ORG"), ("王五", "PER")]),
    ("赵六住在南京", [("南京", "LOC"), ("赵六", "PER")]),
    ("南京大学在南京", [("南京大学", "ORG"), ("南京", "LOC")]),
    ("我喜欢上海", [("上海", "LOC")]),
    ("孙七和周八都在杭州", [("孙七", "PER"), ("周八", "PER"), ("杭州", "LOC")]),
    ("浙江大学位于杭州", [("浙江大学", "ORG"), ("杭州", "LOC"), ("浙江", "LOC")]),
    ("吴九是复旦大学教授", [("复旦大学", "ORG"), ("吴九", "PER")]),
    ("郑十来自广州", [("广州", "LOC"), ("郑十", "PER")]),
    ("广州中山大学很大", [("中山大学", "ORG"), ("广州", "LOC")]),
    ("今天天气很好", []),
]
LABELS = ["LOC", "ORG", "PER"]


def make_examples(nlp: Language, data=TRAIN_DATA, spans_key: str = "sc", ents: bool = False) -> List[Example]:
    """Examples whose reference holds every entity (nested) in doc.spans[spans_key];
    with ents=True the reference also gets a flat (longest-first) doc.ents."""
    from spacy.util import filter_spans

    examples = []
    for text, entities in data:
        ref = nlp.make_doc(text)
        spans = []
        for surface, label in entities:
            for m in re.finditer(re.escape(surface), text):
                spans.append(ref.char_span(m.start(), m.end(), label))
        ref.spans[spans_key] = spans
        if ents:
            ref.set_ents(filter_spans(spans), default="outside")
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def train_small(steps: int, **config) -> Language:
    """A blank zh pipeline with globalpointer_ner (``config`` for the factory),
    trained ``steps`` updates on TRAIN_DATA from seed 0; every step's loss
    must be finite."""
    import spacy
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config=config)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for _ in range(steps):
        losses = nlp.update(examples, sgd=optimizer)
        assert math.isfinite(losses["globalpointer_ner"])
    return nlp


def v2_model_config() -> dict:
    """The component's default model block with GlobalPointer.v2 (no span
    content term), for tests of a v2 pipeline."""
    from thinc.api import Config

    from spacy_globalpointer.ml.models.globalpointer import DEFAULT_MODEL_CONFIG

    model = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
    model["@architectures"] = "spacy_globalpointer.GlobalPointer.v2"
    return model


# Text, entities (nested ones too), relations (subject, object, label), in characters.
RELATION_DATA = [
    (
        "张三在北京大学读书",
        [(0, 2, "PER"), (3, 7, "ORG"), (3, 5, "LOC")],
        [(0, 1, "works_at"), (1, 2, "located_in")],
    ),
    (
        "李四去了上海交通大学",
        [(0, 2, "PER"), (4, 10, "ORG"), (4, 6, "LOC")],
        [(0, 1, "works_at"), (1, 2, "located_in")],
    ),
    ("南京大学在南京", [(0, 4, "ORG"), (0, 2, "LOC"), (5, 7, "LOC")], [(0, 2, "located_in")]),
    ("王五是清华大学的老师", [(0, 2, "PER"), (3, 7, "ORG")], [(0, 1, "works_at")]),
    ("今天天气很好", [], []),
]


def gold_doc(nlp: Language, text: str, ents, rels, spans_key: str = "sc"):
    """A reference doc: the entities in doc.spans[spans_key], the relations on the doc."""
    from spacy_globalpointer.pipeline.relations import Relation, set_relations

    doc = nlp.make_doc(text)
    doc.spans[spans_key] = [doc.char_span(a, b, label) for a, b, label in ents]
    spans = list(doc.spans[spans_key])
    set_relations(doc, [Relation(spans[h], spans[t], label) for h, t, label in rels])
    return doc


def relation_examples(nlp: Language, data=RELATION_DATA) -> List[Example]:
    return [Example(nlp.make_doc(text), gold_doc(nlp, text, e, r)) for text, e, r in data]


def learn_relations(nlp: Language, max_steps: int) -> int:
    """Train ``nlp`` on RELATION_DATA until its relations score F 1.0 (checked every 10 steps) or for
    ``max_steps``; every step's losses must be finite. Returns the last step."""
    examples = relation_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    step = 0
    for step in range(1, max_steps + 1):
        losses = nlp.update(examples, sgd=optimizer)
        assert all(math.isfinite(v) for v in losses.values()), losses
        if step % 10 == 0 and nlp.evaluate(examples)["rel_micro_f"] == 1.0:
            break
    return step


def train_with_relations(steps: int, rel_config=None) -> Language:
    """A blank zh pipeline with globalpointer_ner and globalpointer_rel
    (``rel_config`` for its factory), trained ``steps`` updates on
    RELATION_DATA from seed 0; every step's losses must be finite."""
    import spacy
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    nlp.add_pipe("globalpointer_rel", config=rel_config or {})
    examples = relation_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for _ in range(steps):
        losses = nlp.update(examples, sgd=optimizer)
        assert all(math.isfinite(v) for v in losses.values()), losses
    return nlp


def v1_relation_model(**settings) -> dict:
    """globalpointer_rel's model block with RelationPointer.v1 (the pair band) on the default tok2vec,
    for the tests of v1 (the factory's default is v2)."""
    from thinc.api import Config

    from spacy_globalpointer.ml.models.globalpointer import DEFAULT_TOK2VEC_CONFIG

    tok2vec = Config().from_str("[model]\n" + DEFAULT_TOK2VEC_CONFIG)["model"]["tok2vec"]
    model = {
        "@architectures": "spacy_globalpointer.RelationPointer.v1",
        "head": "GlobalPointer",
        "rope": False,
    }
    return {**model, "head_size": 64, **settings, "tok2vec": tok2vec}
