import os
from pathlib import Path

import pytest

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CLUENER_DIR = Path(os.environ.get("CLUENER_DIR", ROOT.parent / "shared" / "data" / "cluener"))
GENIA_DIR = Path(os.environ.get("GENIA_DIR", ROOT.parent / "shared" / "data" / "genia"))


@pytest.fixture(scope="session")
def cluener_dir() -> Path:
    if not (CLUENER_DIR / "train.json").exists():
        pytest.skip(f"CLUENER data not found in {CLUENER_DIR} (set CLUENER_DIR)")
    return CLUENER_DIR


@pytest.fixture(scope="session")
def genia_dir() -> Path:
    if not (GENIA_DIR / "train.jsonl").exists():
        pytest.skip(f"GENIA data not found in {GENIA_DIR} (set GENIA_DIR)")
    return GENIA_DIR


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: end-to-end runs (spacy train, spacy project); deselect with -m 'not slow'"
    )
