"""RelationPointer.v2: the scores of candidate entity pairs against a brute
force over each term (pointers, BiLSTM context, the tokens between,
distance, entity labels), its loss against the paper's, the gold of the
pairs, a batch against each doc alone, learning nested relations on the toy
set, and a long doc with many entities trained in bounded memory."""

import math

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from helpers.reference_loss import multilabel_categorical_crossentropy
from helpers.toy import RELATION_DATA, gold_doc, learn_relations, relation_examples
from spacy_globalpointer.ml.pytorch import entity_pairs as entity_pairs_module
from spacy_globalpointer.ml.pytorch.entity_pairs import DISTANCE_EDGES, EntityPairScorer, distance_bucket
from spacy_globalpointer.ml.pytorch.heads import HEADS
from spacy_globalpointer.ml.pytorch.loss import pair_loss
from spacy_globalpointer.pipeline.relations import Relation, relations, set_relations

TOK2VEC = {
    "@architectures": "spacy.Tok2Vec.v2",
    "embed": {
        "@architectures": "spacy.MultiHashEmbed.v2",
        "width": 32,
        "attrs": ["NORM", "SHAPE"],
        "rows": [500, 50],
        "include_static_vectors": False,
    },
    "encode": {
        "@architectures": "spacy.MaxoutWindowEncoder.v2",
        "width": 32,
        "depth": 2,
        "window_size": 1,
        "maxout_pieces": 2,
    },
}


def v2_model(**settings) -> dict:
    return {"@architectures": "spacy_globalpointer.RelationPointer.v2", "tok2vec": TOK2VEC, **settings}


def test_distance_buckets_are_the_signed_magnitudes():
    distances = torch.arange(-300, 301)
    buckets = distance_bucket(distances)
    for d, bucket in zip(distances.tolist(), buckets.tolist()):
        size = sum(abs(d) >= edge for edge in DISTANCE_EDGES)
        assert bucket == (size + len(DISTANCE_EDGES) if d < 0 else size)
    assert buckets.max() == 2 * len(DISTANCE_EDGES) and buckets.min() == 0


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize(
    "context, context_depth, hidden_width, initial_bias",
    [("lstm", 0, 0, 0.0), ("lstm", 1, 3, -5.0), ("attention", 1, 0, 0.0), ("rows", 1, 3, -2.0)],
)
def test_pair_scores_equal_a_brute_force_over_each_term(
    head, context, context_depth, hidden_width, initial_bias
):
    torch.manual_seed(0)
    module = EntityPairScorer(
        head,
        6,
        3,
        4,
        head_size=4,
        context=context,
        context_width=4,
        context_depth=context_depth,
        hidden_width=hidden_width,
        initial_bias=initial_bias,
    ).double()
    assert (module.bias is None) == (initial_bias == 0)
    with torch.no_grad():  # the extra terms start at zero: make every one count
        for parameter in module.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.5)
    module.eval()
    lengths = torch.tensor([9, 12])
    X = torch.randn(2, 12, 6, dtype=torch.float64)
    # doc, start, end, label: nested (0-3, 1-2), touching (3-5 after 0-3), far apart, an unknown label (0).
    entities = torch.tensor(
        [[0, 0, 3, 1], [0, 1, 2, 2], [0, 3, 5, 3], [0, 7, 9, 0], [1, 0, 1, 1], [1, 10, 12, 2]]
    )
    pairs = torch.tensor([[0, 1], [1, 0], [0, 2], [2, 0], [0, 3], [3, 1], [4, 5], [5, 4]])
    got = module(X, lengths, entities, pairs)[:, :, 0]

    def brute(a: int, b: int) -> torch.Tensor:
        doc, sa, ea, la = entities[a].tolist()
        _, sb, eb, lb = entities[b].tolist()
        X_doc = X[doc : doc + 1, : lengths[doc]]
        H = X_doc
        if module.context is not None and context != "rows":  # each doc alone, unpadded (context.py's
            H = torch.cat([H, module.context(H, lengths[doc : doc + 1])], -1)  # own tests check the layers)
        H = H[0]

        def row(i):
            if context != "rows":
                return H[i]
            ctx = module.context(X_doc, lengths[doc : doc + 1], torch.tensor([0]), torch.tensor([i]))
            return torch.cat([H[i], ctx[0]])

        total = torch.zeros(3, dtype=torch.float64)
        for pointer, (i, j) in enumerate(((sa, sb), (ea - 1, eb - 1))):
            rows = torch.stack([row(i) + module.types.weight[la], row(j) + module.types.weight[lb]])[None]
            q, k, first, second = module.pointers[pointer].project(rows)
            for c in range(3):
                total[c] += (q[0, min(c, q.shape[1] - 1), 0] * k[0, min(c, k.shape[1] - 1), 1]).sum()
                if first is not None:
                    total[c] += first[0, c, 0] + second[0, c, 1]
        lo, hi = min(ea, eb), max(sa, sb)
        if hi > lo:
            total += module.between(H[lo:hi].mean(0))
        else:
            total += module.touching
        bucket = distance_bucket(torch.tensor(sb - sa))
        total += module.distance.weight[bucket]
        total += module.type_pairs[la, lb]
        if initial_bias:
            total += module.bias
        if module.hidden is not None:
            hidden = module.hidden
            typed = {
                k: row(i) + module.types.weight[t]
                for k, (i, t) in {
                    "sa": (sa, la),
                    "ea": (ea - 1, la),
                    "sb": (sb, lb),
                    "eb": (eb - 1, lb),
                }.items()
            }
            parts = [hidden["rows"](typed[k]).view(4, -1)[n] for n, k in enumerate(("sa", "ea", "sb", "eb"))]
            between = hidden["between"](H[lo:hi]).mean(0) if hi > lo else hidden["touching"].weight[0]
            layer = torch.relu(sum(parts) + between + hidden["distance"].weight[bucket])
            total += hidden["out"](layer)
        return total

    for n, (a, b) in enumerate(pairs.tolist()):
        assert torch.allclose(got[n], brute(a, b), atol=1e-9), (a, b)


