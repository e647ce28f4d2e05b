"""The spacy-curated-transformers path, offline: tiny random BERT checkpoint folders written with torch
alone (Hugging Face's names and files), in both weight formats.

The curated path must work where `transformers` is not installed. So the tests marked `without_transformers`
run in a child pytest whose `transformers` cannot be imported (`test_curated_tests_without_transformers`
starts it, with `tests/no_transformers` first on PYTHONPATH); in this process they are skipped. To run some
of them alone, there:

    SPACY_GP_TEST_NO_TRANSFORMERS=1 PYTHONPATH=tests/no_transformers pytest tests/test_curated.py -k NAME
"""

import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import spacy
from numpy.testing import assert_equal
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import Config, fix_random_seed

from helpers.tiny_bert import write_tiny_bert_checkpoint
from helpers.toy import TRAIN_DATA, make_examples

pytest.importorskip("spacy_curated_transformers")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "cluener_curated.cfg"
HIDE = Path(__file__).resolve().parent / "no_transformers"  # its sitecustomize.py hides transformers
BLOCKED = os.environ.get("SPACY_GP_TEST_NO_TRANSFORMERS") == "1"
without_transformers = pytest.mark.skipif(
    not BLOCKED, reason="run without transformers by test_curated_tests_without_transformers"
)
TEXTS = [t for t, _ in TRAIN_DATA] + ["a" * 10, "😀"]


def test_curated_tests_without_transformers(request):
    if BLOCKED:
        pytest.skip("this is the child")
    env = {
        **os.environ,
        "SPACY_GP_TEST_NO_TRANSFORMERS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HIDE), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-rs"]
    if request.config.option.markexpr:  # -m "not slow" here is -m "not slow" there
        cmd += ["-m", request.config.option.markexpr]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    print(f"\nwithout transformers: {summary}")
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in summary and "run without transformers by" not in proc.stdout, proc.stdout[-3000:]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The same random weights in each format, and a second, different BERT."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        fmt: write_tiny_bert_checkpoint(root / fmt, TEXTS, weights=fmt, hidden_size=32)
        for fmt in ("safetensors", "bin")
    }


def filled_config(folder, **overrides) -> Config:
    from spacy_globalpointer.transformers.fill_curated_config import fill_curated_config

    config = fill_curated_config(Config().from_disk(CONFIG, interpolate=False), folder)
    for key, value in {
        "components.transformer.model.mixed_precision": False,  # a CPU: the gradient scaler needs CUDA
        "components.globalpointer_ner.model.head_size": 16,
        "training.optimizer.learn_rate": 0.001,
        **overrides,
    }.items():
        *path, last = key.split(".")
        section = config
        for part in path:
            section = section[part]
        section[last] = value
    config["initialize"]["components"]["globalpointer_ner"] = {}  # labels from the examples
    return Config().from_str(config.to_str(interpolate=False))


def make_nlp(folder, **overrides):
    return spacy.util.load_model_from_config(
        filled_config(folder, **overrides), auto_fill=True, validate=True
    )


def spans_of(doc):
    return [(s.start, s.end, s.label_) for s in doc.spans["sc"]]


def encoder_of(nlp):
    return nlp.get_pipe("transformer").model.get_ref("transformer").shims[0]._model


@without_transformers
def test_transformers_cannot_be_imported():
    import importlib.metadata

    from spacy_curated_transformers import _compat

    for name in ("transformers", "spacy_transformers"):
        with pytest.raises(ImportError):
            __import__(name)
    assert not _compat.has_hf_transformers
    assert "transformers" not in {d.metadata["Name"] for d in importlib.metadata.distributions()}


@pytest.fixture(scope="module")
def trained(checkpoints, tmp_path_factory):
    """A pipeline trained until every nested gold span of the toy data comes out, saved, and the
    checkpoint folder it was initialized from moved away before anything loads the saved one."""
    folder = shutil.copytree(checkpoints["safetensors"], tmp_path_factory.mktemp("moved") / "bert")
    fix_random_seed(0)
    nlp = make_nlp(folder)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for step in range(1, 301):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 0 and nlp.evaluate(examples)["spans_sc_f"] == 1.0:
            break
    assert nlp.evaluate(examples)["spans_sc_f"] == 1.0, f"not learned in {step} updates"
    path = tmp_path_factory.mktemp("trained") / "pipeline"
    nlp.to_disk(path)
    shutil.rmtree(folder)
    return nlp, path


