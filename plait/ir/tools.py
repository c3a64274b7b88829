"""Tools for agent loops: typed Python functions the LM may call.

A tool's type hints are its argument schema: the arguments the LM proposes are validated with
pydantic before the call, and anything that goes wrong with a call (an unknown tool, bad
arguments, the tool raising) becomes the observation text the LM reads next, so the agent can
recover, never a crash of the run.

A tool that declares a parameter named ``idempotency_key`` receives a key derived from (run,
item, loop node, iteration). The key is the same when a call is repeated after a crash, so a tool
with side effects (sending mail, charging a card) can deduplicate: remember the keys it has
served and return the earlier result for a key it has seen.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any, Callable

from pydantic import ConfigDict, ValidationError, create_model
from pydantic_core import to_jsonable_python

from plait.errors import TraceError
from plait.hashing import code_version
from plait.ir.locations import qualified_name
from plait.ir.source import user_source

IDEMPOTENCY_KEY = "idempotency_key"
FINISH = "finish"


class Tool:
    """A typed function an agent may call. ``path`` (module:qualname) lets a saved plan import it
    again; ``version``, a hash of its source, enters the loop's content key."""

    def __init__(self, func: Callable[..., Any]) -> None:
        _check_importable(func)
        self.func = func
        self.name = func.__name__
        self.desc = (inspect.getdoc(func) or "").strip().split("\n\n")[0]
        self.path = qualified_name(func)
        self.version = code_version(func)
        params = inspect.signature(func).parameters
        self.takes_key = IDEMPOTENCY_KEY in params
        self.args_model = _args_model(func, [p for name, p in params.items() if name != IDEMPOTENCY_KEY])

    def describe(self) -> str:
        """One line for the agent's instructions: name, what it does, its arguments' JSON schema."""
        schema = self.args_model.model_json_schema().get("properties", {})
        args = {name: spec.get("type", "any") for name, spec in schema.items()}
        return f"{self.name}, whose arguments are {json.dumps(args)}. {self.desc}".strip()

    async def call(self, args: Any, idempotency_key: str) -> Any:
        """The observation: the tool's result, or the text of what went wrong."""
        if not isinstance(args, dict):
            return f"Invalid arguments for tool '{self.name}': expected a JSON object, got {args!r}"
        try:
            validated = self.args_model.model_validate(args)
        except ValidationError as exc:
            return f"Invalid arguments for tool '{self.name}': {_short(exc)}"
        kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
        if self.takes_key:
            kwargs[IDEMPOTENCY_KEY] = idempotency_key
        try:
            result = self.func(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # the agent reads the error and may try again differently
            return f"Execution error in {self.name}: {type(exc).__name__}: {exc}"
        return to_jsonable_python(result)


def as_tools(funcs: Any) -> tuple[Tool, ...]:
    """Tools from a list of functions; a clear TraceError for anything that cannot be one."""
    tools: dict[str, Tool] = {}
    for func in funcs:
        tool = func if isinstance(func, Tool) else Tool(func)
        if tool.name == FINISH or tool.name in tools:
            raise TraceError(
                f"two tools are named '{tool.name}'" if tool.name in tools else "a tool is named 'finish'",
                field=tool.name, field_kind="tool", source=user_source(),
                expected="distinct tool names, none of them 'finish' (the agent's way to stop)",
                found=f"'{tool.name}' ({tool.path})", fix="rename the function, or wrap it in one with another name",
            )
        tools[tool.name] = tool
    return tuple(tools.values())


def _check_importable(func: Any) -> None:
    qualname, name = getattr(func, "__qualname__", None), getattr(func, "__name__", repr(func)[:60])
    if not callable(func) or qualname is None or "<lambda>" in qualname or "<locals>" in qualname:
        raise TraceError(
            f"tool {name} is not a module-level function", field=name, field_kind="tool",
            source=user_source(), expected="a function defined at the top level of a module",
            found=repr(func)[:100],
            fix="define the tool with def at module level: a saved plan and a resumed run import it by "
            "module:name",
        )


def _args_model(func: Callable[..., Any], params: list[inspect.Parameter]) -> Any:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: accept anything for those arguments
        hints = {}
    fields = {p.name: (hints.get(p.name, Any), ... if p.default is p.empty else p.default) for p in params}
    return create_model(f"{func.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())[:500]