@pytest.mark.parametrize("initial_bias", [0.0, -5.0])
def test_an_initial_bias_finds_no_relation_before_training_and_still_learns(initial_bias):
    """Untrained, the pointers score about half of all (pair, label) cells above 0: spaCy's first
    evaluation would store that many relations a doc (thousands on a set of 48 labels). An initial
    bias of -5 finds none, and the relations are learned all the same (without it:
    test_nested_relations_are_learned_by_v2)."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    model = v2_model(initial_bias=initial_bias, context_depth=0)
    rel = nlp.add_pipe("globalpointer_rel", config={"model": model, "max_distance": 8})
    examples = relation_examples(nlp)
    nlp.initialize(lambda: examples)
    docs = [rel(gold_doc(nlp, text, ents, [])) for text, ents, _ in RELATION_DATA]
    cells = sum(len(doc.spans["sc"]) * (len(doc.spans["sc"]) - 1) for doc in docs) * len(rel.labels)
    found = sum(len(relations(doc)) for doc in docs)
    if not initial_bias:
        assert found > 0.1 * cells  # random pointers: about half
        return
    assert found == 0
    learn_relations(nlp, 300)
    assert nlp.evaluate(relation_examples(nlp))["rel_micro_f"] == 1.0


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("initial_bias", float("nan"), "initial_bias must be a finite number"),
        ("initial_bias", "low", "initial_bias must be a finite number"),
        ("initial_bias", True, "initial_bias must be a finite number"),
        ("hidden_width", -1, "hidden_width must be 0"),
        ("context_depth", -1, "context_depth must be an integer of at least 0"),
    ],
)
def test_relation_pointer_v2_refuses_a_bad_setting(setting, value, message):
    from spacy.util import registry

    build = registry.architectures.get("spacy_globalpointer.RelationPointer.v2")
    tok2vec = registry.resolve({"x": TOK2VEC})["x"]
    with pytest.raises(ValueError, match=message):
        build(tok2vec, **{setting: value})


def test_pair_scores_in_steps_equal_the_whole(monkeypatch):
    torch.manual_seed(1)
    module = EntityPairScorer("GlobalPointer", 6, 2, 3, head_size=4, context_width=4).double().eval()
    X = torch.randn(1, 40, 6, dtype=torch.float64)
    starts = torch.arange(0, 38, 2)
    entities = torch.stack([torch.zeros_like(starts), starts, starts + 2, starts % 3], 1)
    pairs = torch.tensor([[a, b] for a in range(len(starts)) for b in range(len(starts)) if a != b])
    whole = module(X, torch.tensor([40]), entities, pairs)
    monkeypatch.setattr(entity_pairs_module, "ELEMENTS_PER_STEP", 7 * 2 * 4)  # 7 pairs a step
    assert torch.allclose(module(X, torch.tensor([40]), entities, pairs), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("route", ["steps", "blocks", "unsorted"])
def test_pair_dot_and_its_gradient_equal_autograds(monkeypatch, route):
    """In steps of pairs (no doc given, or rows not sorted by doc) or as one product of each doc's rows
    with each other (docs of 4, 0, 2 and 3 rows): autograd's gather and sum, value and gradient."""
    torch.manual_seed(3)
    q = torch.randn(9, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(9, 3, 4, dtype=torch.float64, requires_grad=True)
    doc = torch.tensor([0, 0, 0, 0, 2, 2, 3, 3, 3])
    if route == "unsorted":
        doc = doc.flip(0)
    # A pair's two rows are of one doc, as candidate pairs are.
    a = torch.randint(0, 9, (50,))
    same_doc = [torch.nonzero(doc == doc[i]).flatten() for i in a.tolist()]
    b = torch.stack([rows[torch.randint(0, len(rows), ())] for rows in same_doc])
    weight = torch.randn(50, 3, dtype=torch.float64)
    given = None if route == "steps" else doc
    if route != "blocks":
        monkeypatch.setattr(entity_pairs_module, "ELEMENTS_PER_STEP", 5 * 12)  # 5 pairs a step
    blocks = entity_pairs_module.doc_blocks(doc, 3, 4)
    assert (blocks is not None) == (route == "blocks")
    (entity_pairs_module.pair_dot(q, k, a, b, given) * weight).sum().backward()
    dq, dk = q.grad.clone(), k.grad.clone()
    q.grad = k.grad = None
    ((q[a] * k[b]).sum(-1) * weight).sum().backward()
    assert torch.allclose(dq, q.grad, atol=1e-12) and torch.allclose(dk, k.grad, atol=1e-12)
    assert torch.autograd.gradcheck(
        entity_pairs_module.pair_dot, (q.detach().requires_grad_(), k.detach().requires_grad_(), a, b, given)
    )


def test_doc_blocks_fall_back_to_steps_past_the_bound(monkeypatch):
    doc = torch.tensor([0, 0, 0, 1, 1])
    # 2 docs x 3 rows x max(3 x 4 labels, 4 labels x 8): 192 numbers.
    monkeypatch.setattr(entity_pairs_module, "ELEMENTS_PER_STEP", 192)
    slot, n_docs, most = entity_pairs_module.doc_blocks(doc, 4, 8)
    assert slot.tolist() == [0, 1, 2, 0, 1] and (n_docs, most) == (2, 3)
    monkeypatch.setattr(entity_pairs_module, "ELEMENTS_PER_STEP", 191)
    assert entity_pairs_module.doc_blocks(doc, 4, 8) is None


@pytest.mark.parametrize(
    "K, order, scale", [(1, "sorted", 1.0), (2, "shuffled", 1.0), (1, "shuffled", 100.0)]
)
def test_pair_loss_is_the_papers_per_doc_and_label_with_its_gradient(K, order, scale):
    """One row per (doc, label) over the doc's pairs and their K scores, whatever the order of the pairs'
    docs; finite and exact for scores of +-100 too."""
    torch.manual_seed(2)
    doc = torch.tensor([0, 0, 0, 2, 2, 3])  # doc 1 has no pair
    if order == "shuffled":
        doc = doc[torch.tensor([3, 0, 5, 1, 4, 2])]
    scores = (torch.randn(6, 4, K, dtype=torch.float64) * scale).requires_grad_()
    gold = torch.rand(6, 4) > 0.6
    loss, grad = pair_loss(scores.detach(), doc, gold, 4)
    rows = []
    for b in range(4):
        picked = doc == b
        # (labels, the doc's pairs x K)
        s = scores[picked].permute(1, 0, 2).reshape(4, -1)
        g = gold[picked].T[:, :, None].expand(-1, -1, K).reshape(4, -1)
        rows.append(
            multilabel_categorical_crossentropy(s, g, torch.ones_like(g)) if picked.any() else torch.zeros(4)
        )
    want = torch.cat(rows).mean()
    want.backward()
    assert math.isfinite(loss) and loss == pytest.approx(float(want), rel=1e-12)
    assert torch.allclose(grad, scores.grad, atol=1e-12)


def trained_v2(steps: int = 200, **model):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    nlp.add_pipe("globalpointer_rel", config={"model": v2_model(**model), "max_distance": 8})
    learn_relations(nlp, steps)
    return nlp


@pytest.fixture(scope="module")
def trained():
    return trained_v2()


def test_nested_relations_are_learned_by_v2(trained):
    assert trained.evaluate(relation_examples(trained))["rel_micro_f"] == 1.0
    doc = trained("张三在北京大学读书")
    assert [(r.head.text, r.label, r.tail.text) for r in relations(doc)] == [
        ("张三", "works_at", "北京大学"),
        ("北京大学", "located_in", "北京"),
    ]
    assert trained.get_pipe("globalpointer_rel").entity_labels == ("PER", "ORG", "LOC")


def test_v2_saved_and_loaded_and_batched_gives_the_same_scores(trained, tmp_path):
    texts = [text for text, _, _ in RELATION_DATA] + ["李四去了上海交通大学，王五是清华大学的老师"]
    trained.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    assert loaded.get_pipe("globalpointer_rel").entity_labels == ("PER", "ORG", "LOC")
    batch = [relations(doc) for doc in loaded.pipe(texts, batch_size=16)]
    alone = [relations(loaded(text)) for text in texts]
    first = [relations(doc) for doc in trained.pipe(texts)]
    for a, b, c in zip(batch, alone, first):
        assert [(r.head.start, r.tail.start, r.label) for r in a] == [
            (r.head.start, r.tail.start, r.label) for r in b
        ]
        assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-5)
        assert [r.score for r in a] == pytest.approx([r.score for r in c], abs=1e-5)
    assert any(batch)


