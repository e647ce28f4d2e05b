"""The globalpointer_rel component with RelationPointer.v1 (GPLinker's pair
band; v2 has tests/test_relation_pairs.py): pair scores against a brute
force, chunked prediction, learning nested relations, saving, processes,
DocBins, entities another component made, and the scores."""

import random

import numpy
import pytest
import spacy
import torch
from numpy.testing import assert_equal
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from helpers.toy import RELATION_DATA as DATA
from helpers.toy import gold_doc, learn_relations, relation_examples, v1_relation_model
from spacy_globalpointer.ml.candidate_pairs import candidate_pairs, entity_pairs
from spacy_globalpointer.ml.padding import pad
from spacy_globalpointer.ml.pair_layer import PairBand
from spacy_globalpointer.ml.pytorch import pairs as pairs_module
from spacy_globalpointer.ml.pytorch.heads import HEADS
from spacy_globalpointer.ml.pytorch.pairs import PairPointer
from spacy_globalpointer.pipeline import calibrate as cal
from spacy_globalpointer.pipeline.relations import Relation, relations, set_relations
from spacy_globalpointer.pipeline.scorer import score_relations

TEXTS = [text for text, _, _ in DATA]
FIRST = [("张三", "PER", "works_at", "北京大学", "ORG"), ("北京大学", "ORG", "located_in", "北京", "LOC")]


def examples_of(nlp):
    return relation_examples(nlp)


def triples(doc):
    return [(r.head.text, r.head.label_, r.label, r.tail.text, r.tail.label_) for r in relations(doc)]


@pytest.fixture(scope="module")
def trained():
    """globalpointer_ner and globalpointer_rel on one blank zh pipeline,
    trained from seed 0 until both score F 1.0 on the toy set."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    nlp.add_pipe("globalpointer_rel", config={"max_distance": 8, "model": v1_relation_model()})
    return nlp, learn_relations(nlp, 200)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("rope", [False, True])
def test_pair_scores_equal_a_loop_over_pairs(head, rope):
    torch.manual_seed(0)
    module = PairPointer(head, 6, 3, head_size=4, rope=rope).double()
    for p in module.parameters():
        torch.nn.init.normal_(p)
    X = torch.randn(2, 9, 6, dtype=torch.float64)
    lengths, D = torch.tensor([9, 5]), 3
    torch.set_grad_enabled(False)
    try:
        band = module(X, lengths, D)
        rows = torch.tensor([0, 2, 4, 7, 8])
        index = torch.tensor([[0, 3, 1, 4], [4, 0, 2, 1], [2, 2, 3, 0]])
        picked = module(X[:1], None, rows=torch.stack([torch.zeros_like(rows), rows], 1), pairs=index)
    finally:
        torch.set_grad_enabled(True)

    @torch.no_grad()
    def brute(pointer, b, c, i, j):
        q, k, first, second = module.pointers[pointer].project(X[b : b + 1])
        qi, kj = q[0, c if q.shape[1] > 1 else 0, i], k[0, c if k.shape[1] > 1 else 0, j]
        want = (qi * kj).sum()
        if first is not None:
            want = want + first[0, c, i] + second[0, c, j]
        return float(want)

    for pointer in range(2):
        for b in range(2):
            for c in range(3):
                for i in range(9):
                    for w in range(2 * D + 1):
                        j, got = i + w - D, band[b, c, pointer, i, w]
                        if i < lengths[b] and 0 <= j < lengths[b]:
                            assert float(got) == pytest.approx(brute(pointer, b, c, i, j), abs=1e-12)
                        else:
                            assert got == torch.finfo(torch.float64).min
        for n, row in enumerate(index.tolist()):
            i, j = int(rows[row[2 * pointer]]), int(rows[row[2 * pointer + 1]])
            for c in range(3):
                assert float(picked[n, c, pointer]) == pytest.approx(brute(pointer, 0, c, i, j), abs=1e-12)


def test_chunked_prediction_equals_whole_doc_scores(monkeypatch):
    torch.manual_seed(1)
    module = PairPointer("GlobalPointer", 6, 2, head_size=4, rope=True).double()
    X = torch.randn(1, 50, 6, dtype=torch.float64)
    tokens = torch.tensor(sorted(random.Random(0).sample(range(50), 20)))
    rows = torch.stack([torch.zeros_like(tokens), tokens], 1)
    index = torch.randint(0, 20, (37, 4))
    whole = module(X, None, rows=rows, pairs=index)
    monkeypatch.setattr(pairs_module, "ROWS_PER_STEP", 7)
    monkeypatch.setattr(pairs_module, "PAIRS_PER_STEP", 5)
    chunked = module(X, None, rows=rows, pairs=index)
    assert torch.allclose(whole, chunked, rtol=0, atol=1e-12)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("rope", [False, True])
def test_short_docs_scored_together_equal_each_doc_alone(head, rope):
    """Several short docs in one padded call give each doc's own scores."""
    torch.manual_seed(2)
    module = PairPointer(head, 6, 3, head_size=4, rope=rope).double()
    lengths = [9, 4, 12]
    X = torch.zeros(3, 12, 6, dtype=torch.float64)
    for b, n in enumerate(lengths):
        X[b, :n] = torch.randn(n, 6, dtype=torch.float64)
    rng = random.Random(0)
    alone, rows, index = [], [], []
    for b, n in enumerate(lengths):
        tokens = torch.tensor(sorted(rng.sample(range(n), 3)))
        pairs = torch.randint(0, 3, (5, 4))
        doc_rows = torch.stack([torch.zeros_like(tokens), tokens], 1)
        alone.append(module(X[b : b + 1, :n], None, rows=doc_rows, pairs=pairs))
        rows.append(torch.stack([torch.full_like(tokens, b), tokens], 1))
        index.append(pairs + 3 * b)
    together = module(X, None, rows=torch.cat(rows), pairs=torch.cat(index))
    assert torch.allclose(together, torch.cat(alone), rtol=0, atol=1e-12)


