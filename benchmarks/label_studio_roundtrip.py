"""Pre-annotations through the real annotation tools and back, run by hand
(it installs the tools from the package index and starts their servers; CI
tests the exports it leaves in tests/fixtures/tools/ instead).

    python benchmarks/label_studio_roundtrip.py --model training/conll04/model-best
    python benchmarks/label_studio_roundtrip.py --model MODEL --fixtures tests/fixtures/tools

1. ``predict`` the texts (default: tests/fixtures/tools/texts.jsonl) with
   ``--format label-studio`` (a JSON array and its labelling config) and
   ``--format doccano`` (every span, and ``--source ents``).
2. Label Studio: a virtual environment with ``label-studio`` from the index,
   its server on 127.0.0.1 with its own data folder, a project from the
   labelling config predict wrote, the tasks uploaded as a user uploads a
   file, an annotation made from the prediction of every task but the last
   ``--leave`` ones (through the API, as accepting them in the tool does),
   then both exports: the ordinary one (``GET /api/projects/ID/export``, the
   Export button's, predictions as ids) and a snapshot with the predictions
   in full (``POST /api/projects/ID/exports``).
3. doccano (doccano_roundtrip.py): its own environment and server, two
   projects, import, export, convert.
4. ``convert`` every export as a user would, and compare each doc with what
   the pipeline predicted for its text, entity for entity and relation for
   relation; the refusal of the ordinary export's prediction ids is checked
   too. The servers it started are stopped, whatever happens.

Prints the results and writes them (versions, counts) to WORK/roundtrip.json;
exit status 1 if any doc differs. ``--fixtures DIR`` also copies the inputs,
the exports and the predictions there (for tests/test_tool_exports.py).
"""

import argparse
import json
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict

from tool_servers import (
    ROOT,
    Api,
    compare,
    converted,
    installed_version,
    label_studio_pins,
    run_ours,
    say,
    start_label_studio,
    tool_venv,
)

TEXTS = ROOT / "tests" / "fixtures" / "tools" / "texts.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="A pipeline with globalpointer_ner (and _rel)")
    parser.add_argument("--texts", type=Path, default=TEXTS, help="JSON lines with id and text")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/spacy-gp-roundtrip"), help="Venvs, data, exports"
    )
    parser.add_argument(
        "--tools", nargs="+", default=["label-studio", "doccano"], choices=["label-studio", "doccano"]
    )
    parser.add_argument(
        "--python", default=sys.executable, help="The Python the tools' environments are made with"
    )
    parser.add_argument("--ls-version", default="1.23.2")
    parser.add_argument("--doccano-version", default="1.8.4")
    parser.add_argument("--ls-port", type=int, default=18089)
    parser.add_argument("--doccano-port", type=int, default=18090)
    parser.add_argument("--leave", type=int, default=2, help="Label Studio tasks left without an annotation")
    parser.add_argument("--fixtures", type=Path, help="Copy inputs, exports and predictions here")
    args = parser.parse_args()
    work = args.work.resolve()
    # Predicted afresh each run (predict would resume an earlier run's files, as they are).
    shutil.rmtree(work / "out", ignore_errors=True)
    (work / "out").mkdir(parents=True)
    texts = [
        json.loads(line)["text"]
        for line in args.texts.read_text(encoding="utf8").splitlines()
        if line.strip()
    ]
    files = {
        "label_studio": work / "out" / "ls_tasks.json",
        "doccano_spans": work / "out" / "doccano_spans.jsonl",
        "doccano_ents": work / "out" / "doccano_ents.jsonl",
    }
    common = ["--id-field", "id", "--no-progress"]
    run_ours(
        "predict",
        args.model,
        str(args.texts),
        str(files["label_studio"]),
        "--format",
        "label-studio",
        *common,
    )
    run_ours(
        "predict", args.model, str(args.texts), str(files["doccano_spans"]), "--format", "doccano", *common
    )
    run_ours(
        "predict",
        args.model,
        str(args.texts),
        str(files["doccano_ents"]),
        "--format",
        "doccano",
        "--source",
        "ents",
        *common,
    )
    want = _predicted(args.model, texts, work)
    results: Dict[str, Any] = {"texts": len(texts), "model": str(args.model)}
    if "label-studio" in args.tools:
        results["label_studio"] = label_studio(args, work, files, want)
    if "doccano" in args.tools:
        from doccano_roundtrip import doccano

        results["doccano"] = doccano(args, work, files, want)
    (work / "roundtrip.json").write_text(json.dumps(results, indent=2) + "\n")
    say(f"Wrote {work / 'roundtrip.json'}")
    if args.fixtures is not None:
        _copy_fixtures(args, work, files, results)
    differences = _differences(results)
    say(f"{'✔ No' if not differences else f'✘ {differences}'} difference(s) with the predictions")
    return 1 if differences else 0


def _predicted(model: str, texts, work: Path) -> Dict[str, Any]:
    from tool_servers import predicted

    want = predicted(model, texts)
    (work / "out" / "predicted.json").write_text(json.dumps(want, indent=1, ensure_ascii=False) + "\n")
    return want


