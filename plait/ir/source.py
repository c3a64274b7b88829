"""Where the user's code made something: a file and a line, found by walking the call stack.

In Jupyter a cell's code lives in a temporary file named by a hash (``/tmp/ipykernel_1/1054704048.py``);
IPython's compiler remembers which execution count each such file belongs to, and a location there
is shown as the cell, ``In [3], line 24``, as IPython's own tracebacks do."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

_PLAIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class SourceLoc:
    """Where the user's code created a node: file and line, and the notebook cell's execution
    count when the file is a cell's."""

    file: str
    line: int
    cell: int | None = None

    def __str__(self) -> str:
        if self.cell is not None:
            return f"In [{self.cell}], line {self.line}"
        return f"{os.path.basename(self.file)}:{self.line}"


def notebook_cell(filename: str) -> int | None:
    """The execution count of the IPython cell whose code is ``filename``, else None. Reads the map
    IPython's compiler keeps (``get_ipython().compile._filename_map``, what its tracebacks use);
    IPython is never imported here: if no one imported it, no cell exists."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    cells = getattr(getattr(shell, "compile", None), "_filename_map", None)
    number = cells.get(filename) if isinstance(cells, dict) else None
    return number if isinstance(number, int) else None


def source_at(file: str, line: int) -> SourceLoc:
    """A location in ``file``, knowing its notebook cell when the file is one."""
    return SourceLoc(file, line, notebook_cell(file))


def user_source(skip_plait: bool = True) -> SourceLoc | None:
    """The innermost frame outside plait's own code: where the user wrote the call."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = os.path.abspath(filename).startswith(_PLAIT_DIR + os.sep)
        if not (skip_plait and inside) and not filename.startswith("<frozen"):
            return source_at(filename, frame.f_lineno)
        frame = frame.f_back
    return None
