"""The doccano half of label_studio_roundtrip.py: predictions for doccano
imported into a running doccano, exported as it exports them (a zip, one
JSON-lines file per annotator), and converted back.

Two projects, both Sequence Labeling with relation labeling and without
collaborative annotation, as docs/corpus-prediction.md tells a user to make
them: one that allows overlapping entities, given every predicted span
(``predict --format doccano``), and one that does not, given the flat
selection (``--source ents``). A second annotator, a member of both, never
annotates: in a project that is not collaborative the pre-annotations are
the importing user's alone, and that annotator's file holds every text with
no annotation (convert must warn, and leave those records out)."""

import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Dict

from tool_servers import (
    Api,
    compare,
    converted,
    doccano_pins,
    installed_version,
    run_ours,
    say,
    start_doccano,
    tool_venv,
)

ADMIN, ANNOTATOR = "admin", "annotator2"
IMPORT_TASK = (
    "RelationExtraction"  # the import form of a project with relation labeling: entities + relations
)


def doccano(args, work: Path, files: Dict[str, Path], want: Dict[str, Any]) -> Dict[str, Any]:
    bin_folder = tool_venv(work / "venvs" / "doccano", doccano_pins(args.doccano_version), args.python)
    version = installed_version(bin_folder, "doccano")
    password = uuid.uuid4().hex
    servers, base = start_doccano(bin_folder, work / "doccano-data", args.doccano_port, work, ADMIN, password)
    try:
        key = Api(base).call("POST", "/v1/auth/login/", {"username": ADMIN, "password": password})["key"]
        api = Api(base, key)
        other = api.call(
            "POST", "/v1/users/create", {"username": ANNOTATOR, "password1": password, "password2": password}
        )
        roles = {r["name"]: r["id"] for r in api.call("GET", "/v1/roles")}
        result: Dict[str, Any] = {"version": version}
        for name, source, overlap in (("overlap", "spans", True), ("flat", "ents", False)):
            project = api.call(
                "POST",
                "/v1/projects",
                {
                    "name": f"round trip ({name})",
                    "description": "spacy-globalpointer",
                    "guideline": "",
                    "project_type": "SequenceLabeling",
                    "resourcetype": "SequenceLabelingProject",
                    "allow_overlapping": overlap,
                    "use_relation": True,
                    "collaborative_annotation": False,
                    "random_order": False,
                    "grapheme_mode": False,
                },
            )["id"]
            api.call(
                "POST", f"/v1/projects/{project}/members", {"user": other["id"], "role": roles["annotator"]}
            )
            upload = api.upload("/v1/fp/process/", "filepond", files[f"doccano_{source}"])
            task = api.call(
                "POST",
                f"/v1/projects/{project}/upload",
                {"format": "JSONL", "task": IMPORT_TASK, "uploadIds": [upload], "column_data": "text"}
                | {"column_label": "label", "delimiter": "", "encoding": "utf_8"},
            )["task_id"]
            status = _wait_task(api, f"/v1/tasks/status/{task}")
            # A task that raised has no result (its error is in doccano-task.log).
            errors = (status.get("result") or {"error": ["the import failed: see doccano-task.log"]})["error"]
            examples = api.call("GET", f"/v1/projects/{project}/examples?limit=1000")["count"]
            say(f"doccano {name}: imported {examples} examples, import errors: {errors}")
            if name == "flat":
                _annotate_one(base, password, project, want)
            task = api.call(
                "POST", f"/v1/projects/{project}/download", {"format": "JSONL", "exportApproved": False}
            )
            export = work / f"doccano_{name}.zip"
            export.write_bytes(
                _wait_download(api, f"/v1/projects/{project}/download?taskId={task['task_id']}")
            )
            with zipfile.ZipFile(export) as zf:
                members = sorted(zf.namelist())
                zf.extractall(work / f"doccano_{name}")
            say(f"doccano {name}: exported {export} ({', '.join(members)})")
            result[name] = {
                "examples": examples,
                "import_errors": errors,
                "members": members,
                **_convert_back(args.model, work, export, source, want),
            }
        return result
    finally:
        for server in reversed(servers):
            server.stop()


def _annotate_one(base: str, password: str, project: int, want: Dict[str, Any]) -> None:
    """The second annotator labels one entity of the first text (the first the pipeline predicted),
    as clicking it in doccano does: their file then holds an annotation, and every text twice."""
    key = Api(base).call("POST", "/v1/auth/login/", {"username": ANNOTATOR, "password": password})["key"]
    api = Api(base, key)
    example = api.call("GET", f"/v1/projects/{project}/examples?limit=1&offset=0")["results"][0]
    types = {t["text"]: t["id"] for t in api.call("GET", f"/v1/projects/{project}/span-types")}
    start, end, label = want[example["text"]]["ents"][0]
    body = {"example": example["id"], "label": types[label], "start_offset": start, "end_offset": end}
    api.call("POST", f"/v1/projects/{project}/examples/{example['id']}/spans", body)


def _convert_back(model: str, work: Path, export: Path, source: str, want: Dict[str, Any]) -> Dict[str, Any]:
    """convert on the zip and on its folder: the importing user's docs match the predictions; the
    other annotator's file, where it holds nothing, is a warning and left out, and where it holds
    their one entity, its texts are written again and reported as duplicates
    (``--doccano-annotator admin`` then converts the importing user's alone)."""
    out: Dict[str, Any] = {}
    runs = [
        ("zip", export, []),
        ("folder", work / export.stem, []),
        ("admin", export, ["--doccano-annotator", ADMIN]),
    ]
    for what, path, flags in runs:
        docbin = work / f"{export.stem}.{what}.spacy"
        proc = run_ours("convert", str(path), str(docbin), "--model", model, *flags)
        report = json.loads(docbin.with_name(docbin.stem + ".report.json").read_text())
        docs = converted(docbin)
        mine = [d for d in docs if d["annotator"] == ADMIN]
        theirs = [d for d in docs if d["annotator"] == ANNOTATOR]
        counts = compare(f"doccano {export.stem} ({what}), {ADMIN}'s docs", mine, want, source)
        out[what] = {
            **counts,
            "counts_as_expected": counts["docs"] == len(want),
            f"{ANNOTATOR}_docs": len(theirs),
            f"{ANNOTATOR}_entities": sum(len(d["spans"]) for d in theirs),
            "duplicates_reported": len(report["duplicates"]),
            "warnings": report["warnings"],
        }
        if not flags:
            # Their file holds nothing (a warning, none of it written), or their one entity (all written).
            empty = not theirs
            warned = ANNOTATOR in proc.stdout and "holds an entity or relation" in proc.stdout
            out[what]["warning_as_expected"] = warned == empty
            expected = (0, 0) if empty else (len(want), len(want))
            out[what]["counts_as_expected"] &= (len(theirs), len(report["duplicates"])) == expected
        say(f"  {what}: {out[what]}")
    return out


def _wait_task(api: Api, path: str, timeout: float = 300) -> Dict[str, Any]:
    start = time.time()
    while time.time() - start < timeout:
        status = api.call("GET", path)
        if status.get("ready"):
            return status
        time.sleep(2)
    raise RuntimeError(f"doccano's task {path} not done in {timeout:.0f} s (is its worker running?)")


def _wait_download(api: Api, path: str, timeout: float = 300) -> bytes:
    start = time.time()
    while time.time() - start < timeout:
        payload = api.call("GET", path, raw=True)
        if payload[:2] == b"PK":  # a zip; else {"status": "Not ready"}
            return payload
        time.sleep(2)
    raise RuntimeError(f"doccano's export {path} not ready in {timeout:.0f} s")