def test_v2_over_entities_another_component_made(trained):
    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "sc"})
    ruler.add_patterns([{"label": "PER", "pattern": "王五"}, {"label": "ORG", "pattern": "清华大学"}])
    nlp.add_pipe("globalpointer_rel", source=trained)
    doc = nlp("王五是清华大学的老师")
    assert [(r.head.text, r.label, r.tail.text) for r in relations(doc)] == [("王五", "works_at", "清华大学")]


def test_v2_skips_a_doc_without_relation_annotation_in_training():
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    rel = nlp.add_pipe("globalpointer_rel", config={"model": v2_model(), "max_distance": 8})
    text, ents, rels = RELATION_DATA[0]
    with_rels = Example(nlp.make_doc(text), gold_doc(nlp, text, ents, rels))
    nlp.initialize(lambda: [with_rels])
    plain = nlp.make_doc("南京大学在南京")
    plain.spans["sc"] = [plain[0:4], plain[0:2], plain[5:7]]  # entities, but no relation annotation
    unannotated = Example(nlp.make_doc(plain.text), plain)

    def loss_of(examples):
        X = rel._model_input(examples)
        scores, _ = rel.model.begin_update(X)
        return rel.get_loss(examples, scores), scores

    (alone, _), _ = loss_of([with_rels])
    (both, grad), scores = loss_of([with_rels, unannotated])
    assert scores.entities.counts.tolist() == [3, 0] and set(scores.pairs.doc.tolist()) == {0}
    assert both == pytest.approx(alone, rel=1e-6) and alone > 0


