"""Import every module of plait first, each in a fresh process, whatever plait/__init__.py imports.

Run as a script by tests/unit/test_import_first.py; prints one JSON object
``{"checked": [module, ...], "after_init": [module, ...], "failed": {module: traceback}}``.

This process loads the third-party libraries that plait's modules import at module level (dspy
alone takes seconds) and nothing of plait. For each module, a child forked from it starts with no
module of plait loaded, creates the package ``plait`` without running its ``__init__.py`` and
imports the module. Two more children run ``plait/__init__.py`` with its imports reversed and
shuffled, and check that it defines every name of ``__all__``. The demo and the command line use
the public API at import time (``import plait``, then ``plait.Module``) and nothing imports them:
those modules, and the modules that import them, are imported after ``plait/__init__.py`` has run.
``__main__`` modules run a program when imported; they are left out.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import random
import sys
import tempfile
import traceback
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "plait"


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return [n for n in names if n != "plait" and not n.endswith(".__main__")]


def path_of(module: str) -> Path:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    return path if path.exists() else path.with_suffix("") / "__init__.py"


def top_level_imports(path: Path) -> list[ast.stmt]:
    return [s for s in ast.parse(path.read_text()).body if isinstance(s, (ast.Import, ast.ImportFrom))]


def plait_imports(module: str) -> set[str]:
    """The modules of plait (the package ``plait`` itself included) that ``module`` imports at module level."""
    found = set()
    for stmt in top_level_imports(path_of(module)):
        if isinstance(stmt, ast.Import):
            found.update(a.name for a in stmt.names if a.name.split(".")[0] == "plait")
        elif stmt.level == 0 and (stmt.module or "").split(".")[0] == "plait":
            found.add(stmt.module)
            found.update(f"{stmt.module}.{a.name}" for a in stmt.names if path_of(f"{stmt.module}.{a.name}").exists())
    return found


def public_api_users(modules: list[str]) -> set[str]:
    """The modules that import the package ``plait`` itself, directly or through other modules."""
    imports = {m: plait_imports(m) for m in modules}
    users = {m for m, imported in imports.items() if "plait" in imported}
    while True:
        more = {m for m, imported in imports.items() if imported & users} - users
        if not more:
            return users
        users |= more


def preload_third_party() -> None:
    """What plait imports at module level from outside the standard library, loaded once here."""
    roots = set()
    for path in PACKAGE.rglob("*.py"):
        for stmt in top_level_imports(path):
            names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module or ""]
            roots.update(n.split(".")[0] for n in names if getattr(stmt, "level", 0) == 0)
    for root in sorted(roots - set(sys.stdlib_module_names) - {"plait", "__future__", ""}):
        importlib.import_module(root)


def new_package():
    """The package ``plait``, made without running its __init__.py."""
    spec = importlib.util.spec_from_file_location("plait", PACKAGE / "__init__.py",
                                                  submodule_search_locations=[str(PACKAGE)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["plait"] = package
    return package


def run_init(package, order: str) -> None:
    """plait/__init__.py with its import statements 'reversed' or 'shuffled', in the package's namespace."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    rest = [s for s in tree.body if s not in imports]
    imports = imports[::-1] if order == "reversed" else random.Random(12).sample(imports, len(imports))
    tree.body = imports + rest
    exec(compile(tree, str(PACKAGE / "__init__.py"), "exec"), package.__dict__)
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert not missing, f"plait/__init__.py, imports {order}, does not define {missing}"


def check(job: str, after_init: set[str]) -> None:
    """``job``: a module to import first, or 'plait/__init__.py reversed' (or shuffled)."""
    assert not [m for m in sys.modules if m.split(".")[0] == "plait"], "a module of plait is already loaded"
    package = new_package()
    if job.startswith("plait/__init__.py"):
        run_init(package, job.split()[-1])
    elif job in after_init:  # it needs the public API: the package's __init__.py runs first
        run_init(package, "reversed")
        importlib.import_module(job)
    else:
        importlib.import_module(job)


def child(job: str, after_init: set[str], report: Path) -> None:
    try:
        check(job, after_init)
        code = 0
    except BaseException:
        report.write_text(traceback.format_exc())
        code = 1
    sys.stdout.flush()
    os._exit(code)


def run_forked(jobs: list[str], after_init: set[str]) -> dict[str, str]:
    """Each job in a child forked from this process, as many at a time as there are CPUs."""
    failed: dict[str, str] = {}
    running: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        reports = {job: Path(folder) / f"{i}.txt" for i, job in enumerate(jobs)}
        waiting = list(jobs)
        while waiting or running:
            while waiting and len(running) < (os.cpu_count() or 2):
                job = waiting.pop(0)
                pid = os.fork()
                if pid == 0:
                    child(job, after_init, reports[job])
                running[pid] = job
            pid, status = os.wait()
            job = running.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                failed[job] = reports[job].read_text() if reports[job].exists() else f"exit status {status}"
    return failed


def main() -> None:
    preload_third_party()
    modules = module_names()
    after_init = public_api_users(modules)
    jobs = [*modules, "plait/__init__.py reversed", "plait/__init__.py shuffled"]
    failed = run_forked(jobs, after_init)
    print(json.dumps({"checked": modules, "after_init": sorted(after_init), "failed": failed}))


if __name__ == "__main__":
    main()
