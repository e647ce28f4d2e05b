"""Every component setting, as the component's class declares them: a value
given at load time wins, a value set on the component survives save and load,
a bad value fails naming the setting, a mapping cannot be changed through a
copy, the README's table agrees; and importing the package stays light."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER
from spacy_globalpointer.pipeline.settings import defaults_of, settings_of

from .toy import train_small

DEFAULTS = defaults_of(GlobalPointerNER)
README = Path(__file__).resolve().parent.parent / "README.md"

TEXT = "张三在北京大学读书"
# Per setting: a valid value other than the default, and a bad one.
CASES = {
    "spans_key": ("ner", ""),
    "threshold": (2.5, "high"),
    "label_thresholds": ({"PER": 50.0}, {"PER": "x"}),
    "max_span_length": (3, 0),
    "spans_per_token": (2.0, 0),
    "overwrite_ents": (True, "yes"),
    "max_batch_items": (17, 0),
    "length_weight": (0.5, -1),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved")
    train_small(60).to_disk(path)
    return path


def test_the_cases_cover_every_setting():
    assert set(CASES) == set(DEFAULTS)
    assert all(CASES[name][0] != DEFAULTS[name] for name in CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_value_given_at_load_wins(saved, name):
    value = CASES[name][0]
    nlp = spacy.load(saved, config={"components": {"globalpointer_ner": {name: value}}})
    gp = nlp.get_pipe("globalpointer_ner")
    assert getattr(gp, name) == value
    others = {other: getattr(gp, other) for other in DEFAULTS if other != name}
    assert others == {other: DEFAULTS[other] for other in others}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_value_set_on_the_component_survives_save_and_load(saved, tmp_path, name):
    nlp = spacy.load(saved)
    value = CASES[name][0]
    setattr(nlp.get_pipe("globalpointer_ner"), name, value)
    nlp.to_disk(tmp_path)
    assert getattr(spacy.load(tmp_path).get_pipe("globalpointer_ner"), name) == value
    gp = spacy.blank("zh").add_pipe("globalpointer_ner")
    gp.from_bytes(nlp.get_pipe("globalpointer_ner").to_bytes())
    assert getattr(gp, name) == value


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_value_fails_naming_the_setting(saved, name):
    gp = spacy.load(saved).get_pipe("globalpointer_ner")
    bad = CASES[name][1]
    with pytest.raises(ValueError, match=f"\\[globalpointer_ner\\] {name} must"):
        setattr(gp, name, bad)
    assert getattr(gp, name) == DEFAULTS[name]  # unchanged
    with pytest.raises(ValueError, match=name):
        spacy.load(saved, config={"components": {"globalpointer_ner": {name: bad}}})


def test_label_thresholds_given_at_load_change_the_predictions(saved):
    base = spacy.load(saved)(TEXT)
    assert "PER" in {s.label_ for s in base.spans["sc"]}
    config = {"components": {"globalpointer_ner": {"label_thresholds": {"PER": 50.0}}}}
    doc = spacy.load(saved, config=config)(TEXT)
    assert "PER" not in {s.label_ for s in doc.spans["sc"]}
    assert {(s.start, s.end, s.label_) for s in doc.spans["sc"]} == {
        (s.start, s.end, s.label_) for s in base.spans["sc"] if s.label_ != "PER"
    }


def test_importing_the_package_imports_neither_transformers_nor_ray():
    code = (
        "import importlib, pkgutil, sys, spacy_globalpointer as gp\n"
        "assert not {'transformers', 'ray'} & set(sys.modules), 'on import'\n"
        "for m in pkgutil.walk_packages(gp.__path__, 'spacy_globalpointer.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted({'transformers', 'ray', 'spacy_transformers'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_mapping_setting_cannot_be_changed_through_what_it_returns(saved):
    gp = spacy.load(saved).get_pipe("globalpointer_ner")
    gp.label_thresholds = {"PER": 1.0}
    with pytest.raises(TypeError):
        gp.label_thresholds["LOC"] = 2.0  # type: ignore[index]
    assert dict(gp.label_thresholds) == {"PER": 1.0}
    gp.label_thresholds = {**gp.label_thresholds, "LOC": 2.0}
    assert dict(gp.label_thresholds) == {"PER": 1.0, "LOC": 2.0}


def test_every_setting_is_declared_once_with_a_description():
    settings = settings_of(GlobalPointerNER)
    assert list(settings) == list(CASES)
    for name, setting in settings.items():
        assert setting.name == name and len(setting.doc) > 20
        assert f"    {name}: {setting.doc}" in (
            spacy.registry.factories.get("globalpointer_ner").__doc__ or ""
        )


def test_the_readme_table_lists_every_setting_with_its_default():
    text = README.read_text(encoding="utf8")
    section = text[text.index("### Component settings") :]
    section = section[: section.index("\n\n", section.index("| key |"))]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, flags=re.M)
    table = {name: json.loads(default) for name, default in rows if name in DEFAULTS}
    assert table == DEFAULTS
    names = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert [n for n in names if n not in DEFAULTS] == ["model", "scorer"]
    assert [n for n in names if n in DEFAULTS] == list(DEFAULTS)
