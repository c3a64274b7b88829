"""What the command line names: pipelines (``module:attr``, a plan file, a stored run), LMs
(``--lm``), Python callables (``module:func``) and datasets (JSONL). Every failure here is a usage
error (exit 2) that says what was given and how to fix it."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import plait
from plait.checkpoints.location import is_server
from plait.checkpoints.urls import redact
from plait.cli.common import existing_store, resolve_run, usage
from plait.lm import config

_FORMS = "module:attribute (a Module instance or class, or a CompiledPipeline), a plan file (plan.json), or a run id"


# --- Python objects --------------------------------------------------------------------------------
def import_object(spec: str, what: str) -> Any:
    """The object ``module:attr.sub`` names; ``module`` may also be a path to a .py file."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise usage(f"'{spec}' does not name a {what}", found=repr(spec),
                    fix="write it as module:attribute, e.g. app:Pipeline or pipelines/qa.py:QA")
    module = _import_module(module_name, spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = ", ".join(n for n in dir(obj) if not n.startswith("_"))[:300]
            raise usage(f"module '{module.__name__}' has no attribute '{attr}'", found=f"its names: {names}",
                        fix=f"check the spelling of '{attr}' in '{spec}'")
        obj = getattr(obj, part)
    return obj


def _import_module(name: str, spec: str) -> Any:
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise usage(f"no file {name}", fix=f"check the path in '{spec}'")
        sys.path.insert(0, str(path.parent.resolve()))
        name = path.stem
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise usage(f"no module named '{name}'", found=f"sys.path {sys.path[:3]}...",
                        fix="run plait from the directory that holds the module, add it to PYTHONPATH, "
                            "or give the file path: path/to/app.py:Pipeline") from None
        raise _import_failed(name) from None
    except Exception:
        raise _import_failed(name) from None


def _import_failed(name: str) -> Exception:
    traceback.print_exc()
    return usage(f"importing '{name}' raised an error (the traceback is above)",
                 fix="fix the error in the module; it must import without side effects that fail")


# --- pipelines -------------------------------------------------------------------------------------
def load_pipeline(ref: str, store_path: str | None = None) -> Any:
    """A CompiledPipeline from ``module:attr``, a saved plan file, or (with a store) a run id."""
    if ":" in ref and not Path(ref).exists():
        return as_pipeline(import_object(ref, "pipeline"), ref)
    if ref.endswith(".json") or Path(ref).is_file():
        if not Path(ref).is_file():
            raise usage(f"no plan file {ref}", fix="write one with `plait plan module:attr --out plan.json`")
        return plait.CompiledPipeline.load(ref)
    if store_path is not None and (is_server(store_path) or Path(store_path).exists()):
        with existing_store(store_path) as store:
            return stored_pipeline(store, resolve_run(store, ref))
    where = f"no store at {redact(store_path)}" if store_path is not None else "no store given"
    raise usage(f"'{ref}' names no pipeline", found=f"no such file, and {where} to look the run up in",
                fix=f"name {_FORMS}")


def stored_pipeline(store: Any, run_id: str) -> Any:
    """The pipeline a run ran, from the store (its step functions are imported by path)."""
    record = store.get_run(run_id)
    plan = json.loads(store.load_plan(record.plan_hash))
    return plait.CompiledPipeline.from_json(plan, origin=f"the plan of run {run_id}")


def as_pipeline(obj: Any, ref: str) -> Any:
    """Compile what ``ref`` names: a CompiledPipeline as is, a Module instance, a Module class
    (built with no arguments), or a function of no arguments returning one of those."""
    if isinstance(obj, plait.CompiledPipeline):
        return obj
    modules = _module_classes()
    if isinstance(obj, modules):
        return plait.compile(obj)
    if inspect.isclass(obj) and issubclass(obj, modules):
        return plait.compile(_construct(obj, ref))
    if callable(obj) and not inspect.isclass(obj) and _takes_no_arguments(obj):
        made = obj()
        if isinstance(made, (plait.CompiledPipeline, *modules)):
            return as_pipeline(made, ref)
    raise usage(f"'{ref}' is not a pipeline", found=f"{repr(obj)[:100]} ({type(obj).__name__})",
                fix="name a plait.Module or dspy.Module instance or class, a CompiledPipeline, or a "
                    "function of no arguments returning one")


def _module_classes() -> tuple[type, ...]:
    """plait.Module, and dspy.Module when DSPy is loaded: a DSPy program's module imported it, and
    the command line does not import DSPy itself only to ask (it starts faster without)."""
    dspy = sys.modules.get("dspy")
    return (plait.Module, dspy.Module) if dspy is not None else (plait.Module,)


def _construct(cls: type, ref: str) -> Any:
    try:
        inspect.signature(cls).bind()
    except TypeError as exc:
        raise usage(f"'{ref}' is a Module class that needs arguments ({exc})", found=str(inspect.signature(cls)),
                    fix="give its parameters defaults, or name an instance: "
                        "pipeline = Pipeline(...) and app:pipeline") from None
    return cls()


def _takes_no_arguments(func: Any) -> bool:
    try:
        inspect.signature(func).bind()
        return True
    except (TypeError, ValueError):
        return False


# --- LMs -------------------------------------------------------------------------------------------
def load_lm(spec: str | None, api_base: str | None = None) -> Any:
    """The LM for ``--lm`` (sent to ``--api-base`` when given); None means: the one the pipeline's
    module configured, else ``local``."""
    if api_base is not None:
        return _hosted(spec, api_base)
    if spec is None:
        return None if config.current().lm is not None else plait.LocalLM()
    if spec == "local":
        return plait.LocalLM()
    if spec.startswith("scripted:"):
        made = import_object(spec.removeprefix("scripted:"), "function returning an LM")
        lm = made() if callable(made) and not hasattr(made, "acall") and _takes_no_arguments(made) else made
        if not hasattr(lm, "acall"):
            raise usage(f"'{spec}' did not give an LM", found=f"{repr(lm)[:100]} ({type(lm).__name__})",
                        fix="name a function of no arguments that returns an LM, e.g. "
                            "def lm(): return plait.ScriptedLM(answer)")
        return lm
    if "/" in spec:
        return plait.DSPyLM(spec)
    raise usage(f"unknown LM '{spec}'", found=repr(spec),
                fix="use --lm local, --lm scripted:module:func, or a provider/model string like openai/gpt-4o-mini")


def _hosted(spec: str | None, api_base: str) -> Any:
    if spec is None or "/" not in spec or spec.startswith("scripted:"):
        raise usage(f"--api-base {api_base} needs a provider/model --lm", found=f"--lm {spec}",
                    fix="name the model the server serves, e.g. --lm openai/llama-3 --api-base " + api_base)
    return plait.DSPyLM(spec, api_base=api_base)


# --- data ------------------------------------------------------------------------------------------
def load_items(path: str) -> list[dict[str, Any]]:
    """Items from a JSONL file (one JSON object a line; ``-`` reads stdin) or a JSON list."""
    text = sys.stdin.read() if path == "-" else _read(path)
    if path.endswith(".json"):
        return _json_list(text, path)
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise usage(f"{path} line {number} is not valid JSON", found=f"{exc.msg}: {line[:80]!r}",
                        fix="write one JSON object per line (JSONL)") from None
        if not isinstance(item, dict):
            raise usage(f"{path} line {number} is not a JSON object", found=line[:80],
                        fix='write each item as an object of the pipeline\'s inputs: {"question": "..."}')
        items.append(item)
    return items


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise usage(f"cannot read {path}", found=f"{type(exc).__name__}: {exc.strerror or exc}",
                    fix="pass the path of a JSONL file (one JSON object per line)") from None


def _json_list(text: str, path: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise usage(f"{path} is not valid JSON", found=exc.msg, fix="write a list of objects, or use JSONL") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise usage(f"{path} is not a list of JSON objects", found=type(data).__name__,
                    fix="write a list of objects, or use JSONL")
    return data


def item_ids(items: list[dict[str, Any]], field: str | None, path: str) -> list[str] | None:
    """The items' ids from ``--id-field``, or None for their positions."""
    if field is None:
        return None
    missing = [n for n, item in enumerate(items, 1) if field not in item]
    if missing:
        raise usage(f"item {missing[0]} of {path} has no '{field}' field",
                    fix="give every item an id, or drop --id-field")
    return [str(item[field]) for item in items]
