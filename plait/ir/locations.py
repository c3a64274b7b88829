"""Where a step function, a tool or a type lives, as a saved plan names it (``module:qualname``),
and how loading the plan finds it again, in this process or in another one (``plait resume``).

A function defined in a script run as ``python app.py`` belongs to the module ``__main__``, a name
that means nothing to another process. It is named by the script's path instead
(``/abs/path/app.py:func``) and loaded from that file as a module of its own, so that the script's
``if __name__ == "__main__":`` block does not run again. Under ``python -m pkg.app`` it is named
``pkg.app:func`` (from ``__main__.__spec__``). In a notebook or an interactive session ``__main__``
has no file: the name stays ``__main__:func``, which only that session can load.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from plait.errors import PlanLoadError

MAIN = "__main__"
SCRIPT_MODULE = "plait_script_"  # the prefix of a script's module when a plan loads it by path


def qualified_name(obj: Any) -> str:
    """``module:qualname`` for ``obj``, with a script's ``__main__`` named by where it really lives."""
    return f"{module_location(obj.__module__)}:{obj.__qualname__}"


def module_location(name: str) -> str:
    """The name a saved plan gives the module ``name``: itself, except for a script's ``__main__``
    (its file's absolute path, or its module name under ``python -m``) and a script loaded by path."""
    module = sys.modules.get(name)
    if name == MAIN:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.name and spec.name != MAIN:
            return spec.name  # python -m pkg.app
        file = getattr(module, "__file__", None)
        return str(Path(file).resolve()) if file and file.endswith(".py") and Path(file).is_file() else MAIN
    if name.startswith(SCRIPT_MODULE) and getattr(module, "__file__", None):
        return str(module.__file__)
    return name


def import_qualified(path: str) -> Any:
    """The object ``module:qualname`` names (module may be a script's path); a clear PlanLoadError if it is gone."""
    module_name, _, qualname = path.rpartition(":")
    try:
        obj: Any = _module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, FileNotFoundError) as exc:
        raise PlanLoadError(f"cannot import {path} named by the saved plan", found=f"{type(exc).__name__}: {exc}",
                            fix=_fix(module_name)) from None
    return obj


def _module(name: str) -> ModuleType:
    main = sys.modules.get(MAIN)
    if main is not None and name != MAIN and module_location(MAIN) == name:
        return main  # the plan was made by this very script: its objects, not a second copy
    if name.endswith(".py"):
        return _load_script(Path(name))
    return importlib.import_module(name)


def _load_script(path: Path) -> ModuleType:
    """The script at ``path`` as a module (once per process), its ``__main__`` block not run."""
    name = SCRIPT_MODULE + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: dataclasses and pydantic look their module up
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # as `python app.py` does: the script imports its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PlanLoadError(f"loading the script {path} named by the saved plan raised an error",
                            found=f"{type(exc).__name__}: {exc}",
                            fix="fix the script so that it runs without error when imported; keep what should "
                                "run only as a program under `if __name__ == \"__main__\":`") from None
    return module


_PASS_IT = "pass the pipeline itself (`plait resume RUN --pipeline app.py:Pipeline`, pipeline=compiled)"


def _fix(module_name: str) -> str:
    if module_name == MAIN:
        return f"it was defined in a notebook or an interactive session: {_PASS_IT}, or move it into a .py file"
    if module_name.endswith(".py"):
        return f"the script {module_name} was moved or deleted: put it back at that path, or {_PASS_IT}"
    return f"run plait from the directory that holds the module (or add it to PYTHONPATH), or {_PASS_IT}"