def test_a_long_doc_with_many_entities_trains_in_bounded_memory():
    """A 20,000-token doc with 4,000 entities and 45 relation labels at max_distance 150: v1's band
    would be 20,000 x 301 x 45 x 2 scores (2 GB in float32); v2 scores the entities' candidate pairs."""
    import resource

    fix_random_seed(0)
    nlp = spacy.blank("en")
    rel = nlp.add_pipe("globalpointer_rel", config={"model": v2_model(), "max_distance": 150})
    words = [f"w{i % 97}" for i in range(20_000)]
    gold = nlp.make_doc(" ".join(words))
    gold.spans["sc"] = [gold[i : i + 2] for i in range(0, 20_000, 5)]
    for span in gold.spans["sc"]:
        span.label_ = f"E{span.start % 3}"
    spans = list(gold.spans["sc"])
    set_relations(gold, [Relation(spans[k], spans[k + 1], f"R{(k // 3) % 45}") for k in range(0, 3000, 3)])
    example = Example(nlp.make_doc(gold.text), gold)
    optimizer = nlp.initialize(lambda: [example])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    losses = nlp.update([example], sgd=optimizer)
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert math.isfinite(losses["globalpointer_rel"]) and len(rel.labels) == 45
    X = rel._model_input([example])
    scores, _ = rel.model.begin_update(X)
    n_pairs = len(scores.pairs.doc)
    starts = numpy.asarray([s.start for s in spans])
    assert n_pairs == sum(int(((abs(starts - s) <= 150) & (starts != s)).sum()) for s in starts)
    assert grew < 1000, f"training grew the peak RSS by {grew:.0f} MB for {n_pairs} pairs"


