"""Property tests, text edge cases, numerics, determinism, bad settings, safe loading."""

import json
import math
import pickle

import numpy
import pytest
import spacy
import srsly
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from thinc.api import fix_random_seed

from helpers.toy import TRAIN_DATA, make_examples, train_small
from spacy_globalpointer.files.json_lines import parse_json_line
from spacy_globalpointer.ml.pytorch.heads import HEADS, build_head
from spacy_globalpointer.ml.pytorch.loss import loss_and_gradient
from spacy_globalpointer.pipeline.decode import decode_spans, select_flat
from spacy_globalpointer.training.alignment import record_to_doc
from spacy_globalpointer.training.convert import make_tokenizer
from spacy_globalpointer.training.converters import cluener
from spacy_globalpointer.training.converters.gold_records import FormatError

# --- decoding properties ------------------------------------------------------


@st.composite
def score_batches(draw):
    lengths = draw(st.lists(st.integers(0, 9), min_size=1, max_size=4))
    L = max(lengths)
    W = draw(st.integers(1, max(L, 1))) if L else 0
    C = draw(st.integers(1, 3))
    shape = (len(lengths), C, L, W)
    values = draw(
        st.lists(st.floats(-3, 3, width=32), min_size=int(numpy.prod(shape)), max_size=int(numpy.prod(shape)))
    )
    threshold = draw(st.floats(-2, 2, width=32))
    per_token = draw(st.sampled_from([0.5, 1.0, 3.0, 100.0]))
    return numpy.asarray(values, dtype="float32").reshape(shape), lengths, threshold, per_token


@settings(max_examples=200, deadline=None)
@given(score_batches())
def test_decoding_properties(batch):
    scores, lengths, threshold, per_token = batch
    for b, cand in enumerate(decode_spans(scores, lengths, threshold, per_token)):
        n = lengths[b]
        # every span inside the doc, above the threshold, with its own score
        assert all(0 <= s < e <= n for s, e in zip(cand.starts, cand.ends))
        assert all(v > threshold for v in cand.scores)
        for s, e, c, v in zip(cand.starts, cand.ends, cand.labels, cand.scores):
            assert scores[b, c, s, e - s - 1] == v
        assert len(cand) <= max(1, math.ceil(n * per_token))
        # nothing better than a kept span was dropped
        W = scores.shape[-1]
        above = sorted(
            (
                scores[b, c, i, w]
                for c in range(scores.shape[1])
                for i in range(n)
                for w in range(W)
                if i + w < n and scores[b, c, i, w] > threshold
            ),
            reverse=True,
        )
        assert sorted(cand.scores.tolist(), reverse=True) == above[: len(cand)]
        # flat selection: no overlap, a subset, greedy and maximal
        chosen = select_flat(cand.starts, cand.ends, cand.scores)
        taken = numpy.zeros(n, dtype=int)
        for k in chosen:
            taken[cand.starts[k] : cand.ends[k]] += 1
        assert taken.max(initial=0) <= 1
        chosen_set = set(chosen.tolist())
        for k in range(len(cand)):
            if k in chosen_set:
                continue
            blockers = [j for j in chosen if cand.starts[j] < cand.ends[k] and cand.starts[k] < cand.ends[j]]
            assert blockers, "a span that overlaps nothing chosen must be chosen (maximality)"
            assert max(cand.scores[j] for j in blockers) >= cand.scores[k], (
                "greedy: a better span was skipped"
            )


MIXED_ALPHABET = st.sampled_from(
    list("北京上海中文字符")
    + list("abcXYZ")
    + list("0123456789")
    + [" ", "😀", "🇨🇳", "e\u0301", "\u0301", "。", "，"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(MIXED_ALPHABET, min_size=1, max_size=30), st.data())
def test_offsets_round_trip_on_mixed_text(pieces, data):
    text = "".join(pieces)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))  # exclusive
    surface = text[start:end]
    s, e = cluener.char_offsets_to_cluener(start, end)
    assert text[s : e + 1] == surface
    assert cluener.cluener_to_char_offsets(s, e) == (start, end)
    line = json.dumps({"text": text, "label": {"x": {surface: [[s, e]]}}}, ensure_ascii=False)
    record = cluener.parse_gold_record(parse_json_line(line, "p.json", 1), "p.json", 1)
    nlp = make_tokenizer("zh")
    try:
        doc = record_to_doc(nlp, record, "sc")[0]
    except FormatError as err:
        # only possible when an edge of the entity is whitespace the tokenizer folds into a token
        assert "token boundaries" in str(err) and (surface[0].isspace() or surface[-1].isspace())
        return
    assert doc.text == text
    assert cluener.cluener_labels(doc, source="spans") == {"x": {surface: [[s, e]]}}


