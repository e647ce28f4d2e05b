"""`python benchmarks/conll04.py compare`: GPLinker against the pairwise
baseline and the entity component alone on CoNLL04 (see conll04.py)."""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import peak_rss_mb, write_results

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
MODELS = ("gplinker", "pairwise", "ner")
ORDER = [
    ("gplinker", "ours"),
    ("pairwise", "ours"),
    ("ner", "ours"),
    ("pairwise", "spacy"),
    ("gplinker", "spacy"),
    ("ner", "spacy"),
]


def configs(work: Path, steps: int, eval_frequency: int):
    """The three pipelines' configs and the two training blocks."""
    from thinc.api import Config

    gplinker = Config().from_disk(ROOT / "configs" / "conll04_cpu.cfg", interpolate=False)
    gplinker["training"].update(max_steps=steps, eval_frequency=eval_frequency, patience=0, max_epochs=0)

    pairwise = Config(gplinker).copy()
    pairwise["training"]["annotating_components"] = []
    rel = pairwise["components"].pop("globalpointer_rel")
    pairwise["nlp"]["pipeline"] = ["tok2vec", "globalpointer_ner", "pairwise_rel"]
    pairwise["components"]["pairwise_rel"] = {
        "factory": "pairwise_rel",
        "spans_key": rel["spans_key"],
        "relations_key": rel["relations_key"],
        "threshold": 0.5,
        "max_distance": rel["max_distance"],
        "model": {
            "@architectures": "benchmarks.PairwiseRel.v1",
            "width": "${components.tok2vec.model.encode.width}",
            "tok2vec": dict(rel["model"]["tok2vec"]),
        },
    }
    init = pairwise["initialize"]["components"]
    init["pairwise_rel"] = {"labels": init.pop("globalpointer_rel")["labels"]}

    ner = Config(gplinker).copy()
    ner["training"]["annotating_components"] = []
    del ner["components"]["globalpointer_rel"]
    del ner["initialize"]["components"]["globalpointer_rel"]
    ner["nlp"]["pipeline"] = ["tok2vec", "globalpointer_ner"]
    ner["training"]["score_weights"] = {
        key: value for key, value in ner["training"]["score_weights"].items() if not key.startswith("rel_")
    }
    ner["training"]["score_weights"]["ents_f"] = 1.0

    subprocess.run(
        [sys.executable, "-m", "spacy", "init", "config", str(work / "spacy.cfg"), "--lang", "en"]
        + ["--pipeline", "ner", "--force"],
        check=True,
        capture_output=True,
    )
    spacy_cfg = Config().from_disk(work / "spacy.cfg", interpolate=False)
    blocks = {
        name: {key: cfg["training"][key] for key in ("dropout", "batcher", "optimizer")}
        for name, cfg in (("ours", gplinker), ("spacy", spacy_cfg))
    }
    return {"gplinker": gplinker, "pairwise": pairwise, "ner": ner}, blocks


def with_block(config, block):
    from thinc.api import Config

    cfg = Config(config).copy()
    for key, value in block.items():
        cfg["training"][key] = Config(value).copy() if isinstance(value, dict) else value
    learn_rate = cfg["training"]["optimizer"].get("learn_rate")
    if isinstance(learn_rate, dict) and "total_steps" in learn_rate:
        learn_rate["total_steps"] = cfg["training"]["max_steps"]
    return cfg