def test_v2_groups_of_docs_sorted_by_length_give_each_doc_its_own_scores(trained, monkeypatch):
    from spacy_globalpointer.ml import entity_pair_scores

    texts = [
        "李四去了上海交通大学，王五是清华大学的老师",
        "张三在北京大学读书",
        "今天天气很好",
        "南京大学在南京",
    ] * 3
    whole = [relations(doc) for doc in trained.pipe(texts)]
    monkeypatch.setattr(entity_pair_scores, "BATCH_ROWS", 12)  # a group of one or two docs each
    grouped = [relations(doc) for doc in trained.pipe(texts)]
    assert [[(r.head.start, r.tail.start, r.label) for r in rels] for rels in grouped] == [
        [(r.head.start, r.tail.start, r.label) for r in rels] for rels in whole
    ]
    assert [r.score for rels in grouped for r in rels] == pytest.approx(
        [r.score for rels in whole for r in rels], abs=1e-5
    )
    assert any(whole)


def test_decode_keeps_the_pairs_above_their_labels_threshold_and_in_the_schema():
    from spacy_globalpointer.pipeline.relation_decode import decode_relations

    nlp = spacy.blank("zh")
    doc = nlp.make_doc("张三在北京大学读书")
    doc.spans["sc"] = [doc.char_span(0, 2, "PER"), doc.char_span(3, 7, "ORG"), doc.char_span(3, 5, "LOC")]
    pairs = numpy.asarray([[0, 1], [1, 2], [0, 2]])
    # (pairs, labels [works_at, located_in], pointers): the lower pointer score counts.
    scores = numpy.asarray([[[2.0, 1.0], [0.5, -1.0]], [[-1.0, -2.0], [3.0, 0.2]], [[1.0, 0.5], [0.1, 0.3]]])
    labels = ["works_at", "located_in"]
    thresholds = numpy.asarray([0.0, 0.15])
    found = decode_relations([doc], [(pairs, scores)], labels, thresholds, "sc")
    assert found == [
        [
            (0, 2, "PER", 3, 7, "ORG", "works_at", 1.0),
            (3, 7, "ORG", 3, 5, "LOC", "located_in", 0.2),
            (0, 2, "PER", 3, 5, "LOC", "works_at", 0.5),
        ]
    ]
    schema = {("PER", "works_at", "ORG"), ("ORG", "located_in", "LOC")}
    kept = decode_relations([doc], [(pairs, scores)], labels, thresholds, "sc", schema)
    assert kept == [found[0][:2]]


