"""Living in a real pipeline: other components' entities and span groups,
settings that stick, mixed precision on the head's device, no process-wide
side effects, one warning for too-long gold spans, any band-scoring model."""

import gc
import json
import subprocess
import sys
import textwrap
import warnings
from typing import List, Optional

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, fix_random_seed, get_current_ops

from helpers.toy import TRAIN_DATA, make_examples, train_small
from spacy_globalpointer.ml.torch_gemm import TorchGemmOps

TEXT = "张三在北京大学读书"


@pytest.fixture(scope="module")
def trained():
    """Predicts 张三 PER and 北京大学 ORG (and 北京 LOC) in TEXT."""
    nlp = train_small(60)
    doc = nlp(TEXT)
    spans = {(s.text, s.label_) for s in doc.spans["sc"]}
    assert {("张三", "PER"), ("北京大学", "ORG")} <= spans, spans
    return nlp


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A pipeline made from the CPU config users train with (untrained), saved."""
    from pathlib import Path

    from thinc.api import Config

    config = Config().from_disk(Path(__file__).resolve().parent.parent / "configs" / "cluener_cpu.cfg")
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    examples = make_examples(nlp)
    nlp.initialize(get_examples=lambda: examples)
    path = tmp_path_factory.mktemp("shipped")
    nlp.to_disk(path)
    return path


def clone(nlp: Language, **settings) -> Language:
    """The trained pipeline with other component settings."""
    copy = spacy.blank("zh")
    copy.add_pipe("globalpointer_ner", config=settings).from_bytes(
        nlp.get_pipe("globalpointer_ner").to_bytes()
    )
    return copy


def ents(doc: Doc):
    return [(e.text, e.label_) for e in doc.ents]


# --- coexistence ----------------------------------------------------------------------


def test_entity_ruler_before_keeps_its_entities(trained):
    nlp = clone(trained)
    ruler = nlp.add_pipe("entity_ruler", before="globalpointer_ner")
    ruler.add_patterns([{"label": "GPE", "pattern": "北京"}])
    doc = nlp(TEXT)
    # the ruler's entity stays; ours fill around it (北京大学 overlaps it)
    assert ents(doc) == [("张三", "PER"), ("北京", "GPE")]
    # every predicted span is still in the span group
    assert ("北京大学", "ORG") in {(s.text, s.label_) for s in doc.spans["sc"]}
    # overwriting is a setting: then doc.ents are exactly ours, as without the ruler
    nlp.get_pipe("globalpointer_ner").overwrite_ents = True
    ours = ents(trained(TEXT))
    assert ents(nlp(TEXT)) == ours and ("北京", "GPE") not in ours


def test_entity_ruler_after_adds_around_ours(trained):
    nlp = clone(trained)
    ruler = nlp.add_pipe("entity_ruler", after="globalpointer_ner")
    ruler.add_patterns([{"label": "GPE", "pattern": "北京"}, {"label": "ACT", "pattern": "读书"}])
    doc = nlp(TEXT)
    # ours stay (北京 is inside one of them, so the ruler's is not added); 读书 is free
    ours = ents(trained(TEXT))
    assert any(e.start_char <= TEXT.index("北京") < e.end_char for e in trained(TEXT).ents)
    assert set(ours) <= set(ents(doc)) and ("读书", "ACT") in ents(doc) and ("北京", "GPE") not in ents(doc)


def test_other_span_groups_are_left_alone(trained):
    nlp = clone(trained)

    @Language.component("mark_reading")
    def mark_reading(doc):
        doc.spans["mine"] = [doc.char_span(7, 9, label="ACT")]
        return doc

    nlp.add_pipe("mark_reading", first=True)
    doc = nlp(TEXT)
    assert [(s.text, s.label_) for s in doc.spans["mine"]] == [("读书", "ACT")]
    assert len(doc.spans["sc"]) >= 2


# --- settings that stick -----------------------------------------------------------


def spans_of(doc, key="sc"):
    return [(s.start, s.end, s.label_) for s in doc.spans[key]]


def test_settings_given_at_load_win(trained, tmp_path):
    trained.to_disk(tmp_path)
    base = spacy.load(tmp_path)(TEXT)
    assert any(e - s > 2 for s, e, _ in spans_of(base))
    overrides = {"threshold": 5.0, "max_span_length": 2, "spans_key": "ner"}
    nlp = spacy.load(tmp_path, config={"components": {"globalpointer_ner": overrides}})
    gp = nlp.get_pipe("globalpointer_ner")
    assert (gp.threshold, gp.max_span_length, gp.spans_key) == (5.0, 2, "ner")
    doc = nlp(TEXT)
    assert "sc" not in doc.spans and "ner" in doc.spans
    assert all(e - s <= 2 for s, e, _ in spans_of(doc, "ner"))
    assert all(v > 5.0 for v in doc.spans["ner"].attrs["scores"])
    assert len(doc.spans["ner"]) < len(base.spans["sc"])


def test_settings_changed_on_the_component_stick_through_save_and_load(trained, tmp_path):
    nlp = clone(trained)
    gp = nlp.get_pipe("globalpointer_ner")
    gp.threshold, gp.max_span_length, gp.spans_key = 3.0, 3, "other"
    expected = spans_of(nlp(TEXT), "other")
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    gp2 = loaded.get_pipe("globalpointer_ner")
    assert (gp2.threshold, gp2.max_span_length, gp2.spans_key) == (3.0, 3, "other")
    assert spans_of(loaded(TEXT), "other") == expected
    # and a value given at load still wins over the saved one
    again = spacy.load(tmp_path, config={"components": {"globalpointer_ner": {"threshold": -1.0}}})
    assert again.get_pipe("globalpointer_ner").threshold == -1.0


def test_bad_settings_fail_loudly(trained):
    gp = clone(trained).get_pipe("globalpointer_ner")
    for name, value in (
        ("threshold", "high"),
        ("max_span_length", 0),
        ("spans_key", ""),
        ("max_batch_items", 0),
    ):
        with pytest.raises(ValueError, match=name):
            setattr(gp, name, value)


# --- mixed precision follows the head's device ----------------------------------------


def test_mixed_precision_on_cpu_when_cuda_exists(monkeypatch):
    """Training on the CPU of a machine with a GPU: the scaler must stay off
    (thinc's scaler fails on CPU tensors)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    nlp = train_small(3, model={"mixed_precision": True})  # checks every loss is finite
    shim = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0]
    assert not shim._mixed_precision and not shim._grad_scaler._enabled


