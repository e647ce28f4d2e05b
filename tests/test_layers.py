"""The package's layers and the one way its imports point (docs/design.md):

    files <- ml/pytorch <- ml <- ml/models <- pipeline, transformers <- training <- corpus <- cli

(ml/ is the thinc glue both components' models are made of; ml/models/ the
registered architectures built from it: glue never imports an architecture.)

A module imports from its own layer or the layers to its left, never to its
right; nothing outside cli/ imports cli/. Imports inside functions count too."""

import ast
import importlib.util
import re
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spacy_globalpointer"
# Each layer and the layers it may import from (its own included).
ALLOWED: Dict[str, Set[str]] = {
    "files": {"files"},
    "ml.pytorch": {"ml.pytorch"},
    "ml": {"files", "ml.pytorch", "ml"},
    "ml.models": {"files", "ml.pytorch", "ml", "ml.models"},
    "pipeline": {"files", "ml.pytorch", "ml", "ml.models", "pipeline"},
    "transformers": {"files", "ml.pytorch", "ml", "ml.models", "transformers"},
    "training": {"files", "ml.pytorch", "ml", "ml.models", "pipeline", "transformers", "training"},
    "corpus": {"files", "ml.pytorch", "ml", "ml.models", "pipeline", "transformers", "training", "corpus"},
    "cli": {
        "files",
        "ml.pytorch",
        "ml",
        "ml.models",
        "pipeline",
        "transformers",
        "training",
        "corpus",
        "cli",
    },
}
MAX_LINES = 300


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside the package ("" for the package root)."""
    parts = module.split(".")
    if parts[:2] in (["ml", "pytorch"], ["ml", "models"]):
        return ".".join(parts[:2])
    return parts[0] if len(parts) > 1 or parts[0] in ALLOWED else ""


def modules() -> Iterator[Tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield ".".join(parts), path


def imported(module: str, path: Path) -> Iterator[Tuple[str, int]]:
    """The package's modules that ``module`` imports (relative or absolute), with the line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if module else []
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "spacy_globalpointer" or (node.module or "").startswith(
                "spacy_globalpointer."
            ):
                target = node.module[len("spacy_globalpointer.") :] if "." in node.module else ""
            else:
                continue
            for alias in node.names:
                yield (f"{target}.{alias.name}" if target else alias.name), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("spacy_globalpointer."):
                    yield alias.name[len("spacy_globalpointer.") :], node.lineno


def test_every_module_is_in_a_layer():
    loose = [m for m, _ in modules() if m and layer_of(m) == "" and m != "__main__"]
    assert loose == []


def test_imports_point_one_way():
    wrong = []
    for module, path in modules():
        here = layer_of(module)
        if here == "":  # the package root's lazy exports and `python -m`
            continue
        for target, line in imported(module, path):
            there = layer_of(target)
            if there and there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {here} imports {target} ({there})")
    assert wrong == []


def test_no_module_is_over_the_line_limit():
    long = {m: n for m, p in modules() if (n := len(p.read_text(encoding="utf8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize(
    "module, source, allowed",
    [
        ("ml.head_layer", "from spacy_globalpointer.pipeline.decode import SpanCandidates", False),
        ("ml.windowed", "from spacy_globalpointer.ml.models.ngram_hash_embed import NgramHashEmbed", False),
        ("ml.models.relation_pointer", "from ..pair_scores import predict_pairs", True),
        ("pipeline.gold", "from spacy_globalpointer.ml.models.globalpointer import DEFAULT_MODEL", True),
        ("pipeline.decode", "from ..ml.pytorch.band import valid_cells", True),
        ("training.convert", "from ..cli.app import app", False),
        ("pipeline.gold", "from spacy_globalpointer.corpus import predict", False),
        ("corpus.predict", "from spacy_globalpointer.training.converters import cluener", True),
    ],
)
def test_the_check_sees_a_backward_arrow(tmp_path, module, source, allowed):
    path = tmp_path / "m.py"
    path.write_text(f"def f():\n    {source}\n")
    targets = [t for t, _ in imported(module, path)]
    assert targets and all((layer_of(t) in ALLOWED[layer_of(module)]) == allowed for t in targets)


# Where the package, its docs and its README name a Python file: each must be a file of this repository
# (the whole path, or its end) or of an installed package (its first folder the package's name). A
# stem in capitals is a placeholder ("cli/NAME.py").
MENTION = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_]\.py\b")
ROOT = PACKAGE.parent


def mentioned_paths() -> Iterator[Tuple[str, str]]:
    """(where, mention) for every .py path named in the package's modules (docstrings and comments) and
    in README.md and docs/*.md."""
    texts = [(p, p.read_text(encoding="utf8")) for _, p in modules()]
    texts += [
        (p, p.read_text(encoding="utf8")) for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    ]
    for path, text in texts:
        for match in MENTION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            yield f"{path.relative_to(ROOT)}:{line}", match.group(0).lstrip("./")


def resolves(mention: str, repo_files: Set[str]) -> bool:
    if Path(mention).stem.isupper():
        return True
    if any(f == mention or f.endswith("/" + mention) for f in repo_files):
        return True
    top, _, rest = mention.partition("/")
    spec = importlib.util.find_spec(top) if rest and top.isidentifier() else None
    return bool(spec and spec.submodule_search_locations) and any(
        (Path(folder) / rest).is_file() for folder in spec.submodule_search_locations
    )


def repository_files() -> Set[str]:
    skip = {".git", ".venv", "__pycache__"}
    return {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*.py")
        if not skip & set(p.relative_to(ROOT).parts)
    }


def test_every_python_file_the_code_and_docs_name_exists():
    files = repository_files()
    missing = [f"{where}: {mention}" for where, mention in mentioned_paths() if not resolves(mention, files)]
    assert missing == []


def test_the_path_check_sees_a_file_that_is_gone():
    files = repository_files()
    assert resolves("ml/torch_layer.py", files) and resolves("torch_layer.py", files)
    assert resolves("spacy/pipeline/spancat.py", files)  # an installed package's file
    assert resolves("cli/NAME.py", files)
    for gone in (
        "ml/outputs.py",
        "cluener_metrics.py",
        "spacy/pipeline/nothing_here.py",
        "head_layer_old.py",
    ):
        assert not resolves(gone, files), gone
