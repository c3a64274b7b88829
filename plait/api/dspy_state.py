"""DSPy state, both ways: a DSPy program's saved JSON (``program.save("x.json")``) into the
predictor nodes of a plan compiled from it, and a plan's demos and instructions back into a DSPy
program whose ``save()`` DSPy's own ``load`` reads.

A plan compiled from a ``dspy.Module`` records in its meta the program's class (``module:qualname``)
and, for each predictor node, DSPy's name for that predictor (``hop[0].predict``, ``answer``): the
keys of DSPy's JSON. The meta is saved with the plan, so a plan reloaded from a run's store still
knows where its state goes.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Iterator

import dspy

from plait.errors import PlaitError, PlanLoadError
from plait.ir.nodes import Node, Op
from plait.ir.plan import Plan
from plait.pipeline.dspy_trace import DSPyProgram, demo_dict

FROM_DSPY = "compile a dspy.Module with plait.compile(program); only such a plan knows DSPy's predictor names"


def origin_meta(plan_name: str, program: DSPyProgram) -> dict[str, Any]:
    """What the plan keeps about the DSPy program it was traced from."""
    predictors = {f"{plan_name}.{path}": name for path, name in program.predictors.items()}
    return {"class": program.class_path(), "predictors": predictors}


def to_dspy(plan: Plan, program: dspy.Module | None) -> dspy.Module:
    """A deep copy of ``program`` (or of a new instance of the recorded class) with each predictor's
    demos and instructions taken from its node in ``plan``."""
    meta = _meta(plan, "to_dspy")
    result = (program if program is not None else _construct(meta["class"])).deepcopy()
    predictors = dict(result.named_predictors())
    for node_id, name in meta["predictors"].items():
        nodes = _nodes_of(plan, node_id)
        if not nodes:
            continue  # a predictor forward never called: its state stays as it was
        predictor = _predictor(predictors, name, node_id, type(result))
        params = nodes[0].params  # an unrolled loop's first call speaks for the predictor
        predictor.demos = [dspy.Example(**demo) for demo in params.demos]
        predictor.signature = predictor.signature.with_instructions(params.instructions)
    return result


def state_updates(plan: Plan, path: str | Path) -> Iterator[tuple[str, Any, list[dict[str, Any]]]]:
    """(node id, signature, demos) for every predictor node, read from DSPy's JSON at ``path``
    through DSPy's own ``load_state`` (instructions, field prefixes and descriptions, demos)."""
    meta = _meta(plan, "load_dspy_state")
    state = _read_state(path)
    for node_id, name in meta["predictors"].items():
        for node in _nodes_of(plan, node_id):
            saved = state.get(name)
            if not isinstance(saved, dict) or "signature" not in saved:
                raise _missing_predictor(path, node.id, name, state)
            predictor = dspy.Predict(node.params.signature)
            predictor.load_state({**saved, "lm": None})
            yield node.id, predictor.signature, [demo_dict(d, predictor.signature) for d in predictor.demos]


def _meta(plan: Plan, method: str) -> dict[str, Any]:
    meta = plan.meta.get("dspy")
    if not meta:
        raise PlaitError(f"{method}: the plan '{plan.name}' was not compiled from a DSPy program",
                         expected="a plan traced from a dspy.Module", found="a plan of plait modules", fix=FROM_DSPY)
    return meta


def _nodes_of(plan: Plan, node_id: str) -> list[Node]:
    return [n for n in plan.of_op(Op.PREDICT) if n.id == node_id or n.id.startswith(node_id + "#")]


def _predictor(predictors: dict[str, Any], name: str, node_id: str, cls: type) -> Any:
    if name not in predictors:
        raise PlaitError(f"to_dspy: the program has no predictor '{name}' for node '{node_id}'", node=node_id,
                         expected=f"a predictor named '{name}' in {cls.__name__}",
                         found=f"its predictors: {', '.join(predictors) or '(none)'}",
                         fix="pass the program the plan was compiled from: compiled.to_dspy(program)")
    return predictors[name]


def _construct(class_path: str) -> dspy.Module:
    module_name, _, qualname = class_path.partition(":")
    try:
        cls: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls()
    except Exception as exc:  # not importable (defined in a notebook or a test), or needs arguments
        raise PlaitError(f"to_dspy: cannot make a new {class_path}", expected="a class importable by that path "
                         "whose __init__ needs no arguments", found=f"{type(exc).__name__}: {exc}",
                         fix="pass the program: compiled.to_dspy(MyProgram(...))") from None


def _read_state(path: str | Path) -> dict[str, Any]:
    try:
        state = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanLoadError(f"cannot read the DSPy state {path}", found=f"{type(exc).__name__}: {exc}",
                            fix="pass a JSON file written by a DSPy program's save('x.json')") from None
    if not isinstance(state, dict):
        raise PlanLoadError(f"{path} is not a DSPy program's saved state", expected="a JSON object keyed by "
                            "predictor name", found=type(state).__name__, fix="save it with program.save('x.json')")
    return state


def _missing_predictor(path: str | Path, node_id: str, name: str, state: dict[str, Any]) -> PlanLoadError:
    keys = ", ".join(k for k in state if k != "metadata") or "(none)"
    return PlanLoadError(f"the DSPy state {path} has no predictor '{name}' for node '{node_id}'", node=node_id,
                         expected=f"a key '{name}' with that predictor's signature and demos",
                         found=f"the predictors {keys}",
                         fix="load state saved from the same program class (program.save('x.json'))")