# --- no process-wide side effects -----------------------------------------------------

STATE = textwrap.dedent(
    """
    import json, os, sys
    import srsly.msgpack, torch
    from thinc.api import get_current_ops

    def state():
        regs = (srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders)
        return {
            "srsly_patched": [("get_all" in vars(r)) for r in regs],
            "ops": type(get_current_ops()).__name__,
            "threads": torch.get_num_threads(),
        }

    def child_threads():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, str(torch.get_num_threads()).encode()); os._exit(0)
        os.waitpid(pid, 0)
        return int(os.read(r, 16))
    """
)


def run_python(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", STATE + textwrap.dedent(code)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_and_use_change_no_global_state(shipped):
    out = run_python(
        f"""
        torch.set_num_threads(2)
        before = {{**state(), "child": child_threads()}}
        import spacy_globalpointer
        after_import = {{**state(), "child": child_threads()}}
        import spacy
        nlp = spacy.load({str(shipped)!r})
        docs = list(nlp.pipe(["张三在北京大学读书"] * 20))
        after_use = {{**state(), "child": child_threads()}}
        print(json.dumps([before, after_import, after_use]))
        """
    )
    before, after_import, after_use = out
    assert before == after_import == after_use, out
    assert before["srsly_patched"] == [False, False] and before["ops"] == "NumpyOps"
    assert before["child"] == 2  # no fork hook sets a forked child's threads


STOCK = """
import spacy
from thinc.api import fix_random_seed, NumpyOps
fix_random_seed(0)
stock = spacy.blank("en")
stock.add_pipe("textcat")
texts = ["a good day", "a bad day", "nothing at all"]
cats = [{{"POS": i == 0, "NEG": i == 1}} for i in range(3)]
examples = [spacy.training.Example.from_dict(stock.make_doc(t), {{"cats": c}}) for t, c in zip(texts, cats)]
stock.initialize(lambda: examples)
cats = [stock(t).cats for t in texts]
ops = sorted({{type(n.ops).__name__ for n in stock.get_pipe("textcat").model.walk()}})
print(json.dumps({{"cats": cats, "ops": ops}}))
"""


def test_stock_pipeline_next_to_ours_is_unchanged(shipped):
    alone = run_python(STOCK.format())
    beside = run_python(
        f"import spacy\nours = spacy.load({str(shipped)!r})\nours('张三在北京大学读书')\n" + STOCK.format()
    )
    assert beside == alone
    assert alone["ops"] == ["NumpyOps"]


def test_our_speedups_stay_in_our_model(trained):
    gp = trained.get_pipe("globalpointer_ner")
    assert {type(n.ops) for n in gp.model.get_ref("tok2vec").walk()} == {TorchGemmOps}
    assert type(get_current_ops()).__name__ == "NumpyOps"
    no_gemm = spacy.blank("zh").add_pipe("globalpointer_ner", config={"model": {"torch_gemm": False}})
    assert TorchGemmOps not in {type(n.ops) for n in no_gemm.model.walk()}


def test_deprecated_global_ops_callback_warns():
    from thinc.api import set_current_ops

    from spacy_globalpointer.ml.torch_gemm import make_torch_cpu_ops

    ops = get_current_ops()
    try:
        with pytest.warns(FutureWarning, match="whole process"):
            make_torch_cpu_ops()(None)
    finally:
        set_current_ops(ops)


def test_cached_msgpack_lookup_is_scoped_and_follows_registrations():
    import srsly
    from srsly import msgpack

    from spacy_globalpointer.training.msgpack_cache import cached_msgpack_lookup

    class Point:
        def __init__(self, x):
            self.x = x

    def encode(obj, chain=None):
        return {"__point__": obj.x} if isinstance(obj, Point) else (obj if chain is None else chain(obj))

    def decode_a(obj, chain=None):
        return ("a", obj["__point__"]) if "__point__" in obj else (obj if chain is None else chain(obj))

    def decode_b(obj, chain=None):
        return ("b", obj["__point__"]) if "__point__" in obj else (obj if chain is None else chain(obj))

    with cached_msgpack_lookup():
        assert "get_all" in vars(msgpack.msgpack_decoders)
        msgpack.msgpack_encoders.register("gp_test_point", func=encode)
        msgpack.msgpack_decoders.register("gp_test_point", func=decode_a)
        data = srsly.msgpack_dumps(Point(3))
        assert srsly.msgpack_loads(data) == ("a", 3)
        # re-registering the same name (the registry keeps its size) is seen
        msgpack.msgpack_decoders.register("gp_test_point", func=decode_b)
        assert srsly.msgpack_loads(data) == ("b", 3)
    assert "get_all" not in vars(msgpack.msgpack_decoders)


# --- one warning for gold spans longer than max_span_length --------------------------


def test_too_long_gold_spans_warn_once_with_total_at_the_end(capfd):
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner", config={"max_span_length": 3})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    too_long = sum(1 for _, ents in TRAIN_DATA for surface, _ in ents if len(surface) > 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(4):
            nlp.update(examples, sgd=optimizer)
    relevant = [w for w in caught if "max_span_length" in str(w.message)]
    assert len(relevant) == 1
    assert nlp.get_pipe("globalpointer_ner").too_long_gold_spans == 4 * too_long
    capfd.readouterr()
    del nlp, optimizer
    gc.collect()
    printed = " ".join(capfd.readouterr().out.split())
    assert f"{4 * too_long} gold span(s) in training were longer than max_span_length=3" in printed


# --- the model is only used as a model ---------------------------------------------------


@registry.architectures("test.StartEndScorer.v1")
def start_end_scorer(tok2vec: Model, nO: Optional[int] = None) -> Model[List[Doc], numpy.ndarray]:
    """A minimal pure-thinc span scorer: score(i, i + w, c) = start[i, c] +
    end[i + w, c], every span of the doc (W = L), in band layout."""
    from thinc.api import Linear

    def forward(model, docs, is_train):
        vectors, backprop_t2v = model.layers[0](docs, is_train)
        lengths = [len(v) for v in vectors]
        L, C = max(lengths, default=0), model.get_dim("nO")
        flat = model.ops.xp.concatenate(vectors) if vectors else model.ops.alloc2f(0, 0)
        se, backprop_lin = model.layers[1](flat, is_train)  # (tokens, 2C)
        scores = model.ops.alloc4f(len(docs), C, L, L) - 1e4
        pos, rows = 0, []
        for b, n in enumerate(lengths):
            start, end = se[pos : pos + n, :C], se[pos : pos + n, C:]
            for w in range(n):
                scores[b, :, : n - w, w] = (start[: n - w] + end[w:]).T
            rows.append((pos, n))
            pos += n

        def backprop(d_scores):
            d_se = model.ops.alloc2f(*se.shape)
            for b, (pos, n) in enumerate(rows):
                for w in range(n):
                    d = d_scores[b, :, : n - w, w].T
                    d_se[pos : pos + n - w, :C] += d
                    d_se[pos + w : pos + n, C:] += d
            d_flat = backprop_lin(d_se)
            return backprop_t2v([d_flat[p : p + n] for p, n in rows])

        return scores, backprop

    def init(model, X=None, Y=None):
        model.layers[0].initialize(X=X)
        model.layers[1].set_dim("nO", 2 * model.get_dim("nO"))
        model.layers[1].initialize()

    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else 96
    return Model("start_end", forward, init=init, layers=[tok2vec, Linear(nI=width)], dims={"nO": nO})


def test_any_band_scoring_model_works(tmp_path):
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    model = {
        "@architectures": "test.StartEndScorer.v1",
        "tok2vec": {
            "@architectures": "spacy.HashEmbedCNN.v2",
            "width": 96,
            "depth": 2,
            "embed_size": 2000,
            "window_size": 1,
            "maxout_pieces": 3,
            "subword_features": False,
            "pretrained_vectors": None,
        },
    }
    nlp.add_pipe("globalpointer_ner", config={"model": model})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for step in range(300):
        nlp.update(examples, sgd=optimizer)
        if step % 20 == 19 and nlp.evaluate(examples)["spans_sc_f"] == 1.0:
            break
    assert nlp.evaluate(examples)["spans_sc_f"] == 1.0
    texts = [t for t, _ in TRAIN_DATA]
    before = [spans_of(nlp(t)) for t in texts]
    nlp.to_disk(tmp_path)
    assert [spans_of(d) for d in spacy.load(tmp_path).pipe(texts)] == before


# --- the CLI under spaCy's own ---------------------------------------------------------


def test_spacy_cli_lists_our_commands():
    """`spacy globalpointer --help` (spaCy's spacy_cli entry point) lists every command."""
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "globalpointer", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for command in ("convert", "predict", "score", "calibrate", "interactive"):
        assert f" {command} " in proc.stdout, proc.stdout
