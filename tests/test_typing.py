"""The package as a type checker sees it: mypy, with the project's settings
(pyproject.toml), on small snippets that use it.

The package root exports its names lazily (a module ``__getattr__``), which a
type checker does not run: an exported name it does not also find under
``TYPE_CHECKING`` is typed as ``Any``, without a word from mypy."""

import ast
import re
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent
INIT = ROOT / "spacy_globalpointer" / "__init__.py"


def run_mypy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snippet: str) -> List[str]:
    """mypy's report lines about ``snippet`` (written to a file in tmp_path)."""
    path = tmp_path / "snippet.py"
    path.write_text(textwrap.dedent(snippet), encoding="utf8")
    # mypy finds spacy_globalpointer in the current directory (this checkout, whatever is installed);
    # the package's own errors are `mypy spacy_globalpointer`'s business, not this test's.
    monkeypatch.chdir(ROOT)
    stdout, stderr, _ = mypy_api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--follow-imports", "silent", str(path)]
    )
    assert not stderr, stderr
    # By the file's name: mypy may replay a report from its cache with the folder it had then.
    return [line for line in stdout.splitlines() if re.match(r"(.*[/\\])?snippet\.py:", line)]


def revealed(lines: List[str]) -> Dict[int, str]:
    """The types reveal_type reported, by the snippet's line."""
    out = {}
    for line in lines:
        found = re.match(r".*?:(\d+): note: Revealed type is \"(.*)\"$", line)
        if found:
            out[int(found.group(1))] = found.group(2)
    return out


def test_exported_names_are_typed(tmp_path, monkeypatch):
    lines = run_mypy(
        tmp_path,
        monkeypatch,
        """\
        from spacy_globalpointer import GlobalPointerNER, build_globalpointer_model
        from spacy_globalpointer.ml.models import globalpointer

        reveal_type(GlobalPointerNER)
        reveal_type(GlobalPointerNER.predict)
        reveal_type(build_globalpointer_model)
        reveal_type(globalpointer.build_globalpointer_model)
        """,
    )
    assert not [line for line in lines if ": error:" in line], lines
    types = revealed(lines)
    assert sorted(types) == [4, 5, 6, 7], lines
    # The class (its constructor, as mypy shows a class) and a method of it, not Any.
    assert types[4].endswith("-> spacy_globalpointer.pipeline.globalpointer_ner.GlobalPointerNER"), types
    assert "spacy_globalpointer.pipeline.globalpointer_ner.GlobalPointerNER" in types[5], types
    # The function: the same signature as in its module (v3's, with span_content).
    assert types[6] == types[7], types
    assert types[6].startswith("def (tok2vec: thinc.model.Model["), types
    assert "span_content: bool" in types[6], types


def test_type_checking_imports_match_the_exports():
    """Every lazily exported name is imported under TYPE_CHECKING, from the
    module the lazy mapping names, and nothing else is."""
    tree = ast.parse(INIT.read_text(encoding="utf8"))
    exports: Dict[str, str] = {}
    typed: Dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets
        ):
            exports = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.dump(imp)
                for alias in imp.names:
                    # `X as X`: an explicit re-export.
                    assert alias.asname == alias.name, alias.name
                    typed[alias.name] = imp.module[len("spacy_globalpointer.") :]
    assert exports and typed == exports


def test_the_components_settings_resolve_in_the_type_checker(tmp_path, monkeypatch):
    """A user's ``nlp.get_pipe(...)`` narrowed to the component: each setting
    has its declared type; a wrong type and a write into the read-only
    mapping are errors the type checker reports."""
    from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER
    from spacy_globalpointer.pipeline.settings import settings_of

    names = list(settings_of(GlobalPointerNER))
    reveals = "\n".join(f"reveal_type(pipe.{name})" for name in names)
    lines = run_mypy(
        tmp_path,
        monkeypatch,
        "import spacy\n"
        "from spacy_globalpointer import GlobalPointerNER\n"
        "nlp = spacy.blank('zh')\n"
        "pipe = nlp.get_pipe('globalpointer_ner')\n"
        "assert isinstance(pipe, GlobalPointerNER)\n"
        f"{reveals}\n"
        "pipe.label_thresholds['PER'] = 1.0\n"
        "pipe.threshold = 'high'\n"
        "pipe.threshold = 1.5\n"
        "pipe.max_span_length = None\n"
        "pipe.label_thresholds = {'PER': 2.0}\n",
    )
    first = 6
    types = revealed(lines)
    assert types == {
        first + k: expected
        for k, expected in enumerate(
            [
                "str",
                "float",
                "typing.Mapping[str, float]",
                "int | None",
                "float",
                "bool",
                "int",
                "float",
            ]
        )
    }, lines
    errors = [line for line in lines if ": error:" in line]
    error_lines = sorted(int(re.match(r".*?:(\d+):", line).group(1)) for line in errors)
    assert error_lines == [first + len(names), first + len(names) + 1], errors
