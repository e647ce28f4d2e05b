"""What a user sees of the pre-annotations in Label Studio and doccano, in a headless Chromium,
run by hand (it starts the tools' servers; CI has no browser):

    python benchmarks/tool_pages.py --model training/conll04/model-best --shots /tmp/pages
    python benchmarks/tool_pages.py --model MODEL --chromium /usr/bin/chromium \\
        --ls-venv /work/tools/ls-venv --doccano-venv /work/tools/doccano-venv

It follows docs/corpus-prediction.md as a new user would:

1. ``predict --format label-studio`` (tasks.json and tasks.label_config.xml) and
   ``predict --format doccano`` (nested.jsonl: every span) on the texts (default:
   tests/fixtures/tools/texts.jsonl).
2. Label Studio (its own environment, as label_studio_roundtrip.py makes it): a project with the
   labelling config predict wrote, tasks.json uploaded as the Import dialog uploads it.
3. doccano: a project with the settings the docs name (Sequence Labeling, overlapping spans
   allowed, relation labeling), nested.jsonl imported as JSONL(Relation).
4. In Chromium (tool_pages_browser.py, with Playwright in its own environment; the browser is the
   system's, ``--chromium``: Playwright's own download is not used): log in as a user does, open
   each task's labelling page (Label Studio) and each example's annotation page (doccano), read
   the regions and relation arcs drawn, and screenshot each page.

Each page is compared with what predict wrote for its text: Label Studio, every region by its
text and label (its colour, the config's) and the relations by label; doccano, the entity and
relation labels drawn. Prints the results, writes them to SHOTS/pages.json; exit status 1 if a
page shows other than what predict wrote. The servers it started are stopped, whatever happens.
"""

import argparse
import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

from doccano_roundtrip import IMPORT_TASK, _wait_task
from tool_servers import (
    ROOT,
    Api,
    doccano_pins,
    installed_version,
    label_studio_pins,
    run_ours,
    say,
    start_doccano,
    start_label_studio,
    tool_venv,
)