def label_studio(args, work: Path, files: Dict[str, Path], want: Dict[str, Any]) -> Dict[str, Any]:
    bin_folder = tool_venv(work / "venvs" / "label-studio", label_studio_pins(args.ls_version), args.python)
    version = installed_version(bin_folder, "label-studio")
    token = uuid.uuid4().hex
    server, base = start_label_studio(
        bin_folder,
        work / "ls-data",
        args.ls_port,
        work / "ls-server.log",
        "dev@example.com",
        uuid.uuid4().hex,
        token,
    )
    try:
        api = Api(base, token)
        config = files["label_studio"].with_name("ls_tasks.label_config.xml").read_text(encoding="utf8")
        project = api.call("POST", "/api/projects", {"title": "round trip", "label_config": config})["id"]
        imported = api.upload(f"/api/projects/{project}/import", "file", files["label_studio"])
        counts = f"{imported['task_count']} tasks, {imported['prediction_count']} predictions"
        say(f"Label Studio {version}: imported {counts}")
        tasks = sorted(
            t["id"] for t in api.call("GET", f"/api/tasks?project={project}&page_size=1000")["tasks"]
        )
        for task in tasks[: len(tasks) - args.leave]:
            prediction = api.call("GET", f"/api/predictions?task={task}")[0]
            body = {"result": prediction["result"], "parent_prediction": prediction["id"]}
            api.call("POST", f"/api/tasks/{task}/annotations", body)
        exports = {
            "ordinary": api.call(
                "GET", f"/api/projects/{project}/export?exportType=JSON&download_all_tasks=true", raw=True
            ),
            "snapshot": _snapshot(api, project),
        }
        default_export = json.loads(
            api.call("GET", f"/api/projects/{project}/export?exportType=JSON", raw=True)
        )
    finally:
        server.stop()
    for name, payload in exports.items():
        (work / f"ls_{name}.json").write_bytes(payload)
    result: Dict[str, Any] = {
        "version": version,
        "imported": {k: imported[k] for k in ("task_count", "prediction_count")},
        "annotated": len(tasks) - args.leave,
        "default_export_tasks": len(default_export),  # without download_all_tasks: annotated ones
    }
    result.update(_convert_back(args.model, work, want, len(tasks), args.leave))
    return result


def _snapshot(api: Api, project: int) -> bytes:
    """The export that holds the predictions in full: made, waited for, downloaded."""
    options = {"title": "with predictions", "serialization_options": {"predictions": {"only_id": False}}}
    export = api.call("POST", f"/api/projects/{project}/exports", options)
    for _ in range(150):
        if api.call("GET", f"/api/projects/{project}/exports/{export['id']}")["status"] == "completed":
            return api.call(
                "GET", f"/api/projects/{project}/exports/{export['id']}/download?exportType=JSON", raw=True
            )
        time.sleep(2)
    raise RuntimeError("Label Studio's snapshot export did not complete in 300 s")


def _convert_back(model: str, work: Path, want: Dict[str, Any], n: int, leave: int) -> Dict[str, Any]:
    ordinary, snapshot = work / "ls_ordinary.json", work / "ls_snapshot.json"
    out: Dict[str, Any] = {}
    run_ours("convert", str(ordinary), str(work / "ls_ordinary.spacy"), "--model", model)
    out["ordinary"] = compare(
        "Label Studio ordinary export", converted(work / "ls_ordinary.spacy"), want, "spans"
    )
    refused = run_ours(
        "convert",
        str(ordinary),
        str(work / "x.spacy"),
        "--model",
        model,
        "--label-studio-predictions",
        expect_fail=True,
    )
    message = " ".join(refused.stderr.split())
    out["ordinary_with_predictions_refused"] = ".predictions[0]: " in message and "snapshot" in message
    say(f"  refused with --label-studio-predictions: {message[:300]}")
    args = [
        str(ordinary),
        str(work / "ls_skip.spacy"),
        "--model",
        model,
        "--label-studio-predictions",
        "--skip-invalid",
    ]
    run_ours("convert", *args)
    report = json.loads((work / "ls_skip.report.json").read_text())
    out["ordinary_skip_invalid"] = {
        **compare(
            "Label Studio ordinary export, --skip-invalid", converted(work / "ls_skip.spacy"), want, "spans"
        ),
        "invalid": len(report["invalid"]),
    }
    run_ours(
        "convert",
        str(snapshot),
        str(work / "ls_snapshot.spacy"),
        "--model",
        model,
        "--label-studio-predictions",
    )
    out["snapshot"] = compare("Label Studio snapshot", converted(work / "ls_snapshot.spacy"), want, "spans")
    ok = out["ordinary"]["docs"] == n - leave and out["snapshot"]["docs"] == n
    out["counts_as_expected"] = ok and out["ordinary_skip_invalid"]["invalid"] == leave
    return out


def _differences(results: Dict[str, Any]) -> int:
    """Every difference counted, a wrong count or a missing refusal or warning as one."""
    found = 0

    def walk(value: Any) -> None:
        nonlocal found
        if isinstance(value, dict):
            found += value.get("differences", 0) + len(value.get("import_errors", []))
            for key in (
                "counts_as_expected",
                "ordinary_with_predictions_refused",
                "warning_as_expected",
            ):
                found += value.get(key) is False
            for child in value.values():
                walk(child)

    walk(results)
    return found


def _copy_fixtures(args, work: Path, files: Dict[str, Path], results: Dict[str, Any]) -> None:
    target = args.fixtures
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.texts, target / "texts.jsonl") if args.texts.resolve() != (
        target / "texts.jsonl"
    ).resolve() else None
    for path in [
        *files.values(),
        files["label_studio"].with_name("ls_tasks.label_config.xml"),
        work / "out" / "predicted.json",
    ]:
        shutil.copy(path, target / path.name)
    for name in (
        "ls_ordinary.json",
        "ls_snapshot.json",
        "doccano_overlap.zip",
        "doccano_flat.zip",
        "roundtrip.json",
    ):
        if (work / name).exists():
            shutil.copy(work / name, target / name)
    say(f"Copied the inputs, exports and predictions to {target}")


if __name__ == "__main__":
    sys.exit(main())