def test_candidate_pairs_are_every_ordered_pair_within_the_distance():
    nlp = spacy.blank("en")
    rng = random.Random(0)
    doc = nlp.make_doc(" ".join("w" for _ in range(200)))
    spans = []
    for _ in range(120):
        start = rng.randrange(200)
        spans.append(doc[start : min(200, start + rng.randrange(1, 6))])
    # A doc of many spans (a window over them) and of few (every pair tested).
    for D in (0, 3, 17, 500):
        for group in (spans, spans[:9]):
            brute = [
                (a, b)
                for a in range(len(group))
                for b in range(len(group))
                if a != b
                and abs(group[a].start - group[b].start) <= D
                and abs(group[a].end - group[b].end) <= D
            ]
            assert entity_pairs(group, D) == sorted(brute)


def test_a_batch_of_docs_gets_each_docs_own_pairs():
    """Docs of few spans (tested all at once) and of many (a window each) in
    one batch: each doc's pairs, as entity_pairs finds them for it alone."""
    rng = random.Random(1)
    docs = []
    for n in (3, 0, 40, 1, 7, 30, 2):
        docs.append(sorted((s, s + rng.randrange(1, 4)) for s in (rng.randrange(60) for _ in range(n))))
    counts = numpy.asarray([len(d) for d in docs])
    bounds = numpy.asarray([b for d in docs for b in d], dtype="int64").reshape(-1, 2)
    doc, first, second = candidate_pairs(counts, bounds, 5)
    nlp = spacy.blank("en")
    text = nlp.make_doc(" ".join("w" for _ in range(80)))
    for k, d in enumerate(docs):
        alone = entity_pairs([text[s:e] for s, e in d], 5)
        assert list(zip(first[doc == k].tolist(), second[doc == k].tolist())) == alone
    assert sorted(doc.tolist()) == doc.tolist()