@without_transformers
def test_nested_spans_come_out(trained):
    nlp, _ = trained
    doc = nlp("张三在北京大学读书")
    assert sorted(spans_of(doc)) == [(0, 2, "PER"), (3, 5, "LOC"), (3, 7, "ORG")]
    ents = [(e.start, e.end, e.label_) for e in doc.ents]  # the flat choice among them
    assert set(ents) <= set(spans_of(doc)) and all(a[1] <= b[0] for a, b in zip(ents, ents[1:]))


@without_transformers
def test_save_and_load_give_identical_scores(trained):
    nlp, path = trained
    loaded = spacy.load(path)  # the checkpoint folder is gone: the pipeline needs nothing of it
    assert loaded.pipe_names == ["transformer", "globalpointer_ner"]
    for text in TEXTS:
        doc, doc2 = nlp(text), loaded(text)
        assert spans_of(doc) == spans_of(doc2)
        assert_equal(doc.spans["sc"].attrs["scores"], doc2.spans["sc"].attrs["scores"])
    for (name, a), (name2, b) in zip(
        encoder_of(nlp).state_dict().items(), encoder_of(loaded).state_dict().items()
    ):
        assert name == name2
        assert_equal(a.numpy(), b.numpy())


LONG_DOC = """
import json, sys
import spacy
from pathlib import Path

def status():
    lines = Path("/proc/self/status").read_text().splitlines()
    return {k: int(v.split()[0]) / 1024 for k, _, v in (x.partition(":") for x in lines) if v.endswith(" kB")}

nlp = spacy.load(sys.argv[1])
nlp("张三在北京大学读书")  # everything lazily built is built
text = sys.argv[2]
before = status()["VmRSS"]
doc = nlp(text)
vectors = doc._.trf_data.last_hidden_layer_state
print(json.dumps({"grew_mb": status()["VmHWM"] - before, "n_tokens": len(doc),
                  "pieces_per_token": vectors.lengths.tolist(),
                  "last_norm": float(abs(vectors[-1].data).sum()),
                  "spans": [(s.start, s.end, s.label_) for s in doc.spans["sc"]]}))
"""


