"""The browser half of tool_pages.py, run in its own environment (Playwright, driving the
system's Chromium): logs in to a running Label Studio or doccano as a user does, opens the
pages a job names, reads what they draw and takes a screenshot of each.

    python tool_pages_browser.py JOB.json RESULT.json

JOB: {"tool": "label-studio" | "doccano", "base", "user", "password", "chromium", "shots",
"pages": [{"name", "path"}, ...]}. RESULT: per page, the regions drawn (text and label, Label
Studio; label, doccano) and the relation arcs and their labels.
"""

import json
import re
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

# Label Studio: each region's spans carry the class htx-highlight-ID (a span of a nested region
# sits inside its parent's); a region's text is that of its outermost spans; its label, what its
# last span shows (data-label, or the CSS content of its ::after) or its colour.
LS_REGIONS = """() => {
  const spans = [...document.querySelectorAll('span.htx-highlight')];
  const regions = new Map();
  for (const s of spans) {
    const key = [...s.classList].find(c => /^htx-highlight-(?!last$)/.test(c)) || 'one-' + regions.size;
    if (!regions.has(key)) regions.set(key, []);
    regions.get(key).push(s);
  }
  return [...regions.values()].map(group => {
    const top = group.filter(s => !group.some(o => o !== s && o.contains(s)));
    const last = group.find(s => s.classList.contains('htx-highlight-last')) || group[group.length - 1];
    const after = getComputedStyle(last, '::after').content;
    return {text: top.map(s => s.textContent).join(''), label: last.dataset.label || '',
            after: after && after !== 'none' ? after : '', color: getComputedStyle(last).backgroundColor};
  });
}"""
LS_RELATIONS = """() => {
  const arcs = [...document.querySelectorAll('.relations-overlay g[class*="relationItem"]')];
  return arcs.map(g => g.textContent.trim());
}"""
# doccano (v-annotator, an SVG): an entity's label is a group of a circle and its text; a
# relation's label, a group of a rectangle and its text, on an arrow.
DOCCANO = """() => {
  const groups = [...document.querySelectorAll('svg g')];
  const label = g => [...g.children].find(c => c.tagName === 'text');
  const has = (g, tag) => [...g.children].some(c => c.tagName === tag);
  return {
    entities: groups.filter(g => has(g, 'circle') && label(g)).map(g => label(g).textContent.trim()),
    relations: groups.filter(g => has(g, 'rect') && label(g)).map(g => label(g).textContent.trim()),
    arrows: document.querySelectorAll('svg path[marker-end], svg path[marker-start]').length,
  };
}"""


def in_frames(page, script):
    """The script's answer in the frame that has the most to say (Label Studio may draw its text
    in an iframe)."""
    answers = []
    for frame in page.frames:
        try:
            answers.append(frame.evaluate(script))
        except Exception:  # a frame that went away
            continue
    return max(
        answers, key=lambda a: len(a) if isinstance(a, list) else len(a["entities"]) + len(a["relations"])
    )


def settle(page, script, timeout: float = 20.0):
    """Reads the page until two readings a second apart agree (and are not empty, unless the
    time runs out: a page with nothing on it)."""
    start, before = time.time(), None
    while time.time() - start < timeout:
        now = in_frames(page, script)
        if now == before and (now if isinstance(now, list) else any(now.values())):
            return now
        before = now
        time.sleep(1)
    return before


def each_page(page, job, shots: Path, open_page, read):
    """Each page of the job opened (``open_page(path)``), let settle, read (``read(item)``: a dict
    of what it draws) and screenshot."""
    out = []
    for item in job["pages"]:
        open_page(item["path"])
        page.wait_for_load_state("networkidle")
        drawn = read(item)
        shot = shots / f"{job['tool']}-{item['name']}.png"
        page.screenshot(path=str(shot), full_page=True)
        out.append({"name": item["name"], **drawn, "shot": str(shot)})
    return out


def wait_or_stop(page, shots: Path, name: str, after: str, condition: str, seconds: int = 30) -> None:
    """Waits until the page's JavaScript ``condition`` holds; where it does not within ``seconds``,
    a screenshot SHOTS/NAME.png and an exit naming the page it is at."""
    try:
        page.wait_for_function(condition, timeout=seconds * 1000)
    except Exception:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        raise SystemExit(f"{name}: still at {page.url} {seconds} s after {after}: see {shots / name}.png")


def label_studio(page, job, shots: Path):
    page.goto(job["base"] + "/user/login/")
    page.fill("input[name=email]", job["user"])
    page.fill("input[name=password]", job["password"])
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")

    def read(item):
        regions = settle(page, LS_REGIONS, 45 if item["expect"] else 10)
        return {"regions": regions, "relations": in_frames(page, LS_RELATIONS)}

    return each_page(page, job, shots, lambda path: page.goto(job["base"] + path), read)


def doccano(page, job, shots: Path):
    page.goto(job["base"] + "/auth")
    page.fill("input[type=text]", job["user"])
    page.fill("input[type=password]", job["password"])
    # The form's own button: the app bar has a LOGIN button too, first in the page.
    page.click(".v-card button:has-text('Login')")
    wait_or_stop(page, shots, "doccano-login", "Login", "() => !location.pathname.startsWith('/auth')")
    # Loaded directly, doccano 1.8.4's project pages do not know the project's type (the annotation
    # page stays blank, Start Annotation leads to .../undefined): as a user does, open the project
    # from the list, then Start Annotation; each example after it through the app's own router.
    with page.expect_response(lambda r: re.search(r"/v1/projects/[0-9]+$", r.url) is not None):
        page.click(f"text={job['project']}")
    page.wait_for_load_state("networkidle")
    page.click("text=Start Annotation")
    started = "() => location.pathname.includes('/sequence-labeling')"
    wait_or_stop(page, shots, "doccano-start", "Start Annotation", started)
    return each_page(
        page,
        job,
        shots,
        lambda path: page.evaluate("path => window.$nuxt.$router.push(path)", path),
        lambda item: settle(page, DOCCANO, 45 if item["expect"] else 10),
    )


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text())
    shots = Path(job["shots"])
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=job["chromium"], args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            run = label_studio if job["tool"] == "label-studio" else doccano
            result = {"browser": browser.version, "pages": run(page, job, shots)}
        finally:
            browser.close()
    Path(sys.argv[2]).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