@pytest.mark.parametrize("rope", [False, True])
def test_a_batch_predicts_what_each_doc_alone_does(rope):
    """The component's prediction over a batch (one sequence without RoPE,
    padded groups with it) equals each doc's own, scores included."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    rel = nlp.add_pipe("globalpointer_rel", config={"max_distance": 8, "model": v1_relation_model(rope=rope)})
    examples = examples_of(nlp)
    nlp.initialize(lambda: examples)
    docs = [gold_doc(nlp, *item) for item in DATA]
    together = rel.predict(docs)
    for doc, (pairs, scores) in zip(docs, together):
        ((alone_pairs, alone_scores),) = rel.predict([doc])
        assert_equal(pairs, alone_pairs)
        assert numpy.allclose(scores, alone_scores, rtol=0, atol=1e-5)
    assert sum(len(p) for p, _ in together) > 0


def test_the_training_band_cut_to_the_batch_changes_no_loss():
    """Training scores a band no wider than the batch's longest doc needs: the
    loss equals the one over the full max_distance band (its extra cells are
    all outside the docs)."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    rel = nlp.add_pipe("globalpointer_rel", config={"max_distance": 50, "model": v1_relation_model()})
    examples = examples_of(nlp)
    nlp.initialize(lambda: examples)
    docs = [eg.predicted for eg in examples]
    tok2vec, pointers = rel.model.layers
    longest = max(len(doc) for doc in docs)
    cut, _ = rel.model.begin_update(docs)
    assert cut.shape[-1] == 2 * (longest - 1) + 1
    vectors = tok2vec.predict(docs)
    padded = pad(pointers.ops, vectors, pointers.get_dim("nI"))
    for D in (longest - 1, 50):
        band = pointers.predict(PairBand(padded, [len(v) for v in vectors], D))
        loss, grad = rel.get_loss(examples, band)
        if D == longest - 1:
            first = (loss, grad)
    assert band.shape[-1] == 101 and loss == pytest.approx(first[0], rel=1e-6)
    # the gradient's cells inside the docs are the same; the extra ones are zero
    assert numpy.allclose(grad[..., 50 - (longest - 1) : 50 + longest], first[1], atol=1e-7)
    assert not grad[..., : 50 - (longest - 1)].any() and not grad[..., 50 + longest :].any()


def test_nested_relations_are_learned(trained):
    nlp, steps = trained
    scores = nlp.evaluate(examples_of(nlp))
    assert scores["rel_micro_f"] == scores["rel_boundaries_f"] == 1.0, (steps, scores)
    doc = nlp("张三在北京大学读书")
    assert triples(doc) == [
        ("张三", "PER", "works_at", "北京大学", "ORG"),
        ("北京大学", "ORG", "located_in", "北京", "LOC"),
    ]


def test_save_and_load_give_identical_relation_scores(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    for doc, again in zip(nlp.pipe(TEXTS), loaded.pipe(TEXTS)):
        assert doc.user_data == again.user_data
        assert_equal([r.score for r in relations(doc)], [r.score for r in relations(again)])
        assert any(relations(doc)) or not doc.spans.get("sc")


def test_two_processes_give_the_same_relations(trained):
    nlp, _ = trained
    one = [triples(doc) for doc in nlp.pipe(TEXTS)]
    two = [triples(doc) for doc in nlp.pipe(TEXTS, n_process=2, batch_size=2)]
    assert two == one and any(one)


def test_gold_relations_survive_a_docbin(tmp_path):
    nlp = spacy.blank("zh")
    docs = [gold_doc(nlp, *item) for item in DATA]
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "gold.spacy")
    again = list(DocBin().from_disk(tmp_path / "gold.spacy").get_docs(nlp.vocab))
    assert [triples(d) for d in again] == [triples(d) for d in docs]
    assert sum(len(relations(d)) for d in again) == sum(len(r) for _, _, r in DATA)


def test_relations_over_entities_another_component_made(trained):
    """A span_ruler writes the entities; the relation component links them."""
    trained_nlp, _ = trained
    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "sc"})
    ruler.add_patterns(
        [
            {"label": "PER", "pattern": "张三"},
            {"label": "ORG", "pattern": "北京大学"},
            {"label": "LOC", "pattern": "北京"},
        ]
    )
    nlp.add_pipe("globalpointer_rel", source=trained_nlp)
    doc = nlp("张三在北京大学读书")
    assert {(s.text, s.label_) for s in doc.spans["sc"]} == {
        ("张三", "PER"),
        ("北京大学", "ORG"),
        ("北京", "LOC"),
    }
    assert triples(doc) == [
        ("张三", "PER", "works_at", "北京大学", "ORG"),
        ("北京大学", "ORG", "located_in", "北京", "LOC"),
    ]


def test_thresholds_and_the_distance_bound(trained):
    nlp, _ = trained
    rel = nlp.get_pipe("globalpointer_rel")
    try:
        rel.label_thresholds = {"works_at": 1e9}
        assert [t[2] for t in triples(nlp("张三在北京大学读书"))] == ["located_in"]
        rel.label_thresholds = {}
        rel.max_distance = 2  # 张三 (0-2) and 北京大学 (3-7) start 3 apart: no longer a candidate
        assert [t[2] for t in triples(nlp("张三在北京大学读书"))] == ["located_in"]
    finally:
        rel.label_thresholds, rel.max_distance = {}, 8


