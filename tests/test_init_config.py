"""`spacy globalpointer init-config`: a complete config per language (CPU)
and for a transformer (a tiny local BERT), each passing `spacy debug config`
and training 20 steps; labels, max_span_length and the selection metric
read from the training data."""

import json
import subprocess
import sys

import pytest
import spacy
from thinc.api import Config
from typer.testing import CliRunner

from helpers.toy import TRAIN_DATA
from spacy_globalpointer.cli import app
from spacy_globalpointer.training.convert import convert, make_tokenizer

runner = CliRunner()
WORDS = [
    (
        "Barack Obama visited New York City",
        [("Barack Obama", "PER"), ("New York City", "LOC"), ("New York", "LOC")],
    ),
    ("Angela Merkel besuchte Berlin gestern", [("Angela Merkel", "PER"), ("Berlin", "LOC")]),
    ("The University of Paris is in Paris", [("University of Paris", "ORG"), ("Paris", "LOC")]),
    ("Nothing to see here", []),
]


def corpus(tmp_path, data, lang, relations=None):
    """data converted as a user would: spans JSON lines, then convert --lang;
    ``relations``, per text: (head entity, tail entity, label) by index."""
    records = []
    for k, (text, ents) in enumerate(data):
        spans = []
        for surface, label in ents:
            start = text.index(surface)
            spans.append({"start": start, "end": start + len(surface), "label": label})
        records.append({"text": text, "spans": spans})
        if relations is not None:
            records[-1]["relations"] = [
                {"head_span": spans[h], "child_span": spans[t], "label": label}
                for h, t, label in relations[k]
            ]
    src = tmp_path / "data.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf8")
    convert([src], tmp_path / "train.spacy", nlp=make_tokenizer(lang), progress=False)
    return tmp_path / "train.spacy"


def spacy_cli(*args):
    result = subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def init_config(tmp_path, *args):
    cfg = tmp_path / "config.cfg"
    result = runner.invoke(app, ["init-config", str(cfg), *args])
    assert result.exit_code == 0, result.output
    return cfg, Config().from_disk(cfg)


def debug_and_train(cfg, train, tmp_path, *overrides):
    paths = ["--paths.train", str(train), "--paths.dev", str(train)]
    spacy_cli("debug", "config", str(cfg), *paths, *overrides)
    steps = ["--training.max_steps", "20", "--training.eval_frequency", "10"]
    out = spacy_cli("train", str(cfg), "--output", str(tmp_path / "out"), *paths, *steps, *overrides)
    assert "Saved pipeline" in out
    return spacy.load(tmp_path / "out" / "model-last")


@pytest.mark.parametrize("lang", ["en", "de", "xx", "zh"])
def test_cpu_config_per_language_trains(tmp_path, lang):
    data = TRAIN_DATA if lang == "zh" else WORDS
    train = corpus(tmp_path, data, lang)
    cfg, config = init_config(tmp_path, "--lang", lang, "--train", str(train))
    assert config["nlp"]["lang"] == lang
    gp = config["components"]["globalpointer_ner"]
    labels = sorted({label for _, ents in data for _, label in ents})
    assert config["initialize"]["components"]["globalpointer_ner"]["labels"] == labels
    longest = max(len(make_tokenizer(lang)(surface)) for _, ents in data for surface, _ in ents)
    assert gp["max_span_length"] == longest
    weights = config["training"]["score_weights"]
    assert weights["spans_sc_f"] == 1.0 and weights["ents_f"] == 0.0  # both data sets nest
    embed = gp["model"]["tok2vec"]["embed"]["@architectures"]
    assert embed == ("spacy_globalpointer.NgramHashEmbed.v2" if lang == "zh" else "spacy.MultiHashEmbed.v2")
    nlp = debug_and_train(cfg, train, tmp_path)
    assert nlp.lang == lang and nlp.get_pipe("globalpointer_ner").labels == tuple(labels)


