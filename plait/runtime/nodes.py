"""What each op does when its node runs: one method per op, ``run_<op>``, chosen by name (as
torch.fx's ``Interpreter.run_node`` does). The executor decides *whether* a node runs; this decides
*how*. Two ops are the executor's own scheduling rather than a computation (``EXECUTOR_OPS``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from plait.checkpoints.asking import current_scope
from plait.checkpoints.codec import UnstorableValue, codec_for
from plait.checkpoints.protocol import Source
from plait.errors import NodeError, OutputParseError, PlaitError
from plait.ir.nodes import Node, Op
from plait.ir.types import type_name
from plait.lm.adapters import adapter_named, reply_fix, task_for
from plait.lm.protocol import LMRequest, Usage
from plait.runtime.calls import LMCaller, NodeCall, Reply
from plait.runtime.policies import Guard
from plait.runtime.values import check_prompt, unstorable_error


@dataclass
class Outcome:
    """A node's computed value plus what it cost."""

    value: dict[str, Any]
    source: Source  # LM, STEP, HUMAN, OUTPUT; LOOP for a loop's trajectory; CACHE for a reused value
    lm: str | None = None
    usage: Usage | None = None
    attempts: int = 1
    raw: list[str] = field(default_factory=list)
    fallback_hash: str | None = None  # the identity hash of a fallback LM that produced the value
    cacheable: bool = True  # False: a person's answer shaped it, so no other run may reuse it
    data: bytes | None = None  # the value's JSON, when encoded (and read back) where it was computed


# Ops the executor itself carries out, and why they are not a ``run_<op>`` here: INPUT is the
# item's entry (its fields are validated before the item is admitted), and a LOOP journals each
# iteration on its own, which needs the executor's journal and item (plait/runtime/loops.py).
EXECUTOR_OPS = {Op.INPUT: "Executor._admit", Op.LOOP: "LoopRunner.run"}


class NodeRunner:
    """Runs nodes. ``guards`` maps a PREDICT node's id to its LMs and policies (see policies.py),
    ``adapters`` to its adapter name; ``caller`` makes the guarded LM calls."""

    def __init__(self, guards: dict[str, Guard], adapters: dict[str, str], parse_retries: int = 2,
                 caller: LMCaller | None = None) -> None:
        self.guards = guards
        self.adapters = adapters
        self.parse_retries = parse_retries
        self.caller = caller or LMCaller()

    async def run(self, node: Node, inputs: dict[str, Any], call: NodeCall | None = None) -> Outcome:
        handler = getattr(self, f"run_{node.op.value}", None)
        if handler is None:  # a bug in the executor, not in the user's pipeline
            raise AssertionError(f"node '{node.id}': op {node.op.value} runs in {EXECUTOR_OPS.get(node.op)}")
        return await handler(node, inputs, call)

    async def run_output(self, node: Node, inputs: dict[str, Any], call: NodeCall | None) -> Outcome:
        return Outcome(dict(inputs), Source.OUTPUT)

    async def run_step(self, node: Node, inputs: dict[str, Any], call: NodeCall | None) -> Outcome:
        result = await _called(node, node.params.func, inputs, "fix the step function; after the fix, resume "
                               "the run and only this step reruns")
        value, data = self._validated(node, {"output": result}, raw=repr(result))
        return Outcome(value, Source.STEP, data=data)

    async def run_retrieve(self, node: Node, inputs: dict[str, Any], call: NodeCall | None) -> Outcome:
        """The search's passages, scores and ids are the node's output fields. Counted as a step."""
        result = await _called(node, node.params.search, inputs, "check the corpus and the index folder; "
                               "then resume the run and only this retrieval reruns")
        value, data = self._validated(node, result, raw=repr(result))
        return Outcome(value, Source.STEP, data=data)

    async def run_human(self, node: Node, inputs: dict[str, Any], call: NodeCall | None) -> Outcome:
        """The recorded answer to the node's question; HumanWait (the item waits) if there is none."""
        p = node.params
        answer = current_scope("plait.HumanInput").ask(p.question, node.outputs, timeout=p.timeout, default=p.default)
        return Outcome(answer, Source.HUMAN, cacheable=False)

    async def run_predict(self, node: Node, inputs: dict[str, Any], call: NodeCall | None) -> Outcome:
        params, guard = node.params, self.guards[node.id]
        call = call or NodeCall(node, "")
        adapter = adapter_named(self.adapters[node.id])
        request = adapter.format(params.signature, params.demos, inputs)
        request = replace(request, settings=dict(params.settings),
                          task=task_for(node.id, params.signature, params.demos, inputs))
        check_prompt(node, request, inputs)
        outcome = Outcome({}, Source.LM, usage=Usage(), attempts=0)
        while True:
            n = len(outcome.raw)  # replies so far; an earlier process's (call.replies) are re-read, not asked
            reply = call.replies[n] if n < len(call.replies) else await self._ask(guard, request, call)
            outcome.attempts, outcome.lm, outcome.fallback_hash = call.attempts, reply.lm, reply.fallback_hash
            outcome.usage = outcome.usage + reply.usage
            outcome.raw.append(reply.text)
            try:
                # a re-read reply fails again as it did, unless the adapter or the types changed since:
                # then it is the answer, as it would have been had it come now (it was paid for)
                parsed = _parse(adapter, node, reply)
                outcome.value, outcome.data = self._validated(node, parsed, reply.text)
                return outcome
            except OutputParseError as exc:
                if n >= self.parse_retries:
                    exc.after_replies(outcome.raw, outcome.fallback_hash)  # a fallback's is not the primary's
                    raise
                if n == len(call.replies):  # this process's reply: journaled before the re-ask is sent
                    call.reasked(reply, exc)
                request = _reask(request, reply.text, exc)

    async def _ask(self, guard: Guard, request: LMRequest, call: NodeCall) -> Reply:
        route, response = await self.caller.call(guard, request, call)
        fallback = None if route is guard.primary else route.lm_hash
        return Reply(response.text, route.lm.name, fallback, response.usage, response.finish_reason)

    def _validated(self, node: Node, values: Any, raw: str) -> tuple[dict[str, Any], bytes]:
        """(the value as the store gives it back, its JSON): checked before anything is recorded."""
        codec = codec_for(node.outputs)
        try:
            return codec.stored(codec.validate(values))
        except ValidationError as exc:
            raise _parse_error(node, exc, raw) from None
        except UnstorableValue as exc:
            raise unstorable_error(node, exc) from None


async def _called(node: Node, func: Any, inputs: dict[str, Any], fix: str) -> Any:
    """``func(**inputs)``, awaited if it is async; an exception that is not plait's names the node."""
    try:
        result = func(**inputs)
        return await result if inspect.isawaitable(result) else result
    except PlaitError:
        raise
    except Exception as exc:
        raise NodeError(f"{node.op.value} '{node.id}' raised {type(exc).__name__}: {exc}", node=node.id,
                        source=node.source, fix=fix) from exc


def _parse(adapter: Any, node: Node, reply: Reply) -> dict[str, Any]:
    text = reply.text
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
            fix=reply_fix(adapter.name, reply.finish_reason),
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
