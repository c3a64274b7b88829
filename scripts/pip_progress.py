"""pip's output, condensed to progress a person can follow: one line per package pip collects, a
line per wheel it builds, the llama.cpp build's own progress every 10%, and the count installed.
Every line also goes to the log file named by the first argument (for when something fails).

    pip install -v ... 2>&1 | python scripts/pip_progress.py .venv/install.log
"""

from __future__ import annotations

import re
import sys

STEP = re.compile(r"\[\s*(\d+)/(\d+)\]")  # ninja's "[12/150] Building C object ..." inside pip -v


def condensed(line: str, state: dict[str, int]) -> str | None:
    """The line to show for one line of pip's output, or None."""
    if line.startswith("Collecting "):
        state["collected"] += 1
        return f"  {state['collected']:3d} collecting {line.split()[1]}"
    if line.startswith("Successfully installed"):
        return f"  installed {len(line.split()) - 2} packages"
    if "Building wheel for" in line or line.startswith(("ERROR", "error:")):
        return "  " + line.strip()[:160]
    step = STEP.search(line)
    if step and int(step[2]) > 20:
        tenth = 10 * int(step[1]) // int(step[2])
        if tenth > state["tenth"]:
            state["tenth"] = tenth
            return f"  compiling: {10 * tenth}% ({step[1]}/{step[2]} steps)"
    return None


def main() -> None:
    state = {"collected": 0, "tenth": -1}
    with open(sys.argv[1], "a", encoding="utf-8") as log:
        for line in sys.stdin:
            log.write(line)
            shown = condensed(line, state)
            if shown:
                print(shown, flush=True)


if __name__ == "__main__":
    main()
