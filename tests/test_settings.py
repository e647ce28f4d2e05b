"""Every setting of both components, as each component's class declares them:
a value given at load time wins, a value set on the component survives save
and load, a bad value fails naming the setting, a mapping cannot be changed
through a copy, the docs' tables agree (the README's for globalpointer_ner,
docs/relations.md's for globalpointer_rel); and importing the package stays
light."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from thinc.api import fix_random_seed

from helpers.toy import relation_examples as examples_of
from spacy_globalpointer.pipeline.globalpointer_ner import GlobalPointerNER
from spacy_globalpointer.pipeline.globalpointer_rel import GlobalPointerRel
from spacy_globalpointer.pipeline.settings import defaults_of, settings_of

ROOT = Path(__file__).resolve().parent.parent
TEXT = "张三在北京大学读书"
# Per component: its class, the page whose settings table lists its settings, and per setting a valid
# value other than the default and a bad one.
COMPONENTS = {
    "globalpointer_ner": (
        GlobalPointerNER,
        ROOT / "README.md",
        {
            "spans_key": ("ner", ""),
            "threshold": (2.5, "high"),
            "label_thresholds": ({"PER": 50.0}, {"PER": "x"}),
            "max_span_length": (3, 0),
            "spans_per_token": (2.0, 0),
            "overwrite_ents": (True, "yes"),
            "max_batch_items": (17, 0),
            "length_weight": (0.5, -1),
        },
    ),
    "globalpointer_rel": (
        GlobalPointerRel,
        ROOT / "docs" / "relations.md",
        {
            "spans_key": ("ner", ""),
            "relations_key": ("rel2", ""),
            "threshold": (2.5, "high"),
            "label_thresholds": ({"works_at": 50.0}, {"works_at": "x"}),
            "max_distance": (3, 0),
            "schema_filter": (True, "yes"),
            "negative_spans": (0.25, -1),
        },
    ),
}
CASES = [(component, name) for component, (_, _, cases) in COMPONENTS.items() for name in cases]


def defaults(component: str) -> dict:
    return defaults_of(COMPONENTS[component][0])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Both components on a blank zh pipeline, trained a little (both predict on TEXT), saved."""
    fix_random_seed(0)
    nlp = spacy.blank("zh")
    nlp.add_pipe("globalpointer_ner")
    nlp.add_pipe("globalpointer_rel")
    examples = examples_of(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(60):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("saved")
    nlp.to_disk(path)
    return path


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_the_cases_cover_every_setting(component):
    cases = COMPONENTS[component][2]
    assert set(cases) == set(defaults(component))
    assert all(cases[name][0] != defaults(component)[name] for name in cases)


@pytest.mark.parametrize("component, name", CASES)
def test_a_value_given_at_load_wins(saved, component, name):
    value = COMPONENTS[component][2][name][0]
    nlp = spacy.load(saved, config={"components": {component: {name: value}}})
    pipe = nlp.get_pipe(component)
    assert getattr(pipe, name) == value
    others = {other: getattr(pipe, other) for other in defaults(component) if other != name}
    assert others == {other: defaults(component)[other] for other in others}


@pytest.mark.parametrize("component, name", CASES)
def test_a_value_set_on_the_component_survives_save_and_load(saved, tmp_path, component, name):
    nlp = spacy.load(saved)
    value = COMPONENTS[component][2][name][0]
    setattr(nlp.get_pipe(component), name, value)
    nlp.to_disk(tmp_path)
    assert getattr(spacy.load(tmp_path).get_pipe(component), name) == value
    pipe = spacy.blank("zh").add_pipe(component)
    pipe.from_bytes(nlp.get_pipe(component).to_bytes())
    assert getattr(pipe, name) == value


@pytest.mark.parametrize("component, name", CASES)
def test_a_bad_value_fails_naming_the_setting(saved, component, name):
    pipe = spacy.load(saved).get_pipe(component)
    bad = COMPONENTS[component][2][name][1]
    with pytest.raises(ValueError, match=f"\\[{component}\\] {name} must"):
        setattr(pipe, name, bad)
    assert getattr(pipe, name) == defaults(component)[name]  # unchanged
    with pytest.raises(ValueError, match=name):
        spacy.load(saved, config={"components": {component: {name: bad}}})


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_a_misspelt_label_threshold_is_an_error_not_ignored(saved, component):
    nlp = spacy.load(saved, config={"components": {component: {"label_thresholds": {"NOPE": 1.0}}}})
    with pytest.raises(ValueError, match="label_thresholds names labels the component lacks: \\['NOPE'\\]"):
        nlp(TEXT)


def test_label_thresholds_given_at_load_change_the_predictions(saved):
    base = spacy.load(saved, exclude=["globalpointer_rel"])(TEXT)
    assert "PER" in {s.label_ for s in base.spans["sc"]}
    config = {"components": {"globalpointer_ner": {"label_thresholds": {"PER": 50.0}}}}
    doc = spacy.load(saved, config=config, exclude=["globalpointer_rel"])(TEXT)
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


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_a_mapping_setting_cannot_be_changed_through_what_it_returns(saved, component):
    pipe = spacy.load(saved).get_pipe(component)
    first, second = pipe.labels[:2]
    pipe.label_thresholds = {first: 1.0}
    with pytest.raises(TypeError):
        pipe.label_thresholds[second] = 2.0  # type: ignore[index]
    assert dict(pipe.label_thresholds) == {first: 1.0}
    pipe.label_thresholds = {**pipe.label_thresholds, second: 2.0}
    assert dict(pipe.label_thresholds) == {first: 1.0, second: 2.0}


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_every_setting_is_declared_once_with_a_description(component):
    settings = settings_of(COMPONENTS[component][0])
    assert list(settings) == list(COMPONENTS[component][2])
    for name, setting in settings.items():
        assert setting.name == name and len(setting.doc) > 20
        assert f"    {name}: {setting.doc}" in (spacy.registry.factories.get(component).__doc__ or "")


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_the_docs_table_lists_every_setting_with_its_default(component):
    text = COMPONENTS[component][1].read_text(encoding="utf8")
    section = text[text.index(f"(`[components.{component}]`)") :]
    section = section[: section.index("\n\n", section.index("| key |"))]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, flags=re.M)
    table = {name: json.loads(default) for name, default in rows if name in defaults(component)}
    assert table == defaults(component)
    names = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert [n for n in names if n not in defaults(component)] == ["model", "scorer"]
    assert [n for n in names if n in defaults(component)] == list(defaults(component))
