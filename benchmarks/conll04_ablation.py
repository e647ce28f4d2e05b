"""`python benchmarks/conll04.py ablation`: the relation model's ideas one by
one on CoNLL04 (docs/relations.md, "What each idea is worth"), on the
protocol of conll04.py: train on train, select on dev (model-best), score
test, uncalibrated, the same tok2vec and steps for every run, and the entity
component alone as the yardstick of entity F and training time.

Each run is configs/conll04_cpu.cfg with the relation model block of the
variant (``VARIANTS``); ``--data shaped`` runs them on the set shaped like
the large Chinese ones (conll04_shaped.py) with its labels and distance,
and the recipe's head_size as init-config writes it for that many labels.
Training minutes are spacy train's wall time, prediction time the relation
component's against the entity component's over the same tok2vec output
(conll04_compare.evaluate). Prints a table, writes JSON (--out)."""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

from common import write_results
from conll04_compare import configs, evaluate

HERE = Path(__file__).resolve().parent

# The model block of each variant: RelationPointer.v1 (the pair band), or v2 with these settings.
V2 = {
    "@architectures": "spacy_globalpointer.RelationPointer.v2",
    "head": "GlobalPointer",
    "head_size": 64,
    "context": "lstm",
    "context_width": 128,
    "context_depth": 1,
    "between": True,
    "distance": True,
    "entity_types": True,
    "nO": None,
    "nE": None,
    "mixed_precision": False,
    "grad_scaler_config": {},
}
V1 = {
    "@architectures": "spacy_globalpointer.RelationPointer.v1",
    "head": "GlobalPointer",
    "rope": False,
    "head_size": 64,
    "nO": None,
    "mixed_precision": False,
    "grad_scaler_config": {},
}
NONE = {"context_depth": 0, "between": False, "distance": False, "entity_types": False}
# Each idea of docs/relations.md's table that can still be run (the rows of the predicted_entities setting,
# removed since, were measured at commit 16eb739: `git checkout 16eb739` runs them).
NEGATIVES = {"component": {"negative_spans": 0.25, "schema_filter": True}}
# The variants but "ner" and "recipe" run on the tok2vec they were measured with: spaCy's window encoder
# without the recipe's ContextEncoder (a BiLSTM in the relation model where they have one).
VARIANTS: Dict[str, dict] = {
    "ner": {},  # the entity component alone, on the recipe's tok2vec
    "recipe": {},  # configs/conll04_cpu.cfg as it is
    "ner_window": {},  # the entity component alone, on the window encoder only
    "v1_band": {"model": V1},
    "v2_pairs": {"model": {**V2, **NONE}},
    "v2_pairs_context": {"model": {**V2, **NONE, "context_depth": 1}},
    "v2_pairs_context_between_distance": {"model": {**V2, "entity_types": False}},
    "v2_full": {"model": V2},
    "v2_full_no_context": {"model": {**V2, "context_depth": 0}},
    "v2_attention_between_distance": {"model": {**V2, "entity_types": False, "context": "attention"}},
    "v2_between_distance": {"model": {**V2, "entity_types": False, "context_depth": 0}},
    "v2_negatives": {"model": {**V2, "entity_types": False}, **NEGATIVES},
    "v2_negatives_head32": {"model": {**V2, "entity_types": False, "head_size": 32}, **NEGATIVES},
    "v2_negatives_efficient": {
        "model": {**V2, "entity_types": False, "head_size": 32, "head": "EfficientGlobalPointer"},
        **NEGATIVES,
    },
    # The recipe with settings changed (its model block and component settings, "on_recipe").
    "recipe_no_initial_bias": {"on_recipe": {"model": {"initial_bias": 0.0}}},
    "recipe_head32": {"on_recipe": {"model": {"head_size": 32}}},
    "recipe_head16": {"on_recipe": {"model": {"head_size": 16}}},
    "recipe_head16_negatives10": {
        "on_recipe": {"model": {"head_size": 16}, "component": {"negative_spans": 0.1}}
    },
}


