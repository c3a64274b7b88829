"""What each op does when its node runs: one method per op, chosen by name (as torch.fx's
``Interpreter.run_node`` does). The executor decides *whether* a node runs; this decides *how*.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from plait.checkpoints.codec import codec_for
from plait.compiler.ir import Node, Op
from plait.compiler.types import type_name
from plait.errors import NodeError, OutputParseError, PlaitError
from plait.lm.adapters import adapter_named, task_for
from plait.lm.protocol import LMError, LMRequest, Usage


@dataclass
class Outcome:
    """A node's computed value plus what it cost."""

    value: dict[str, Any]
    source: str  # 'lm' or 'step'
    lm: str | None = None
    usage: Usage | None = None
    attempts: int = 1
    raw: list[str] = field(default_factory=list)


class NodeRunner:
    """Runs nodes. ``lms`` maps node id to its LM; ``adapters`` node id to its adapter name."""

    def __init__(self, lms: dict[str, Any], adapters: dict[str, str], parse_retries: int = 2) -> None:
        self.lms = lms
        self.adapters = adapters
        self.parse_retries = parse_retries
        self._semaphores: dict[int, asyncio.Semaphore] = {}

    async def run(self, node: Node, inputs: dict[str, Any]) -> Outcome:
        handler = getattr(self, f"run_{node.op.value}")
        return await handler(node, inputs)

    async def run_output(self, node: Node, inputs: dict[str, Any]) -> Outcome:
        return Outcome(dict(inputs), "output")

    async def run_step(self, node: Node, inputs: dict[str, Any]) -> Outcome:
        try:
            result = node.params.func(**inputs)
            if inspect.isawaitable(result):
                result = await result
        except PlaitError:
            raise
        except Exception as exc:
            raise NodeError(
                f"step '{node.id}' raised {type(exc).__name__}: {exc}", node=node.id, source=node.source,
                fix="fix the step function; after the fix, resume the run and only this step reruns",
            ) from exc
        return Outcome(self._validated(node, {"output": result}, raw=repr(result)), "step")

    async def run_predict(self, node: Node, inputs: dict[str, Any]) -> Outcome:
        params, lm = node.params, self.lms[node.id]
        adapter = adapter_named(self.adapters[node.id])
        request = adapter.format(params.signature, params.demos, inputs)
        request = replace(request, settings=dict(params.settings),
                          task=task_for(node.id, params.signature, params.demos, inputs))
        outcome = Outcome({}, "lm", lm=lm.name, usage=Usage(), attempts=0)
        while True:
            response = await self._call(lm, node, request)
            outcome.attempts += 1
            outcome.usage = outcome.usage + response.usage
            outcome.raw.append(response.text)
            try:
                outcome.value = self._validated(node, _parse(adapter, node, response.text), response.text)
                return outcome
            except OutputParseError as exc:
                if outcome.attempts > self.parse_retries:
                    exc.raw_attempts = list(outcome.raw)  # every reply, for the journal
                    raise
                request = _reask(request, response.text, exc)

    async def _call(self, lm: Any, node: Node, request: LMRequest):
        semaphore = self._semaphores.setdefault(id(lm), asyncio.Semaphore(lm.max_concurrency))
        async with semaphore:
            try:
                return await lm.acall(request)
            except LMError as exc:
                raise NodeError(f"LM '{lm.name}' failed for node '{node.id}': {exc}", node=node.id,
                                source=node.source, fix="check the LM's configuration and availability, "
                                "then resume the run: finished nodes are not called again") from exc

    def _validated(self, node: Node, values: Any, raw: str) -> dict[str, Any]:
        try:
            return codec_for(node.outputs).validate(values)
        except ValidationError as exc:
            raise _parse_error(node, exc, raw) from None


def _parse(adapter: Any, node: Node, text: str) -> dict[str, Any]:
    try:
        return adapter.parse(node.params.signature, text)
    except Exception as exc:  # adapters raise their own types (DSPy's AdapterParseError, ValueError)
        field = _failed_field(node, text, str(exc))
        declared = node.output(field)
        message = str(exc).splitlines()[0][:200]
        raise OutputParseError(
            f"the LM reply of node '{node.id}' cannot be parsed into output field '{field}': {message}",
            node=node.id, field=field, field_kind="output field", source=node.source,
            expected=type_name(declared.type) if declared else "the declared output fields",
            found=f"{text[:300]!r}", raw=text,
            fix=f"use an adapter this LM can follow (adapter='json' or 'compact'), add demos, or use a "
            f"stronger LM; the raw text is kept in the run's journal",
        ) from None


def _failed_field(node: Node, text: str, message: str) -> str:
    """The field the parser choked on: named in its message, else the first one missing."""
    named = re.search(r"parse field (\w+)", message)
    if named and node.output(named.group(1)):
        return named.group(1)
    missing = [f.name for f in node.outputs if f.name not in text]
    return missing[0] if missing else node.outputs[0].name


def _parse_error(node: Node, exc: ValidationError, raw: str) -> OutputParseError:
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first.get("loc") else "?"
    name = name[2:] if name.startswith("f_") and node.output(name) is None else name
    declared = node.output(name)
    kind = "LM reply" if node.op is Op.PREDICT else "step result"
    return OutputParseError(
        f"the {kind} of node '{node.id}' does not fit its output field '{name}': {first['msg']}",
        node=node.id, field=name, field_kind="output field", source=node.source,
        expected=type_name(declared.type) if declared else "the declared output fields",
        found=f"{raw[:300]!r}", raw=raw,
        fix="make the instructions or demos ask for this type, use a stronger LM, or loosen the "
        "field's type; the raw text is kept in the run's journal",
    )


def _reask(request: LMRequest, text: str, exc: OutputParseError) -> LMRequest:
    """Ask again with the reply and the validation error, so the LM can correct itself."""
    correction = (f"Your reply could not be used: field '{exc.field}' {exc.summary.split(': ', 1)[-1]}. "
                  f"Expected {exc.expected}. Reply again in the required format.")
    messages = [*request.messages, {"role": "assistant", "content": text}, {"role": "user", "content": correction}]
    return replace(request, messages=messages)