TEXTS = ROOT / "tests" / "fixtures" / "tools" / "texts.jsonl"
BROWSER = Path(__file__).with_name("tool_pages_browser.py")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="A pipeline with globalpointer_ner (and _rel)")
    parser.add_argument("--texts", type=Path, default=TEXTS, help="JSON lines with id and text")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spacy-gp-pages"), help="Venvs, data")
    parser.add_argument("--shots", type=Path, default=Path("/tmp/spacy-gp-pages/shots"), help="Screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="The system's Chromium")
    parser.add_argument("--tools", nargs="+", default=["label-studio", "doccano"])
    parser.add_argument("--python", default=sys.executable, help="The Python the environments use")
    parser.add_argument("--ls-version", default="1.23.2")
    parser.add_argument("--doccano-version", default="1.8.4")
    parser.add_argument("--playwright-version", default="1.65.3")
    parser.add_argument("--ls-venv", type=Path, help="Default: WORK/venvs/label-studio (made once)")
    parser.add_argument("--doccano-venv", type=Path, help="Default: WORK/venvs/doccano (made once)")
    parser.add_argument("--browser-venv", type=Path, help="Default: WORK/venvs/browser (made once)")
    parser.add_argument("--ls-port", type=int, default=18091)
    parser.add_argument("--doccano-port", type=int, default=18092)
    args = parser.parse_args()
    work, shots = args.work.resolve(), args.shots.resolve()
    out = work / "out"
    for path in out.glob("*"):
        path.unlink()  # predicted afresh (predict would resume an earlier run's files)
    out.mkdir(parents=True, exist_ok=True)
    shots.mkdir(parents=True, exist_ok=True)
    common, flags = [args.model, str(args.texts)], ["--id-field", "id", "--no-progress"]
    run_ours("predict", *common, str(out / "tasks.json"), "--format", "label-studio", *flags)
    run_ours("predict", *common, str(out / "nested.jsonl"), "--format", "doccano", *flags)
    browser = tool_venv(
        args.browser_venv or work / "venvs" / "browser",
        [f"playwright=={args.playwright_version}"],
        args.python,
    )
    chromium = subprocess.run([args.chromium, "--version"], capture_output=True, text=True).stdout.strip()
    results: Dict[str, Any] = {"model": args.model, "chromium": chromium}
    results["playwright"] = installed_version(browser, "playwright")
    if "label-studio" in args.tools:
        results["label_studio"] = label_studio(args, work, out, shots, browser)
    if "doccano" in args.tools:
        results["doccano"] = doccano(args, work, out, shots, browser)
    (shots / "pages.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    say(f"Wrote {shots / 'pages.json'} and the screenshots beside it")
    wrong = sum(r.get("pages_differing", 0) for r in results.values() if isinstance(r, dict))
    say(f"{'✔ Every' if not wrong else f'✘ {wrong}'} page{'' if not wrong else '(s)'} as predict wrote")
    return 1 if wrong else 0


def in_browser(
    args, browser: Path, job: Dict[str, Any], work: Path, shots: Path, name: str
) -> Dict[str, Any]:
    job = {**job, "chromium": args.chromium, "shots": str(shots)}
    (work / f"{name}.job.json").write_text(json.dumps(job, indent=1))
    cmd = [str(browser / "python"), str(BROWSER), str(work / f"{name}.job.json"), str(work / f"{name}.json")]
    subprocess.run(cmd, check=True)
    return json.loads((work / f"{name}.json").read_text())


def label_studio(args, work: Path, out: Path, shots: Path, browser: Path) -> Dict[str, Any]:
    bin_folder = tool_venv(
        args.ls_venv or work / "venvs" / "label-studio", label_studio_pins(args.ls_version), args.python
    )
    email, password, token = "dev@example.com", uuid.uuid4().hex, uuid.uuid4().hex
    config = (out / "tasks.label_config.xml").read_text(encoding="utf8")
    colours = {
        tuple(int(hex_[i : i + 2], 16) for i in (0, 2, 4)): label
        for label, hex_ in re.findall(r'<Label value="([^"]+)" background="#([0-9a-fA-F]{6})"', config)
    }
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf8"))
    server, base = start_label_studio(
        bin_folder, work / "ls-data", args.ls_port, work / "ls-server.log", email, password, token
    )
    try:
        api = Api(base, token)
        project = api.call("POST", "/api/projects", {"title": "pre-annotations", "label_config": config})[
            "id"
        ]
        imported = api.upload(f"/api/projects/{project}/import", "file", out / "tasks.json")
        ids = {
            t["data"]["text"]: t["id"]
            for t in api.call("GET", f"/api/tasks?project={project}&page_size=1000")["tasks"]
        }
        pages = []
        for task in tasks:
            text, result = task["data"]["text"], task["predictions"][0]["result"]
            pages.append(
                {
                    "name": task["meta"]["id"],
                    "path": f"/projects/{project}/data?task={ids[text]}",
                    "text": text,
                    "expect": len(result),
                }
            )
        job = {"tool": "label-studio", "base": base, "user": email, "password": password, "pages": pages}
        shown = in_browser(args, browser, job, work, shots, "ls-pages")
    finally:
        server.stop()
    rows = []
    for task, page in zip(tasks, shown["pages"]):
        result = task["predictions"][0]["result"]
        regions = [r["value"] for r in result if r["type"] == "labels"]
        want = sorted((r["text"], r["labels"][0]) for r in regions)
        got = sorted((r["text"], _label(r, colours)) for r in page["regions"])
        want_rel = sorted(r["labels"][0] for r in result if r["type"] == "relation")
        nested = sum(
            any(o is not r and o["start"] <= r["start"] and r["end"] <= o["end"] for o in regions)
            for r in regions
        )
        rows.append(
            _row(task["meta"]["id"], want, got, want_rel, page["relations"], page["shot"], nested=nested)
        )
    imported = {k: imported[k] for k in ("task_count", "prediction_count")}
    return _summary("Label Studio", installed_version(bin_folder, "label-studio"), imported, rows)


def _label(region: Dict[str, str], colours: Dict[tuple, str]) -> str:
    """The label a region shows: its label's name where the page writes it (after the region's
    number, "2:Loc", where Label Studio numbers them), else its colour's."""
    if region["label"] or region["after"].strip('"'):
        return re.sub(r"^[0-9]+:", "", region["label"] or region["after"].strip('"'))
    rgb = tuple(int(x) for x in re.findall(r"[\d.]+", region["color"])[:3])
    return colours.get(rgb, f"? {region['color']}")


def doccano(args, work: Path, out: Path, shots: Path, browser: Path) -> Dict[str, Any]:
    bin_folder = tool_venv(
        args.doccano_venv or work / "venvs" / "doccano", doccano_pins(args.doccano_version), args.python
    )
    records = [json.loads(line) for line in (out / "nested.jsonl").read_text(encoding="utf8").splitlines()]
    password = uuid.uuid4().hex[:20]  # doccano's login page takes fewer than 30 characters
    servers, base = start_doccano(
        bin_folder, work / "doccano-data", args.doccano_port, work, "admin", password
    )
    try:
        key = Api(base).call("POST", "/v1/auth/login/", {"username": "admin", "password": password})["key"]
        api = Api(base, key)
        settings = {"project_type": "SequenceLabeling", "resourcetype": "SequenceLabelingProject"}
        settings |= {"allow_overlapping": True, "use_relation": True, "collaborative_annotation": False}
        settings |= {"name": "pre-annotations", "description": "spacy-globalpointer", "guideline": ""}
        project = api.call("POST", "/v1/projects", settings)["id"]
        upload = api.upload("/v1/fp/process/", "filepond", out / "nested.jsonl")
        body = {"format": "JSONL", "task": IMPORT_TASK, "uploadIds": [upload], "column_data": "text"}
        body |= {"column_label": "label", "delimiter": "", "encoding": "utf_8"}
        task = api.call("POST", f"/v1/projects/{project}/upload", body)["task_id"]
        status = _wait_task(api, f"/v1/tasks/status/{task}")
        errors = (status.get("result") or {"error": ["the import failed: see doccano-task.log"]})["error"]
        # The annotation page shows the example at offset page - 1 of the list, in the list's order.
        order = [e["text"] for e in api.call("GET", f"/v1/projects/{project}/examples?limit=1000")["results"]]
        pages = []
        for record in records:
            page = order.index(record["text"]) + 1 if record["text"] in order else 0
            # The address Start Annotation opens.
            path = f"/projects/{project}/sequence-labeling?page={page}&q=&isChecked="
            expect = len(record["entities"])
            pages.append({"name": record["id"], "path": path, "text": record["text"], "expect": expect})
        job = {"tool": "doccano", "base": base, "user": "admin", "password": password}
        job |= {"project": settings["name"], "pages": pages}
        shown = in_browser(args, browser, job, work, shots, "dc-pages")
    finally:
        for server in reversed(servers):
            server.stop()
    rows = []
    for record, page in zip(records, shown["pages"]):
        want = sorted(e["label"] for e in record["entities"])
        want_rel = sorted(r["type"] for r in record["relations"])
        spans = [(e["start_offset"], e["end_offset"]) for e in record["entities"]]
        nested = sum(any(o != e and o[0] <= e[0] and e[1] <= o[1] for o in spans) for e in spans)
        got = sorted(page["entities"])
        rows.append(_row(record["id"], want, got, want_rel, page["relations"], page["shot"], nested=nested))
    imported = {"examples": len(order), "import_errors": errors}
    return _summary("doccano", installed_version(bin_folder, "doccano"), imported, rows)


def _row(
    name: str, want: List, got: List, want_rel: List, got_rel: List, shot: str, **extra
) -> Dict[str, Any]:
    got_rel = sorted(got_rel)
    # An arc whose label the page does not write (Label Studio's, without labels shown) counts by number.
    rel_ok = got_rel == want_rel or (len(got_rel) == len(want_rel) and not any(got_rel))
    row = {"page": name, "entities_predicted": len(want), "entities_shown": len(got), **extra}
    row |= {"relations_predicted": len(want_rel), "relations_shown": len(got_rel), "shot": shot}
    row["as_predicted"] = got == want and rel_ok
    if not row["as_predicted"]:
        row["missing"] = sorted((Counter(map(tuple, want)) - Counter(map(tuple, got))).elements())
        row["unexpected"] = sorted((Counter(map(tuple, got)) - Counter(map(tuple, want))).elements())
        row["relations"] = {"predicted": want_rel, "shown": got_rel}
    return row


def _summary(tool: str, version: str, imported: Dict[str, Any], rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    for row in rows:
        counts = f"{row['entities_shown']}/{row['entities_predicted']} entities"
        counts += f", {row['relations_shown']}/{row['relations_predicted']} relations"
        nested = f" ({row['nested']} nested)" if "nested" in row else ""
        say(f"  {'✔' if row['as_predicted'] else '✘'} {tool} {row['page']}: {counts}{nested}")
        for key in ("missing", "unexpected", "relations"):
            if row.get(key):
                say(f"      {key}: {row[key]}")
    total = {k: sum(r.get(k, 0) for r in rows) for k in ("entities_predicted", "entities_shown", "nested")}
    total |= {k: sum(r[k] for r in rows) for k in ("relations_predicted", "relations_shown")}
    say(f"{tool} {version}: imported {imported}; shown {total}")
    differing = sum(not r["as_predicted"] for r in rows)
    return {"version": version, "imported": imported, **total, "pages_differing": differing, "pages": rows}


if __name__ == "__main__":
    sys.exit(main())