def variant_config(base, name: str, max_distance=None):
    from thinc.api import Config

    if name == "recipe" or "on_recipe" in VARIANTS[name]:
        cfg = Config(base["gplinker"]).copy()
        rel = cfg["components"]["globalpointer_rel"]
        changes = VARIANTS[name].get("on_recipe", {})
        rel["model"].update(changes.get("model", {}))
        rel.update(changes.get("component", {}))
        if max_distance is not None:
            rel["max_distance"] = max_distance
        return cfg
    if name == "ner":
        return Config(base["ner"]).copy()
    if name == "ner_window":
        return window_tok2vec(Config(base["ner"]).copy())
    cfg = window_tok2vec(Config(base["gplinker"]).copy())
    variant = VARIANTS[name]
    rel = cfg["components"]["globalpointer_rel"]
    rel["model"] = {**variant["model"], "tok2vec": dict(rel["model"]["tok2vec"])}
    # The recipe's component settings off but for the variant's own (the idea each row measures).
    settings = {"schema_filter": False, "negative_spans": 0.0}
    rel.update({**settings, **variant.get("component", {})})
    cfg["training"]["annotating_components"] = variant.get("annotating", [])
    if max_distance is not None:
        rel["max_distance"] = max_distance
    return cfg


def window_tok2vec(cfg):
    """``cfg`` with the tok2vec's ContextEncoder replaced by the window encoder it wraps."""
    encode = cfg["components"]["tok2vec"]["model"]["encode"]
    if encode.get("@architectures") == "spacy_globalpointer.ContextEncoder.v1":
        cfg["components"]["tok2vec"]["model"]["encode"] = encode["local"]
    return cfg


def ablation(args, corpus: Path) -> None:
    from thinc.api import Config

    from spacy_globalpointer.training.init_config import relation_head_size

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base, _ = configs(work, args.steps, args.eval_frequency)
    prefix, max_distance = "conll04", None
    if args.data == "shaped":
        from conll04_shaped import LABELS_FILE, MAX_DISTANCE

        prefix, max_distance = "shaped", MAX_DISTANCE
        labels = json.loads((corpus / LABELS_FILE).read_text())
        for cfg in base.values():
            init = cfg["initialize"]["components"]
            if "globalpointer_rel" in init:
                init["globalpointer_rel"]["labels"] = labels
        # The recipe as init-config writes it for that many labels.
        base["gplinker"]["components"]["globalpointer_rel"]["model"]["head_size"] = relation_head_size(
            len(labels)
        )
    names = args.only.split(",") if args.only else list(VARIANTS)
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.exists() and args.keep else {"runs": {}}
    results.update(steps=args.steps, data=args.data)
    minutes: Dict[str, list] = {name: [] for name in names}
    # --rounds N: every variant trained N times, in turn (the same machine phases for each side); the
    # scores of the first training (training is deterministic), the median of the minutes.
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            cfg_path = work / f"{prefix}_{name}.cfg"
            Config(variant_config(base, name, max_distance)).to_disk(cfg_path, interpolate=False)
            out = work / f"{prefix}_{name}"
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "spacy", "train", str(cfg_path), "--output", str(out)]
                + ["--paths.train", str(corpus / f"{prefix}_train.spacy")]
                + ["--paths.dev", str(corpus / f"{prefix}_dev.spacy")],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            minutes[name].append((time.perf_counter() - t0) / 60)
            if round_ == 0:
                res = evaluate(out / "model-best", corpus / f"{prefix}_test.spacy")
                results["runs"][name] = res
            res = results["runs"][name]
            res.update(train_minutes=statistics.median(minutes[name]), train_minutes_each=minutes[name])
            print(
                f"{name}: " + json.dumps({k: v for k, v in res.items() if not isinstance(v, dict)}),
                flush=True,
            )
            write_results(args.out, results)
    print_table(results)


def print_table(results: dict) -> None:
    runs = results["runs"]
    base = runs.get("ner", {}).get("train_minutes")
    print(
        "\n| variant | relations F strict (P, R) | entities F | train min | x entity component "
        "| rel / ent prediction time |\n|---|---|---|---|---|---|"
    )
    for name, res in runs.items():
        rel = (
            f"{100 * res['rel_micro_f']:.1f} ({100 * res['rel_micro_p']:.1f}, {100 * res['rel_micro_r']:.1f})"
            if "rel_micro_f" in res
            else "-"
        )
        ratio = f"{res['train_minutes'] / base:.2f}" if base else "-"
        pred = f"{res['relation_to_entity_time']:.2f}" if "relation_to_entity_time" in res else "-"
        print(
            f"| {name} | {rel} | {100 * res['ents_f']:.1f} | {res['train_minutes']:.1f} | {ratio} | {pred} |"
        )