def test_flat_data_is_selected_on_ents_and_no_data_on_spans(tmp_path):
    flat = [(text, ents[:1]) for text, ents in WORDS]
    train = corpus(tmp_path, flat, "en")
    _, config = init_config(tmp_path, "--lang", "en", "--train", str(train))
    assert config["training"]["score_weights"]["ents_f"] == 1.0
    assert config["training"]["score_weights"]["spans_sc_f"] == 0.0
    _, config = init_config(tmp_path, "--lang", "en")
    assert config["components"]["globalpointer_ner"]["max_span_length"] == 64
    assert "labels" not in config["initialize"]["components"]["globalpointer_ner"]
    result = runner.invoke(app, ["init-config", str(tmp_path / "x.cfg"), "--lang", "qq"])
    assert result.exit_code == 1 and "qq" in result.output


def test_data_with_relations_adds_the_relation_component_on_one_tok2vec(tmp_path):
    """With relations in --train: globalpointer_rel beside the entities on a
    shared tok2vec, its labels and distance bound from the data, selection on
    both; it passes debug config and trains."""
    rels = [[(0, 1, "visited"), (2, 1, "part_of")], [(0, 1, "visited")], [(0, 1, "located_in")], []]
    train = corpus(tmp_path, WORDS, "en", rels)
    cfg, config = init_config(tmp_path, "--lang", "en", "--train", str(train))
    assert config["nlp"]["pipeline"] == ["tok2vec", "globalpointer_ner", "globalpointer_rel"]
    for name in ("globalpointer_ner", "globalpointer_rel"):
        assert config["components"][name]["model"]["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"
    assert config["initialize"]["components"]["globalpointer_rel"]["labels"] == [
        "located_in",
        "part_of",
        "visited",
    ]
    # Barack Obama -> New York City: starts 3 tokens apart, ends 4 (spaCy's English tokens)
    rel = config["components"]["globalpointer_rel"]
    assert rel["max_distance"] == 4 and rel["negative_spans"] == 0.25 and rel["schema_filter"]
    assert rel["model"]["@architectures"] == "spacy_globalpointer.RelationPointer.v2"
    # The sentence's context is in the shared tok2vec, read by both components, not in the relation model.
    encode = config["components"]["tok2vec"]["model"]["encode"]
    assert encode["@architectures"] == "spacy_globalpointer.ContextEncoder.v1" and encode["context"] == "lstm"
    assert encode["local"]["@architectures"] == "spacy.MaxoutWindowEncoder.v2"
    assert rel["model"]["context_depth"] == 0
    assert rel["model"]["head_size"] == 32 and rel["model"]["initial_bias"] == -5.0
    assert config["initialize"]["components"]["globalpointer_rel"]["entity_labels"] == ["LOC", "ORG", "PER"]
    weights = config["training"]["score_weights"]
    assert weights["rel_micro_f"] == 0.5 and weights["spans_sc_f"] == 0.5
    nlp = debug_and_train(cfg, train, tmp_path)
    assert nlp.pipe_names == ["tok2vec", "globalpointer_ner", "globalpointer_rel"]
    meta = json.loads((tmp_path / "out" / "model-last" / "meta.json").read_text())
    assert "rel_micro_f" in meta["performance"]


def test_gpu_config_with_a_local_transformer_trains(tmp_path):
    pytest.importorskip("spacy_transformers")
    from helpers.tiny_bert import build_tiny_bert

    bert = build_tiny_bert(tmp_path / "bert", [t for t, _ in WORDS], hidden_size=32, layers=1, heads=2)
    train = corpus(tmp_path, WORDS, "en")
    cfg, config = init_config(
        tmp_path, "--lang", "en", "--gpu", "--transformer", str(bert), "--train", str(train)
    )
    assert config["components"]["transformer"]["model"]["name"] == str(bert)
    assert config["components"]["transformer"]["model"]["get_spans"]["max_positions"] == 512
    assert config["nlp"]["pipeline"] == ["transformer", "globalpointer_ner"]
    # On this CPU-only machine: mixed precision off (a CUDA feature), a few steps.
    cpu = ["--components.transformer.model.mixed_precision", "false", "--training.max_epochs", "0"]
    nlp = debug_and_train(cfg, train, tmp_path, *cpu)
    doc = nlp("Barack Obama visited New York City")
    assert "sc" in doc.spans


def test_default_transformer_follows_spacys_quickstart(tmp_path):
    from spacy_globalpointer.training.init_config import default_transformer

    assert default_transformer("en") == "roberta-base" and default_transformer("zh") == "bert-base-chinese"
    assert default_transformer("xx") == "bert-base-multilingual-uncased"
    _, config = init_config(tmp_path, "--lang", "de", "--gpu")
    assert config["components"]["transformer"]["model"]["name"] == "bert-base-german-cased"


def vectors_folder(tmp_path, words, width=8):
    """A small vectors table in a folder as `spacy init vectors` writes one (a pipeline folder whose
    vocab holds the vectors)."""
    import numpy

    nlp = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    for word in sorted(words):
        nlp.vocab.set_vector(word, rng.normal(size=width).astype("float32"))
    folder = tmp_path / "vectors"
    nlp.to_disk(folder)
    return folder


@pytest.mark.parametrize("with_relations", [False, True])
def test_vectors_are_embedded_by_the_entity_and_relation_recipes(tmp_path, with_relations):
    words = {w for text, _ in WORDS for w in text.split()}
    vectors = vectors_folder(tmp_path, words)
    rels = [[(0, 1, "visited")], [(0, 1, "visited")], [(0, 1, "located_in")], []] if with_relations else None
    train = corpus(tmp_path, WORDS, "en", rels)
    cfg, config = init_config(tmp_path, "--lang", "en", "--train", str(train), "--vectors", str(vectors))
    assert config["paths"]["vectors"] == str(vectors) and config["initialize"]["vectors"] == str(vectors)
    tok2vec = config["components"]["tok2vec" if with_relations else "globalpointer_ner"]["model"]
    tok2vec = tok2vec if with_relations else tok2vec["tok2vec"]
    assert tok2vec["embed"]["include_static_vectors"] is True
    nlp = debug_and_train(cfg, train, tmp_path)
    assert nlp.vocab.vectors.n_keys == len(words) and nlp.vocab.vectors.shape[1] == 8
    layers = {
        layer.name for name, pipe in nlp.pipeline if hasattr(pipe, "model") for layer in pipe.model.walk()
    }
    assert "static_vectors" in layers


def test_vectors_that_cannot_be_used_are_an_error_naming_the_folder(tmp_path):
    vectors = vectors_folder(tmp_path, {"Obama"})
    for args, said in (
        (["--lang", "en", "--gpu"], "static vectors are for the CPU recipes"),
        (["--lang", "zh"], "takes no static vectors"),
    ):
        result = runner.invoke(
            app, ["init-config", str(tmp_path / "x.cfg"), *args, "--vectors", str(vectors)]
        )
        assert result.exit_code == 1 and str(vectors) in result.output and said in result.output
    result = runner.invoke(
        app, ["init-config", str(tmp_path / "x.cfg"), "--lang", "en", "--vectors", str(tmp_path)]
    )
    assert result.exit_code == 1 and "not a spaCy vectors folder" in result.output


@pytest.mark.parametrize(
    "n_labels, head_size", [(0, 32), (5, 32), (12, 32), (13, 16), (24, 16), (25, 8), (48, 8), (90, 8)]
)
def test_the_relation_head_size_shrinks_as_the_labels_grow(n_labels, head_size):
    """labels x head_size within 384 where a size fits, the smallest size beyond."""
    from spacy_globalpointer.training.init_config import relation_head_size

    assert relation_head_size(n_labels) == head_size


def test_a_set_of_many_relation_labels_gets_a_smaller_head(tmp_path):
    data = [(f"Barack Obama visited New York City {k}", WORDS[0][1]) for k in range(30)]
    rels = [[(0, 1, f"rel_{k}")] for k in range(30)]
    _, config = init_config(tmp_path, "--lang", "en", "--train", str(corpus(tmp_path, data, "en", rels)))
    model = config["components"]["globalpointer_rel"]["model"]
    assert len(config["initialize"]["components"]["globalpointer_rel"]["labels"]) == 30
    assert model["head_size"] == 8 and model["head"] == "GlobalPointer"
