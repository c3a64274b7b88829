"""The peers' own virtual environments: created by the bench on first use, never by the tests.

Each peer (LangGraph, DBOS) runs in ``bench/.venvs/<peer>``, made with ``python -m venv`` and the
pinned versions below, so plait's environment never holds their dependencies and a peer's
version is the one the table names. A venv is rebuilt only when its pins change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"

# The versions measured; bump them here and the bench rebuilds that peer's venv on its next run.
PINS: dict[str, list[str]] = {
    "langgraph": ["langgraph==1.2.24", "langgraph-checkpoint-sqlite==3.1.2"],
    "dbos": ["dbos==3.4.0"],
}


def peer_python(peer: str) -> Path:
    """The interpreter of ``peer``'s venv, created (or rebuilt for new pins) when needed."""
    venv = VENVS / peer
    python = venv / "bin" / "python"
    stamp = venv / "pins.txt"
    wanted = "\n".join(PINS[peer]) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"bench: installing {', '.join(PINS[peer])} into {venv} (first use)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINS[peer]], check=True)
    stamp.write_text(wanted)
    return python


def installed_versions(peer: str) -> str:
    """The pins, as the machine line of a table names them."""
    return ", ".join(pin.replace("==", " ") for pin in PINS[peer])


if __name__ == "__main__":
    for name in sys.argv[1:] or PINS:
        print(peer_python(name))