# --- trained pipelines and hostile text ------------------------------------------

EDGE_TEXTS = [
    "",
    "   ",
    "\n\t \n",
    "北",
    "。，！？、；：",
    "北京\x00上海\x07\x1b[31m",
    "哈" * 3000,
    "Beijing北京2024年😀🇨🇳e\u0301 ok",
    "ⅫⅪ \U0001f9ea\U000e0041 ꙮ",
]


@pytest.fixture(scope="module")
def trained_cpu():
    return train_small(20)


def check_edge_texts(nlp):
    singles = [nlp(text) for text in EDGE_TEXTS]
    for text, doc in zip(EDGE_TEXTS, singles):
        assert doc.text == text
        for span in doc.spans["sc"]:
            assert 0 <= span.start < span.end <= len(doc)
        assert len(doc.spans["sc"].attrs["scores"]) == len(doc.spans["sc"])
    batched = list(nlp.pipe(EDGE_TEXTS, batch_size=4))
    for a, b in zip(singles, batched):
        assert [(s.start, s.end, s.label_) for s in a.spans["sc"]] == [
            (s.start, s.end, s.label_) for s in b.spans["sc"]
        ]
        assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]


def test_edge_texts_cpu(trained_cpu):
    check_edge_texts(trained_cpu)


def test_edge_texts_tiny_bert(tmp_path):
    pytest.importorskip("spacy_transformers")
    from helpers.tiny_bert import build_tiny_bert

    from .test_transformer import make_trf_nlp

    fix_random_seed(0)
    path = build_tiny_bert(
        tmp_path / "bert", [t for t, _ in TRAIN_DATA]
    )  # the edge texts are mostly [UNK] to it
    nlp = make_trf_nlp(path)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    check_edge_texts(nlp)


# --- numerics -------------------------------------------------------------------


@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_forward_backward(head_name, dtype):
    torch.manual_seed(0)
    head = build_head(head_name, 16, 3, 8, True).to(dtype)
    X = (torch.randn(2, 30, 16) * 10).to(dtype).requires_grad_(True)
    lengths = torch.tensor([30, 7])
    scores = head(X, lengths)
    gold = torch.zeros(scores.shape, dtype=torch.bool)
    gold[0, 1, 2, 3] = gold[1, 0, 0, 6] = True
    valid = scores > torch.finfo(dtype).min
    loss, d_scores = loss_and_gradient(scores.detach(), gold, valid)
    assert math.isfinite(loss) and torch.isfinite(d_scores).all()
    scores.backward(d_scores)
    assert torch.isfinite(X.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_cpu_autocast_bfloat16_training_step():
    torch.manual_seed(0)
    head = build_head("EfficientGlobalPointer", 16, 3, 8, True)
    X = torch.randn(2, 12, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = head(X, torch.tensor([12, 4]))
    gold = torch.zeros(scores.shape, dtype=torch.bool)
    gold[0, 0, 1, 2] = True
    loss, d_scores = loss_and_gradient(scores.detach(), gold, scores.detach() > torch.finfo(scores.dtype).min)
    scores.backward(d_scores)
    assert math.isfinite(loss) and torch.isfinite(X.grad).all()


def test_pipeline_with_mixed_precision_settings_trains_without_nan():
    nlp = train_small(
        5, model={"mixed_precision": True, "grad_scaler_config": {"init_scale": 65536.0}}
    )  # checks every loss is finite
    head = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0].module
    assert all(torch.isfinite(p).all() for p in head.parameters())


# --- determinism ------------------------------------------------------------------


def test_same_seed_same_weights_and_predictions():
    a, b = train_small(5), train_small(5)
    assert a.get_pipe("globalpointer_ner").to_bytes() == b.get_pipe("globalpointer_ner").to_bytes()
    for text, _ in TRAIN_DATA:
        da, db = a(text), b(text)
        assert [(s.start, s.end, s.label_) for s in da.spans["sc"]] == [
            (s.start, s.end, s.label_) for s in db.spans["sc"]
        ]
        numpy.testing.assert_array_equal(da.spans["sc"].attrs["scores"], db.spans["sc"].attrs["scores"])


# --- bad settings and data -----------------------------------------------------------


def test_gold_under_another_spans_key_is_an_error():
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"spans_key": "ner"})
    examples = make_examples(nlp, spans_key="sc")
    with pytest.raises(ValueError, match=r"span groups \['sc'\] but none under spans_key 'ner'"):
        nlp.initialize(get_examples=lambda: examples)