def test_relations_farther_than_the_bound_are_reported():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_rel", config={"max_distance": 2, "model": v1_relation_model()})
    examples = examples_of(nlp)
    optimizer = nlp.initialize(lambda: examples)
    with pytest.warns(UserWarning, match="farther apart than max_distance=2"):
        nlp.update(examples, sgd=optimizer)
    # One character, one token: the starts' or the ends' distance in characters.
    far = [
        (h, t)
        for _, ents, rels in DATA
        for h, t, _ in rels
        if abs(ents[h][0] - ents[t][0]) > 2 or abs(ents[h][1] - ents[t][1]) > 2
    ]
    assert nlp.get_pipe("globalpointer_rel").too_far_gold_relations == len(far) > 0


def test_scores_strict_boundaries_and_per_label():
    """A hand-made example: one relation right, one with a wrong entity
    label (right in boundaries only), one missed, one invented."""
    nlp = spacy.blank("zh")
    ents = [(0, 2, "PER"), (3, 7, "ORG"), (3, 5, "LOC")]
    gold = gold_doc(nlp, "张三在北京大学读书", ents, [(0, 1, "works_at"), (1, 2, "located_in"), (2, 0, "x")])
    pred = gold_doc(
        nlp,
        "张三在北京大学读书",
        [(0, 2, "PER"), (3, 7, "LOC"), (3, 5, "LOC")],
        [(0, 1, "works_at"), (1, 2, "located_in"), (0, 2, "y")],
    )
    scores = score_relations([Example(pred, gold)])
    # strict: works_at wrong (ORG became LOC), located_in wrong (same), x missed, y invented
    assert (scores["rel_micro_p"], scores["rel_micro_r"]) == (0.0, 0.0)
    # boundaries: works_at and located_in right; x missed; y invented
    assert scores["rel_boundaries_p"] == pytest.approx(2 / 3) and scores["rel_boundaries_r"] == pytest.approx(
        2 / 3
    )
    assert set(scores["rel_per_type"]) == {"works_at", "located_in", "x", "y"}


def test_a_relation_to_itself_or_twice_is_refused():
    nlp = spacy.blank("zh")
    doc = nlp.make_doc("张三在北京")
    with pytest.raises(ValueError, match="to itself"):
        set_relations(doc, [Relation(doc[0:2], doc[0:2], "self")])
    twice = [Relation(doc[0:2], doc[3:5], "lives_in"), Relation(doc[0:2], doc[3:5], "lives_in", 0.5)]
    with pytest.raises(ValueError, match="given twice"):
        set_relations(doc, twice)


def test_update_without_relations_is_harmless():
    nlp = spacy.blank("zh")
    rel = nlp.add_pipe("globalpointer_rel")
    rel.add_label("works_at")
    nlp.initialize()
    losses = nlp.update([Example(nlp.make_doc("今天天气很好"), gold_doc(nlp, "今天天气很好", [], []))])
    assert numpy.isfinite(losses["globalpointer_rel"])


def test_calibrate_chooses_the_relation_threshold(trained):
    """Each dev score calibrate reports equals the pipeline's own evaluation
    with that threshold set, and its best global threshold is the best of
    the grid, evaluated one by one."""
    nlp, _ = trained
    rel = nlp.get_pipe("globalpointer_rel")
    examples = examples_of(nlp)
    refs = [eg.reference for eg in examples]
    saved = rel.threshold, dict(rel.label_thresholds)

    def f_at(threshold):
        rel.threshold, rel.label_thresholds = float(threshold), {}
        return nlp.evaluate(examples)["rel_micro_f"]

    try:
        # A cut above the weakest gold relation's score: the model misses it there.
        scores = [r.score for doc in nlp.pipe(TEXTS) for r in relations(doc)]
        start = round(min(scores), 2) + 0.05
        old_f = f_at(start)
        assert old_f < 1.0
        grid_f = {float(t): f_at(t) for t in cal.GRID}
        rel.threshold = start
        result = cal.calibrate(nlp, refs, "globalpointer_rel")
        assert result.metric == "rel_micro_f"
        assert result.scores["dev_old_threshold"]["f"] == pytest.approx(old_f)
        assert result.scores["dev_global"]["f"] == pytest.approx(max(grid_f.values()))
        assert grid_f[result.best_global] == max(grid_f.values())
        assert (rel.threshold, dict(rel.label_thresholds)) == (result.threshold, result.label_thresholds)
        with pytest.raises(ValueError, match="rel_micro_f"):
            cal.calibrate(nlp, refs, "globalpointer_rel", metric="ents_f")
    finally:
        rel.threshold, rel.label_thresholds = saved