@without_transformers
def test_ten_thousand_characters_in_bounded_memory(trained):
    """Strided windows of wordpieces (one pass of the whole doc would exceed the 512 positions) and the
    head's chunks of start positions: the peak grows with the doc's length, as its vectors and band do,
    not with its square (10,000² scores of one label alone would be 400 MB). Each doc is predicted in a
    fresh process, after a short one, and the growth of its peak is measured."""
    _, path = trained
    unit = "".join(t for t, _ in TRAIN_DATA)
    runs = {}
    for n in (1_000, 10_000):
        text = (unit * (n // len(unit) + 1))[:n]
        proc = subprocess.run(
            [sys.executable, "-c", LONG_DOC, str(path), text], capture_output=True, text=True, check=True
        )
        runs[n] = out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["n_tokens"] == n
        # every character is one wordpiece, and each has its vector: the windows cover the doc to its end
        assert out["pieces_per_token"] == [1] * n and out["last_norm"] > 0
        assert out["spans"] and all(0 <= s < e <= n and e - s <= 50 for s, e, _ in out["spans"])
    grew = {n: out["grew_mb"] for n, out in runs.items()}
    print(f"\npeak grew {grew[1_000]:.0f} MB for 1,000 characters, {grew[10_000]:.0f} MB for 10,000")
    assert grew[10_000] < 150
    assert grew[10_000] < 20 * max(grew[1_000], 1.0)  # 10x the length: 10x the memory, not 100x


def write_docbin(path, nlp):
    from spacy.tokens import DocBin

    DocBin(docs=[eg.reference for eg in make_examples(nlp)]).to_disk(path)
    return path


@without_transformers
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_spacy_train_from_each_weight_format(checkpoints, tmp_path, fmt):
    """The fill step and `spacy train` from a checkpoint folder, as a user runs them."""
    filled = tmp_path / "train.cfg"
    fill = [
        sys.executable,
        "-m",
        "spacy_globalpointer",
        "fill-curated-config",
        CONFIG,
        checkpoints[fmt],
        filled,
    ]
    subprocess.run(fill, check=True, capture_output=True, text=True)
    corpus = write_docbin(tmp_path / "train.spacy", spacy.blank("zh"))
    out = tmp_path / "training"
    cmd = [sys.executable, "-m", "spacy", "train", filled, "--output", out]
    cmd += ["--paths.train", corpus, "--paths.dev", corpus, "--paths.labels", tmp_path / "no_labels"]
    cmd += ["--components.transformer.model.mixed_precision", "false", "--system.gpu_allocator", "null"]
    cmd += ["--training.optimizer.learn_rate", "0.001", "--training.max_steps", "40"]
    cmd += ["--training.eval_frequency", "20"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    meta = json.loads((out / "model-best" / "meta.json").read_text())
    assert meta["pipeline"] == ["transformer", "globalpointer_ner"]
    nlp = spacy.load(out / "model-best")
    # meta.json's score is what model-best scores on the dev corpus, evaluated again here.
    dev = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    again = nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in dev])
    assert meta["performance"]["spans_sc_f"] == pytest.approx(again["spans_sc_f"])
    assert encoder_of(nlp).curated_encoder.embeddings.word_embeddings.embedding_dim == 32


@without_transformers
@pytest.mark.slow
def test_project_workflow(cluener_dir, tmp_path):
    """`spacy project run all-curated` with a local BERT folder: model, metrics, submission, wheel."""
    import spacy.cli  # noqa: F401 (the project commands)

    project = tmp_path / "project"
    project.mkdir()
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    data = tmp_path / "cluener"
    data.mkdir()
    for split, n in (("train", 200), ("dev", 50), ("test", 20)):
        with open(cluener_dir / f"{split}.json", encoding="utf8") as f:
            (data / f"{split}.json").write_text(
                "".join(line for _, line in zip(range(n), f)), encoding="utf8"
            )
    texts = [
        json.loads(line)["text"] for line in (data / "train.json").read_text(encoding="utf8").splitlines()
    ]
    bert = write_tiny_bert_checkpoint(tmp_path / "bert", texts, hidden_size=32, layers=1)
    args = ["--vars.config=cluener_curated", f"--vars.transformer={bert}", f"--vars.cluener_dir={data}"]
    args += ["--vars.trf_epochs=1", "--vars.trf_mixed_precision=false"]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = [bin_dir / "spacy", "project", "run", "all-curated", project, *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    model = project / "training" / "cluener_curated" / "model-calibrated"
    assert json.loads((model / "meta.json").read_text())["pipeline"] == ["transformer", "globalpointer_ner"]
    assert set(json.loads((project / "metrics" / "cluener_curated_cluener.json").read_text())) == {
        "exact",
        "official",
    }
    submission = (project / "predictions" / "cluener_curated" / "cluener_predict.json").read_text()
    assert [json.loads(line)["id"] for line in submission.splitlines()] == list(range(20))
    assert next((project / "packages" / "cluener_curated").glob("zh_cluener_gp-*/dist/*.whl"))


@without_transformers
def test_both_formats_load_the_same_weights_as_curated_own_loader(checkpoints):
    """Our loader on model.safetensors, ours on pytorch_model.bin, and curated's PyTorchCheckpointLoader.v1
    on pytorch_model.bin give the same parameters, bit for bit; and they are the file's (curated's
    merged query/key/value projection is the three of them stacked)."""
    import torch
    from safetensors.torch import load_file

    states, loaders = [], []
    for fmt, loader in (("safetensors", None), ("bin", None), ("bin", "curated")):
        overrides = {}
        if loader:
            overrides["initialize.components.transformer.encoder_loader"] = {
                "@model_loaders": "spacy-curated-transformers.PyTorchCheckpointLoader.v1",
                "path": str(checkpoints[fmt] / "pytorch_model.bin"),
            }
        nlp = make_nlp(checkpoints[fmt], **overrides)
        nlp.initialize(get_examples=lambda: make_examples(nlp))
        states.append(encoder_of(nlp).state_dict())
        loaders.append(nlp.get_pipe("transformer").model.get_ref("transformer").init)
    for state in states[1:]:
        assert list(state) == list(states[0])
        for name in state:
            assert_equal(state[name].numpy(), states[0][name].numpy())
    hf = load_file(str(checkpoints["safetensors"] / "model.safetensors"))
    ours = pickle.loads(pickle.dumps(loaders[0]))  # a pipeline with it pickles (spawned workers)
    assert ours.folder == checkpoints["safetensors"]
    prefix = "curated_encoder.layers.1.mha.input."
    for kind in ("weight", "bias"):
        stacked = torch.cat(
            [hf[f"encoder.layer.1.attention.self.{p}.{kind}"] for p in ("query", "key", "value")]
        )
        assert_equal(states[0][prefix + kind].numpy(), stacked.numpy())
    assert_equal(
        states[0]["curated_encoder.embeddings.word_embeddings.weight"].numpy(),
        hf["embeddings.word_embeddings.weight"].numpy(),
    )


@without_transformers
def test_checkpoint_of_a_pretraining_model_loads_its_encoder(checkpoints, tmp_path):
    """Checkpoints saved from BertForMaskedLM / BertForPreTraining (most Chinese BERTs) name the encoder's
    parameters with a ``bert.`` prefix, beside the heads' ``cls.*``: the same encoder comes out."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = copy_checkpoint(checkpoints["safetensors"], tmp_path / "bert")
    state = {f"bert.{k}": v for k, v in load_file(str(folder / "model.safetensors")).items()}
    state["cls.predictions.bias"] = torch.zeros(3)
    save_file(state, str(folder / "model.safetensors"))
    loaded = []
    for source in (checkpoints["safetensors"], folder):
        nlp = make_nlp(source)
        nlp.initialize(get_examples=lambda: make_examples(nlp))
        loaded.append(encoder_of(nlp).state_dict())
    assert list(loaded[0]) == list(loaded[1])
    for name in loaded[0]:
        assert_equal(loaded[0][name].numpy(), loaded[1][name].numpy())


def initialize_error(folder, config_folder=None) -> str:
    """The error of initializing from ``folder`` a pipeline whose config was filled from ``config_folder``."""
    nlp = make_nlp(
        config_folder or folder, **{"initialize.components.transformer.encoder_loader.path": str(folder)}
    )
    with pytest.raises(ValueError) as e:
        nlp.initialize(get_examples=lambda: make_examples(nlp))
    return str(e.value)


def copy_checkpoint(src, dst, config_changes=None, remove=()):
    shutil.copytree(src, dst)
    if config_changes:
        config = json.loads((dst / "config.json").read_text())
        config.update(config_changes)
        (dst / "config.json").write_text(json.dumps(config))
    for name in remove:
        (dst / name).unlink()
    return dst


@without_transformers
def test_folder_without_weights_names_both_files(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints["bin"], tmp_path / "bert", remove=["pytorch_model.bin"])
    message = initialize_error(folder)
    assert f"No weights in {folder}" in message
    assert "model.safetensors" in message and "pytorch_model.bin" in message


@without_transformers
def test_config_json_unlike_the_built_encoder_is_named(checkpoints, tmp_path):
    """A config filled from one BERT, initialized from another: config.json's field and the fix."""
    other = write_tiny_bert_checkpoint(tmp_path / "other", TEXTS, hidden_size=48, heads=2)
    message = initialize_error(other, config_folder=checkpoints["safetensors"])
    assert f"{other / 'config.json'}: hidden_size is 48" in message
    assert "hidden_width = 32" in message and "spacy globalpointer fill-curated-config" in message


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@without_transformers
def test_weights_unlike_their_config_json_are_named(checkpoints, tmp_path, fmt):
    """config.json claims more positions than the weights have: the weights file and the parameter."""
    folder = copy_checkpoint(checkpoints[fmt], tmp_path / "bert", {"max_position_embeddings": 1024})
    message = initialize_error(folder, config_folder=folder)
    weights = "model.safetensors" if fmt == "safetensors" else "pytorch_model.bin"
    assert f"{folder / weights} does not fit {folder / 'config.json'}" in message
    assert "position_embeddings" in message and "(512, 32)" in message and "(1024, 32)" in message


@without_transformers
@pytest.mark.parametrize(
    "change, field",
    [
        ({"model_type": "roberta"}, "model_type is 'roberta'"),
        ({"hidden_act": "swish"}, "hidden_act is 'swish'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"num_attention_heads": 5}, "not a multiple of num_attention_heads 5"),
        ({"vocab_size": "many"}, "vocab_size must be an integer"),
    ],
)
def test_bad_config_json_fails_the_fill_naming_file_and_field(checkpoints, tmp_path, change, field):
    from spacy_globalpointer.transformers.hf_checkpoint import CheckpointError

    folder = copy_checkpoint(checkpoints["safetensors"], tmp_path / "bert", change)
    with pytest.raises(CheckpointError, match="config.json") as e:
        filled_config(folder)
    assert str(e.value).startswith(str(folder / "config.json")) and field in str(e.value)


@without_transformers
def test_fill_errors_name_the_config_and_the_folder(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints["safetensors"], tmp_path / "bert", remove=["config.json"])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy_globalpointer",
            "fill-curated-config",
            CONFIG,
            folder,
            tmp_path / "out.cfg",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and f"{folder / 'config.json'} not found" in proc.stderr
    from spacy_globalpointer.transformers.fill_curated_config import fill_curated_config

    config = Config().from_disk(CONFIG, interpolate=False)
    config["components"]["transformer"]["model"]["with_spans"]["window"] = 1024
    with pytest.raises(
        ValueError, match=r"my.cfg: \[components.transformer.model.with_spans\] window is 1024"
    ):
        fill_curated_config(config, checkpoints["safetensors"], source="my.cfg")
    with pytest.raises(ValueError, match=r"\[components.ner\] is not a curated_transformer"):
        fill_curated_config(config, checkpoints["safetensors"], pipe="ner")


@without_transformers
def test_fill_writes_what_config_json_and_the_tokenizer_config_say(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints["safetensors"], tmp_path / "bert")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    config = filled_config(folder)
    model = config["components"]["transformer"]["model"]
    hf = json.loads((folder / "config.json").read_text())
    assert (model["vocab_size"], model["hidden_width"], model["intermediate_width"]) == (
        hf["vocab_size"],
        hf["hidden_size"],
        hf["intermediate_size"],
    )
    assert (model["num_hidden_layers"], model["num_attention_heads"]) == (2, 2)
    piecer = config["initialize"]["components"]["transformer"]["piecer_loader"]
    assert (piecer["path"], piecer["lowercase"], piecer["strip_accents"]) == (
        str(folder / "vocab.txt"),
        False,
        False,
    )
    assert config["paths"]["transformer"] == str(folder)


@without_transformers
def test_numpy_constraint_of_the_curated_extra_is_still_needed(checkpoints):
    """spacy-curated-transformers 0.3.1 turns a one-element array into the transformer's loss with
    float(): deprecated in numpy 1.25, an error from 2.4, hence `numpy<2.4` in the [curated] extra.
    When this fails, curated no longer does it, and the constraint can go."""
    import numpy

    nlp = make_nlp(checkpoints["safetensors"])
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            nlp.update(examples, sgd=optimizer)
            failed = None
        except TypeError as e:
            failed = e
    if failed is not None:
        assert "only 0-dimensional arrays" in str(failed)
        assert tuple(map(int, numpy.__version__.split(".")[:2])) >= (2, 4)
        return
    from_curated = [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning)
        and "ndim > 0 to a scalar" in str(w.message)
        and "spacy_curated_transformers" in w.filename
    ]
    assert from_curated, (
        "spacy-curated-transformers no longer converts a 1-d array to a float in its update: "
        "the numpy<2.4 constraint of the [curated] extra (pyproject.toml) can go"
    )


def test_curated_bert_gives_what_transformers_bert_gives(checkpoints):
    """The torch-written folder, read by transformers' own BertModel and by curated's BERT through our
    loader: the same last hidden states. Where transformers is installed (not in the child)."""
    transformers = pytest.importorskip("transformers")
    import torch

    hf = transformers.BertModel.from_pretrained(str(checkpoints["safetensors"])).eval()
    nlp = make_nlp(checkpoints["bin"])
    nlp.initialize(get_examples=lambda: make_examples(nlp))
    curated = encoder_of(nlp).eval()
    ids = torch.tensor([[2, 10, 40, 50, 60, 3], [2, 11, 12, 3, 0, 0]])
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
        got = curated(ids).last_hidden_layer_states
    mask = ids != 0
    torch.testing.assert_close(got[mask], expected[mask], rtol=1e-5, atol=1e-5)