def evaluate(model: Path, test: Path, rounds: int = 3) -> dict:
    """Test scores (spaCy's evaluation with the pipeline's scorers, on the
    data's own tokens as spacy evaluate reads them), docs/s of nlp.pipe on
    the raw texts, and the relation component's time against the entity
    component's over the same tok2vec output, alternating in rounds."""
    import spacy
    from spacy.tokens import DocBin
    from spacy.training import Corpus

    sys.path.insert(0, str(HERE))
    import pairwise_rel  # noqa: F401  (registers the baseline's factory)

    nlp = spacy.load(model)
    refs = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    # Scored as spacy evaluate (and spacy train on dev) reads the DocBin: on CoNLL04's own tokens.
    examples = list(Corpus(test)(nlp))
    scores = nlp.evaluate(examples)
    texts = [ref.text for ref in refs]
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        list(nlp.pipe(texts, batch_size=256))
        times.append(time.perf_counter() - t0)
    out = {
        "ents_f": scores["ents_f"],
        "ents_p": scores["ents_p"],
        "ents_r": scores["ents_r"],
        "docs_per_s": len(texts) / statistics.median(times),
    }
    rel_name = next((name for name in nlp.pipe_names if name.endswith("_rel")), None)
    if rel_name is None:
        return out
    out.update({key: scores[key] for key in scores if key.startswith("rel_")})
    docs = list(nlp.get_pipe("tok2vec").pipe(eg.predicted for eg in examples))
    ner, rel = nlp.get_pipe("globalpointer_ner"), nlp.get_pipe(rel_name)
    seconds = {"ner": [], "rel": []}
    for r in range(rounds * 2 + 1):
        for name in ("ner", "rel") if r % 2 == 0 else ("rel", "ner"):
            t0 = time.perf_counter()
            list((ner if name == "ner" else rel).pipe(docs, batch_size=256))
            seconds[name].append(time.perf_counter() - t0)
    ratios = [b / a for a, b in zip(seconds["ner"], seconds["rel"])]
    out.update(
        entity_component_s=statistics.median(seconds["ner"]),
        relation_component_s=statistics.median(seconds["rel"]),
        relation_to_entity_time=statistics.median(ratios),
        relation_to_entity_range=[min(ratios), max(ratios)],
    )
    return out


def compare(args, corpus: Path) -> None:
    """Train and score each run of the order; with --rescore, score again
    the pipelines an earlier run trained (their train minutes kept)."""
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    models, blocks = configs(work, args.steps, args.eval_frequency)
    order = ORDER if not args.only else [tuple(item.split(":")) for item in args.only.split(",")]
    results = {"steps": args.steps, "runs": {}}
    earlier = json.loads(Path(args.out).read_text())["runs"] if args.rescore else {}
    for model, block in order:
        name = f"{model}:{block}"
        cfg_path = work / f"{model}_{block}.cfg"
        out = work / f"out_{model}_{block}"
        if args.rescore:
            res = {
                "train_minutes": earlier[name]["train_minutes"],
                **evaluate(out / "model-best", corpus / "conll04_test.spacy"),
            }
            results["runs"][name] = res
            print(
                f"{name}: " + json.dumps({k: v for k, v in res.items() if not isinstance(v, dict)}),
                flush=True,
            )
            continue
        with_block(models[model], blocks[block]).to_disk(cfg_path, interpolate=False)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "spacy", "train", str(cfg_path), "--output", str(out)]
            + ["--paths.train", str(corpus / "conll04_train.spacy")]
            + ["--paths.dev", str(corpus / "conll04_dev.spacy")]
            + ["--code", str(HERE / "pairwise_rel.py")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        minutes = (time.perf_counter() - t0) / 60
        res = {"train_minutes": minutes, **evaluate(out / "model-best", corpus / "conll04_test.spacy")}
        results["runs"][name] = res
        print(f"{name}: " + json.dumps({k: v for k, v in res.items() if not isinstance(v, dict)}), flush=True)
    results["peak_rss_mb"] = peak_rss_mb()
    best = {}
    for name, res in results["runs"].items():
        model = name.split(":")[0]
        key = "ents_f" if model == "ner" else "rel_micro_f"
        if model not in best or res[key] > results["runs"][best[model]][key]:
            best[model] = name
    results["best"] = best
    print(
        "\n| pipeline : block | entities F | relations F strict | boundaries | train min | docs/s "
        "| rel / ent time |\n|---|---|---|---|---|---|---|"
    )
    for name, res in results["runs"].items():
        mark = " (best)" if best.get(name.split(":")[0]) == name else ""
        rel = [f"{100 * res[k]:.1f}" if k in res else "-" for k in ("rel_micro_f", "rel_boundaries_f")]
        ratio = f"{res['relation_to_entity_time']:.2f}" if "relation_to_entity_time" in res else "-"
        print(
            f"| {name}{mark} | {100 * res['ents_f']:.1f} | {rel[0]} | {rel[1]} | "
            f"{res['train_minutes']:.1f} | {res['docs_per_s']:.0f} | {ratio} |"
        )
    labels = sorted(
        {label for name in best.values() for label in results["runs"][name].get("rel_per_type", {})}
    )
    if labels:
        print("\n| relation (strict F, best blocks) | " + " | ".join(m for m in best if m != "ner") + " |")
        print("|---|" + "---|" * (len(best) - ("ner" in best)))
        for label in labels:
            cells = [
                f"{100 * results['runs'][best[m]]['rel_per_type'].get(label, {}).get('f', 0.0):.1f}"
                for m in best
                if m != "ner"
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
    write_results(args.out, results)
