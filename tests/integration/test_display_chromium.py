"""A pipeline's and a run's HTML display, rendered by headless Chromium (Debian's ``chromium``,
which scripts/bootstrap.sh installs): every node of the plan is drawn with a visible box that holds
its label, no two boxes overlap, and no user string became markup (the only script on the page is
the probe this test adds)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

import plait
from tests.programs import Diamond, echo_answer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/bootstrap.sh installs it as root)")
EVIL = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"

# After layout, measure every drawn node and write what was found into the page, for --dump-dom.
PROBE = """<script>
const found = {};
for (const root of ["pipeline", "run"]) {
  found[root] = [...document.querySelectorAll("#" + root + " g.plait-node")].map(g => {
    const box = g.querySelector("rect").getBoundingClientRect(), text = g.querySelector("text").getBoundingClientRect();
    return {id: g.dataset.node, status: g.dataset.status, box: [box.left, box.top, box.width, box.height],
            text: [text.left, text.top, text.width, text.height]};
  });
}
found.scripts = document.scripts.length; found.images = document.images.length; found.title = document.title;
found.text = document.body.innerText.includes("<script>document.title='owned'<" + "/script>");
const out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(found);
document.body.appendChild(out);
</script>"""


def render(page: str, tmp_path) -> dict:
    path = tmp_path / "display.html"
    path.write_text(page)
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1600,2000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the probe did not run: {result.stdout[-1000:]} {result.stderr[-1000:]}"
    return json.loads(html.unescape(match.group(1)))


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def check_drawn(nodes: list[dict], plan) -> None:
    assert sorted(n["id"] for n in nodes) == sorted(n.id for n in plan.nodes)
    for n in nodes:
        x, y, w, h = n["box"]
        tx, ty, tw, th = n["text"]
        assert w > 20 and h > 20, f"node {n['id']} is not visible: {n['box']}"
        assert x - 1 <= tx and tx + tw <= x + w + 1 and y - 1 <= ty and ty + th <= y + h + 1, \
            f"the label of {n['id']} spills out of its box: {n}"
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlaps(a["box"], b["box"]), f"{a['id']} and {b['id']} overlap"


def test_chromium_draws_every_node_of_a_pipeline_and_a_run(tmp_path):
    compiled = plait.compile(Diamond()).update("diamond.final", instructions=f"Answer. {EVIL}",
                                               demos=[{"text": EVIL, "answer": EVIL}])

    def answer(task):
        return "unparseable" if "bad" in str(task.inputs) and task.node_id == "diamond.left" else echo_answer(task)

    run = compiled.run([{"question": f"q {EVIL}"}, {"question": "bad"}], store=str(tmp_path / "r.db"),
                       lm=plait.ScriptedLM(answer), parse_retries=0)
    page = (f'<html><body><div id="pipeline">{compiled._repr_html_()}</div>'
            f'<div id="run">{run._repr_html_()}</div>{PROBE}</body></html>')
    found = render(page, tmp_path)
    check_drawn(found["pipeline"], compiled.plan)
    check_drawn(found["run"], compiled.plan)
    statuses = {n["id"]: n["status"] for n in found["run"]}
    assert statuses["diamond.left"] == "failed" and statuses["diamond.root"] == "done"
    assert found["scripts"] == 1 and found["images"] == 0 and found["title"] == ""
    assert found["text"], "the user's text should be shown as text"