def test_the_schema_is_read_from_the_training_relations_and_saved(tmp_path):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_rel", config={"model": v2_model(), "schema_filter": True})
    nlp.initialize(lambda: relation_examples(nlp))
    schema = [["ORG", "located_in", "LOC"], ["PER", "works_at", "ORG"]]
    assert nlp.get_pipe("globalpointer_rel").cfg["schema"] == schema
    nlp.to_disk(tmp_path)
    assert spacy.load(tmp_path).get_pipe("globalpointer_rel").cfg["schema"] == schema


def test_random_negative_spans_join_the_gold_entities_in_training():
    from spacy_globalpointer.pipeline.relation_training import NEGATIVE_WIDTH, label_index, training_entities

    nlp = spacy.blank("zh")
    text, ents, rels = RELATION_DATA[0]
    example = Example(nlp.make_doc(text), gold_doc(nlp, text, ents, rels))
    index = label_index(["PER", "ORG", "LOC"])

    def as_keys(found):
        return {(int(s), int(e), int(label)) for (s, e), label in zip(found.bounds, found.labels)}

    gold = {(0, 2, 1), (3, 7, 2), (3, 5, 3)}
    assert as_keys(training_entities([example], "sc", "rel", index, "rel")) == gold
    numpy.random.seed(0)
    mixed = training_entities([example], "sc", "rel", index, "rel", negatives=1.0)
    extra = as_keys(mixed) - gold
    assert 0 < len(extra) <= len(example.predicted) and as_keys(mixed) >= gold
    assert all(
        0 <= s < e <= len(example.predicted) and e - s <= NEGATIVE_WIDTH and 1 <= la <= 3
        for s, e, la in extra
    )
    # Each candidate once: a random span that is a gold entity is not added twice.
    assert mixed.counts.tolist() == [len(as_keys(mixed))]
    # A doc without relation annotation gets none, random ones included.
    plain = Example(nlp.make_doc(text), nlp.make_doc(text))
    assert training_entities([plain], "sc", "rel", index, "rel", negatives=1.0).counts.tolist() == [0]


def test_both_components_learn_on_a_shared_tok2vec_with_a_context_encoder(tmp_path):
    """The recipe's shape: one tok2vec whose encoder ends in ContextEncoder.v1 (a BiLSTM beside the
    window encoder's output), both components listening to it, the relation model without a context
    layer of its own, its scores starting at the recipe's initial bias. The toy relations are learned,
    and a saved pipeline predicts the same relations and scores, batched or doc by doc."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    encode = {
        "@architectures": "spacy_globalpointer.ContextEncoder.v1",
        "width": 48,
        "context_width": 16,
        "local": TOK2VEC["encode"],
    }
    nlp.add_pipe("tok2vec", config={"model": {**TOK2VEC, "encode": encode}})
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 48, "upstream": "tok2vec"}
    nlp.add_pipe("globalpointer_ner", config={"model": {"tok2vec": listener}})
    rel_model = {**v2_model(context_depth=0, initial_bias=-5.0), "tok2vec": listener}
    nlp.add_pipe("globalpointer_rel", config={"model": rel_model, "max_distance": 8})
    learn_relations(nlp, 300)
    scores = nlp.evaluate(relation_examples(nlp))
    assert scores["rel_micro_f"] == 1.0 and scores["spans_sc_f"] == 1.0
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    texts = [text for text, _, _ in RELATION_DATA]
    batch = [relations(doc) for doc in loaded.pipe(texts, batch_size=16)]
    for text, got in zip(texts, batch):
        want = relations(nlp(text))
        assert [(r.head.start, r.tail.start, r.label) for r in got] == [
            (r.head.start, r.tail.start, r.label) for r in want
        ]
        assert [r.score for r in got] == pytest.approx([r.score for r in want], abs=1e-5)
