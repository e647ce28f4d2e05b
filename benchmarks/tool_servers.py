"""What the round trips through the annotation tools share
(label_studio_roundtrip.py, tool_pages.py): a tool's own virtual environment from the
package index, its server started on 127.0.0.1 and stopped, HTTP calls to its
REST API, and the comparison of what came back with what the pipeline
predicted."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
Entities = List[Tuple[int, int, str]]
Relations = List[Tuple[Tuple[int, int, str], Tuple[int, int, str], str]]


def say(text: str) -> None:
    print(text, flush=True)


def tool_venv(folder: Path, packages: Sequence[str], python: str) -> Path:
    """A virtual environment with ``packages`` from the index (made once, reused while the
    pins are the same); returns its bin folder."""
    stamp = folder / "pins.json"
    if not (stamp.exists() and json.loads(stamp.read_text()) == list(packages)):
        say(f"Making {folder} with {' '.join(packages)} (a few minutes) ...")
        subprocess.run([python, "-m", "venv", "--clear", str(folder)], check=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages]
        subprocess.run(pip, check=True)
        stamp.write_text(json.dumps(list(packages)))
    return folder / "bin"


def installed_version(bin_folder: Path, package: str) -> str:
    out = subprocess.run(
        [str(bin_folder / "python"), "-m", "pip", "show", package], capture_output=True, text=True, check=True
    )
    return next(
        line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")
    )


class Server:
    """A process started in its own session (so that it and its children stop together), its
    output in a log file."""

    def __init__(
        self, name: str, args: List[str], log: Path, env: Dict[str, str], cwd: Optional[Path] = None
    ):
        self.name, self.log = name, log
        self.proc = subprocess.Popen(
            args,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=cwd,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        say(f"Stopped {self.name}")


class Api:
    """JSON over HTTP with a token, as the tools' REST APIs take it."""

    def __init__(self, base: str, token: str = "", scheme: str = "Token"):
        self.base, self.headers = base.rstrip("/"), {"Authorization": f"{scheme} {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data is not None else {})}
        return self._send(
            urllib.request.Request(self.base + path, data=data, headers=headers, method=method), raw
        )

    def upload(self, path: str, field: str, file: Path, fields: Dict[str, str] = {}) -> Any:
        """A multipart form with one file, as a browser uploads it."""
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        ]
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{file.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        body = b"".join(parts) + head.encode() + file.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._send(urllib.request.Request(self.base + path, data=body, headers=headers, method="POST"))

    def _send(self, request: urllib.request.Request, raw: bool = False) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            raise RuntimeError(
                f"{request.method} {request.full_url}: {err.code} {err.read()[:2000]!r}"
            ) from None
        if raw:
            return payload
        text = payload.decode("utf8")
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return text


def label_studio_pins(version: str) -> List[str]:
    # sentry-sdk 3 (what the index resolves today) stops Label Studio 1.23.2 at its start:
    # "Unknown option 'send_default_pii'".
    return [f"label-studio=={version}", "sentry-sdk<3"]


def doccano_pins(version: str) -> List[str]:
    # environs 9.5 (doccano's pin) breaks with marshmallow 4; pandas 1.5 (doccano's pin) with numpy 2.
    return [f"doccano=={version}", "marshmallow<4", "numpy<2"]


def start_label_studio(
    bin_folder: Path, data: Path, port: int, log: Path, email: str, password: str, token: str
) -> Tuple[Server, str]:
    """Label Studio on 127.0.0.1 with its own (emptied) data folder and one user; returns the
    server, answering, and its address."""
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    start = [str(bin_folder / "label-studio"), "start", "--no-browser", "--data-dir", str(data)]
    start += ["--internal-host", "127.0.0.1", "-p", str(port), "--username", email]
    start += ["--password", password, "--user-token", token, "--enable-legacy-api-token"]
    server = Server("Label Studio", start, log, {"LABEL_STUDIO_BASE_DATA_DIR": str(data)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/version", server)
    except BaseException:
        server.stop()
        raise
    return server, base


def start_doccano(
    bin_folder: Path, home: Path, port: int, logs: Path, admin: str, password: str
) -> Tuple[List[Server], str]:
    """doccano on 127.0.0.1 with its own (emptied) data folder and one admin: its web server and
    its task worker (every import and export is a Celery task), answering; and its address."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        "DOCCANO_HOME": str(home),
        "STANDALONE": "True",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": f"sqlite:///{home}/db.sqlite3",
        "MEDIA_ROOT": str(home / "media"),
    }
    cli = [str(bin_folder / "doccano")]
    for step in (["init"], ["createuser", "--username", admin, "--password", password]):
        subprocess.run(cli + step, env={**os.environ, **env}, check=True, capture_output=True)
    code = "import backend, os; print(os.path.dirname(backend.__file__))"
    backend = subprocess.run(
        [str(bin_folder / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    # `doccano webserver` binds 0.0.0.0 (1.8.4 has no option for it): its gunicorn, on 127.0.0.1.
    web = [str(bin_folder / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    servers = [
        Server(
            "doccano's web server", web + ["--chdir", backend, "config.wsgi"], logs / "doccano-web.log", env
        ),
        Server("doccano's task worker", cli + ["task", "--concurrency", "1"], logs / "doccano-task.log", env),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/v1/health/", servers[0])
    except BaseException:
        for server in reversed(servers):
            server.stop()
        raise
    return servers, base


def wait_for(url: str, server: Server, timeout: float = 300) -> None:
    start = time.time()
    while time.time() - start < timeout:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} stopped: see {server.log}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(2)
    raise RuntimeError(f"{server.name} did not answer {url} in {timeout:.0f} s: see {server.log}")


def run_ours(*args: str, expect_fail: bool = False) -> subprocess.CompletedProcess:
    """A command of this package, as a user runs it (this checkout first on the path)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "globalpointer", *args], capture_output=True, text=True, env=env
    )
    if (proc.returncode != 0) != expect_fail:
        raise RuntimeError(
            f"globalpointer {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
    return proc


def predicted(model: str, texts: List[str]) -> Dict[str, Dict[str, Any]]:
    """What the pipeline predicts for each text, straight from its Docs: every span, doc.ents, and
    the relations, as (start, end, label) character offsets."""
    import spacy

    from spacy_globalpointer import relations
    from spacy_globalpointer.corpus.predict import component_relations_key, component_spans_key

    nlp = spacy.load(model)
    spans_key, relations_key = component_spans_key(nlp), component_relations_key(nlp)
    out = {}
    for doc in nlp.pipe(texts):
        rels = relations(doc, relations_key) if relations_key else []
        out[doc.text] = {
            "spans": sorted(_entity(s) for s in doc.spans[spans_key]),
            "ents": sorted(_entity(e) for e in doc.ents),
            "relations": sorted((_entity(r.head), _entity(r.tail), r.label) for r in rels),
        }
    return json.loads(json.dumps(out))  # tuples as lists, as they are stored


def converted(docbin: Path) -> List[Dict[str, Any]]:
    """The text, entities, relations and annotator of each doc of a DocBin that convert wrote."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_globalpointer import relations

    out = []
    for doc in DocBin().from_disk(docbin).get_docs(spacy.blank("en").vocab):
        rels = [(_entity(r.head), _entity(r.tail), r.label) for r in relations(doc)]
        out.append(
            {
                "text": doc.text,
                "spans": sorted(_entity(s) for s in doc.spans["sc"]),
                "relations": sorted(rels),
                "annotator": doc.user_data.get("annotator"),
            }
        )
    return json.loads(json.dumps(out))


def _entity(span) -> Tuple[int, int, str]:
    return span.start_char, span.end_char, span.label_


def compare(
    name: str, got: List[Dict[str, Any]], want: Dict[str, Dict[str, Any]], spans: str
) -> Dict[str, int]:
    """Entity for entity and relation for relation, doc by doc (by text): the counts, and every
    difference printed; ``spans``: which of the predictions the tool was given ("spans": all of
    them, "ents": doc.ents, and then the relations between those)."""
    problems = []
    seen = set()
    for doc in got:
        text = doc["text"]
        if text not in want or text in seen:
            why = "never predicted" if text not in want else "written twice"
            problems.append(f"a doc of a text {why}: {text[:60]!r}")
            continue
        seen.add(text)
        shown = want[text][spans]
        expected_rels = [r for r in want[text]["relations"] if r[0] in shown and r[1] in shown]
        if doc["spans"] != shown:
            problems.append(f"{text[:50]!r}: entities {doc['spans']} != predicted {shown}")
        if doc["relations"] != sorted(expected_rels):
            problems.append(f"{text[:50]!r}: relations {doc['relations']} != predicted {expected_rels}")
    for line in problems:
        say(f"  ✘ {name}: {line}")
    counts = {
        "docs": len(got),
        "entities": sum(len(d["spans"]) for d in got),
        "relations": sum(len(d["relations"]) for d in got),
        "differences": len(problems),
    }
    say(f"  {'✔' if not problems else '✘'} {name}: {counts}")
    return counts