def test_gold_without_any_annotation_is_an_error():
    nlp = spacy.blank("zh")
    gp = nlp.add_pipe("globalpointer_ner")
    gp.add_label("LOC")
    nlp.initialize()
    from spacy.training import Example

    eg = Example(nlp.make_doc("北京"), nlp.make_doc("北京"))
    with pytest.raises(ValueError, match="neither doc.spans"):
        nlp.update([eg])


# --- safe loading -------------------------------------------------------------------


def test_loading_a_pipeline_unpickles_nothing(trained_cpu, tmp_path, monkeypatch):
    trained_cpu.to_disk(tmp_path)
    head_bytes = trained_cpu.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0].to_bytes()
    assert not head_bytes.startswith(b"\x80")  # not a pickle stream

    def refuse(*args, **kwargs):
        raise AssertionError("loading a pipeline must not unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(srsly, "pickle_loads", refuse)
    nlp = spacy.load(tmp_path)
    doc = nlp("张三在北京大学读书")
    ref = trained_cpu("张三在北京大学读书")
    assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [
        (s.start, s.end, s.label_) for s in ref.spans["sc"]
    ]


def test_predictions_do_not_depend_on_how_a_batch_is_split(trained_cpu):
    """predict groups docs by max_batch_items padded tokens, the model scores
    chunk_size starts at a time and encodes long docs in encoder_window
    windows: every setting must give the same spans and scores."""
    texts = [t for t in EDGE_TEXTS if t.strip()] + ["北京欢迎你。" * n for n in (1, 7, 40)]
    weights = trained_cpu.get_pipe("globalpointer_ner").to_bytes()

    def predictions(max_batch_items=4096, chunk_size=1024, encoder_window=4096):
        nlp = spacy.blank("zh")
        model = {"chunk_size": chunk_size, "encoder_window": encoder_window}
        nlp.add_pipe(
            "globalpointer_ner", config={"max_batch_items": max_batch_items, "model": model}
        ).from_bytes(weights)
        docs = list(nlp.pipe(texts, batch_size=len(texts)))
        return [
            (
                [(s.start, s.end, s.label_) for s in d.spans["sc"]],
                d.spans["sc"].attrs["scores"],
                [(e.start, e.end, e.label_) for e in d.ents],
            )
            for d in docs
        ]

    whole = predictions()
    assert sum(len(spans) for spans, _, _ in whole) > 0
    for kwargs in (
        {"max_batch_items": 1},
        {"max_batch_items": 50},
        {"max_batch_items": 400},
        {"chunk_size": 7},
        {"chunk_size": 100, "encoder_window": 33},
    ):
        for (spans, scores, ents), (spans2, scores2, ents2) in zip(whole, predictions(**kwargs)):
            assert spans2 == spans and ents2 == ents
            numpy.testing.assert_allclose(scores2, scores, rtol=1e-5, atol=1e-5)


SPACES = [" ", "  ", "\n", "\t", "\u3000", "\xa0", "\r\n", "\u2028"]
WHITESPACE_ALPHABET = st.sampled_from(list("北京a1。😀") + SPACES)


@settings(max_examples=300, deadline=None)
@given(st.lists(WHITESPACE_ALPHABET, max_size=25))
def test_char_tokenizer_makes_spacys_char_tokens(pieces):
    """The linear-time tokenizer of the CPU config against spaCy's own zh char tokenizer."""
    from spacy_globalpointer.pipeline.char_tokenizer import ChineseCharTokenizer

    text = "".join(pieces)
    nlp = spacy.blank("zh")
    expected = [t.text_with_ws for t in nlp.tokenizer(text)]
    assert [t.text_with_ws for t in ChineseCharTokenizer(nlp.vocab)(text)] == expected


def test_memory_is_handed_back_once_per_step_not_once_per_component(monkeypatch):
    """Two components updating one after the other trim the heap once: a second trim within
    MIN_INTERVAL is skipped, one after it runs."""
    import sys

    from spacy_globalpointer.pipeline import release_memory

    if not sys.platform.startswith("linux") or release_memory._malloc_trim() is None:
        pytest.skip("no glibc malloc_trim here")
    clock = [1000.0]
    monkeypatch.setattr(release_memory.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(release_memory, "_last", [float("-inf")])
    assert release_memory.release_freed_memory() is True
    clock[0] += release_memory.MIN_INTERVAL / 2
    assert release_memory.release_freed_memory() is False
    clock[0] += release_memory.MIN_INTERVAL
    assert release_memory.release_freed_memory() is True
