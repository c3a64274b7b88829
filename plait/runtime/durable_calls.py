"""Intercepting a DSPy program's calls while its ``forward`` runs as written.

Each item runs ``forward`` on its own copy of the program, in a worker thread (DSPy is
synchronous). On that copy every predictor's ``forward`` and every ``dspy.ReAct`` tool's function
is replaced by a stand-in that numbers the call (its ordinal in the item) and hands it to the run's
event loop, where the journal is checked and the LM is called through plait's caller (retries, rate
limits, fallbacks, budget). Tools themselves run in the worker thread: they are the user's code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable, Coroutine, Protocol

import dspy

from plait.ir.nodes import Node, Op, StepParams


class CallJournal(Protocol):
    """What the stand-ins need from the run (plait/runtime/durable.py's DurableJob)."""

    async def predict(self, item_id: str, node: Node, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]: ...
    async def recorded_tool(self, item_id: str, node: Node, ordinal: int, args: dict[str, Any]) -> tuple[Any] | None: ...
    async def record_tool(self, item_id: str, node: Node, ordinal: int, args: dict[str, Any], result: Any) -> None: ...


class ItemCalls:
    """One item's calls: numbered in the order ``forward`` makes them, each run on the loop."""

    def __init__(self, journal: CallJournal, item_id: str, loop: asyncio.AbstractEventLoop,
                 pending: set[concurrent.futures.Future]) -> None:
        self.journal, self.item_id, self.loop, self.pending = journal, item_id, loop, pending
        self.count, self.lock = 0, threading.Lock()

    def next_ordinal(self) -> int:
        with self.lock:  # a forward that fans out with threads still gets distinct ordinals
            self.count += 1
            return self.count - 1

    def on_loop(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the run's event loop and wait for it here, in the item's thread."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self.pending.add(future)  # cancelled if the run aborts, so this thread never waits forever
        try:
            return future.result()
        finally:
            self.pending.discard(future)

    def predictor(self, node: Node) -> Callable[..., dspy.Prediction]:
        """The stand-in for a predictor's ``forward``: its inputs are its signature's input fields."""
        names = tuple(node.params.signature.input_fields)

        def forward(**kwargs: Any) -> dspy.Prediction:
            inputs = {name: kwargs[name] for name in names if name in kwargs}
            return dspy.Prediction(**self.on_loop(self.journal.predict(self.item_id, node, self.next_ordinal(), inputs)))

        return forward

    def tool(self, node: Node, func: Callable[..., Any]) -> Callable[..., Any]:
        """The stand-in for a tool's function: a recorded result replays, else the tool runs here."""

        def call(**kwargs: Any) -> Any:
            ordinal = self.next_ordinal()
            found = self.on_loop(self.journal.recorded_tool(self.item_id, node, ordinal, kwargs))
            if found is not None:
                return found[0]
            result = func(**kwargs)
            self.on_loop(self.journal.record_tool(self.item_id, node, ordinal, kwargs, result))
            return result

        return call


def install(program: dspy.Module, calls: ItemCalls, nodes: dict[str, Node], prefix: str) -> None:
    """Replace ``program``'s predictors and ReAct tools (a per-item copy) by ``calls``' stand-ins."""
    for path, predictor in program.named_predictors():
        predictor.forward = calls.predictor(nodes[f"{prefix}.{path}"])
    for path, module in program.named_sub_modules():
        if isinstance(module, dspy.ReAct):
            where = path.removeprefix("self").lstrip(".")
            for name, tool in module.tools.items():
                tool.func = calls.tool(tool_node(f"{prefix}.{where + '.' if where else ''}tools.{name}", tool), tool.func)


def tool_node(node_id: str, tool: dspy.Tool) -> Node:
    """A tool call's node: a step that is never reused from another run (a tool may act on the world)."""
    func = tool.func
    path = f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', repr(func))}"
    return Node(node_id, Op.STEP, params=StepParams(func=func, path=path, version="", reusable=False))
