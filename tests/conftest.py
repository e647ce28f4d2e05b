import os
from pathlib import Path

import pytest

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CLUENER_DIR = Path(os.environ.get("CLUENER_DIR", ROOT.parent / "shared" / "data" / "cluener"))
GENIA_DIR = Path(os.environ.get("GENIA_DIR", ROOT.parent / "shared" / "data" / "genia"))
CONLL04_DIR = Path(os.environ.get("CONLL04_DIR", ROOT.parent / "shared" / "data" / "conll04"))


@pytest.fixture(scope="session")
def cluener_dir() -> Path:
    if not (CLUENER_DIR / "train.json").exists():
        pytest.skip(f"CLUENER data not found in {CLUENER_DIR} (set CLUENER_DIR)")
    return CLUENER_DIR


@pytest.fixture(scope="module")
def cluener_slice(cluener_dir, tmp_path_factory):
    """The first lines of each CLUENER split: a small slice for end-to-end runs (and the smoke run)."""
    out = tmp_path_factory.mktemp("cluener_slice")
    for split, n in (("train", 400), ("dev", 100), ("test", 60)):
        with open(cluener_dir / f"{split}.json", encoding="utf8") as f:
            (out / f"{split}.json").write_text("".join(line for _, line in zip(range(n), f)), encoding="utf8")
    return out


@pytest.fixture(scope="session")
def genia_dir() -> Path:
    if not (GENIA_DIR / "train.jsonl").exists():
        pytest.skip(f"GENIA data not found in {GENIA_DIR} (set GENIA_DIR)")
    return GENIA_DIR


@pytest.fixture(scope="session")
def conll04_dir() -> Path:
    if not (CONLL04_DIR / "train.jsonl").exists():
        pytest.skip(f"CoNLL04 data not found in {CONLL04_DIR} (set CONLL04_DIR)")
    return CONLL04_DIR


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: end-to-end runs (spacy train, spacy project); deselect with -m 'not slow'"
    )
    config.addinivalue_line(
        "markers", "smoke: a new user's first steps, on each supported Python (.ci/run); select with -m smoke"
    )
    config.addinivalue_line(
        "markers",
        "gpu: checks on a CUDA GPU (skipped without one); benchmarks/gpu_check.sh runs them with -m gpu",
    )
