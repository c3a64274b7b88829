"""Where the user's code made something: a file and a line, found by walking the call stack."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

_PLAIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class SourceLoc:
    """Where the user's code created a node: file and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"


def user_source(skip_plait: bool = True) -> SourceLoc | None:
    """The innermost frame outside plait's own code: where the user wrote the call."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = os.path.abspath(filename).startswith(_PLAIT_DIR + os.sep)
        if not (skip_plait and inside) and not filename.startswith("<frozen"):
            return SourceLoc(filename, frame.f_lineno)
        frame = frame.f_back
    return None
