"""Running a LOOP node: iteration by iteration, check-else-run-and-record (DESIGN.md contract 7).

Iteration i (from 1) is journaled as its own row (run, item, node, i) holding only that
iteration's entry, so the history is stored as appended deltas and the trajectory is rebuilt by
concatenating the rows. Each iteration's keys chain the previous ones with the previous entry's
hash (Merkle chains from the body's fingerprint and the loop's inputs), so they cover every
earlier entry without hashing the whole history again: the content key (the cache's) also from
the body's LMs, the replay key (the journal's) without them, so that within a run a recorded
iteration replays whichever LM produced it (DESIGN.md contract 5). The limits (max_iters) are in
neither: raising max_iters keeps the recorded iterations. An iteration a fallback LM answered is
not cached: it must not pass for the primary's in another run.

Per iteration:
  1. this run's journal has it under the same replay key  -> replay it: no LM call, no tool call
  2. the store has a value for its content key (reusable) -> reuse it, record
  3. otherwise run the body's nodes (LM calls through the node's guard); with tools, record the
     agent's decision (a 'proposed' row), call the tool, and record the entry with its observation.

A crash loses at most the call in flight: resume replays the recorded iterations, and an iteration
killed inside its tool call resumes from its recorded decision (the LM is not asked again; the
tool is called again with the same idempotency key). An LM node's failed attempts and re-asks in
the body are journaled in the iteration's row as they happen ('retrying'), as a node's are; the
body's other finished nodes are not: a kill repeats them, with the iteration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from plait.checkpoints.codec import json_utf8
from plait.checkpoints.keys import content_key, replay_key
from plait.checkpoints.protocol import Source, Status
from plait.errors import NodeError, OutputParseError
from plait.hashing import sha256_hex, stable_hash
from plait.ir.fingerprint import loop_body_fingerprint
from plait.ir.nodes import BODY_INPUT, TRAJECTORY, Node, Op
from plait.ir.plan import Plan
from plait.ir.tools import FINISH
from plait.checkpoints.spend import Spend
from plait.lm.protocol import Usage
from plait.runtime import events as ev
from plait.runtime.calls import NodeCall, reason
from plait.runtime.journal import Keys
from plait.runtime.nodes import Outcome

UNPARSED = "unparsed"  # an agent entry whose reply could not be parsed: the loop ends there

if TYPE_CHECKING:
    from plait.runtime.executor import Executor, ItemState


@dataclass
class Iteration:
    """What one iteration's body cost: its LM attempts, tokens, and the LM that answered;
    ``spent``: every request its body sent, answered or not, and every reply's tokens and cost;
    ``journaled``, ``spent_journaled``: of those, already in its row (a node's failed attempts and
    re-asks, journaled as they happen); ``key``: its content key."""

    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    lm: str | None = None
    asked: int = 0  # questions to people: an iteration shaped by an answer is this run's own
    fell_back: bool = False  # a fallback LM answered: the cache must not take it for the primary's
    spent: Spend = Spend()
    journaled: int = 0
    spent_journaled: Spend = Spend()
    key: str = ""

    def unjournaled(self) -> tuple[int, Spend]:
        return self.attempts - self.journaled, self.spent - self.spent_journaled


def idempotency_key(run_id: str, item_id: str, node_id: str, iteration: int) -> str:
    """The key a tool receives: the same for a call repeated after a crash, new for a new run."""
    return sha256_hex(f"{run_id}|{item_id}|{node_id}|{iteration}")[:32]


def first_keys(node: Node, lm_hash: str, inputs: dict[str, Any]) -> Keys:
    """The first iteration's keys: the body, the tools and the loop's input values; the content key
    also the LMs. Each next iteration's are these chained with the entries (Keys.next)."""
    body = loop_body_fingerprint(node.params)
    return Keys(content_key(body, lm_hash, "iteration|1", inputs), replay_key(f"{body}|iteration|1", inputs))


class LoopRunner:
    """Runs the LOOP nodes of one executor's run, sharing its store, journal, runner and events."""

    def __init__(self, executor: Executor) -> None:
        self.ex, self.steps = executor, executor.steps

    async def run(self, item: ItemState, node: Node, inputs: dict[str, Any]) -> Outcome:
        params, total = node.params, Iteration()
        entries: list[dict[str, Any]] = []
        link = first_keys(node, self.ex.lm_hashes.get(node.id, ""), inputs)
        for i in range(1, params.max_iters + 1):
            found = self._recorded(item, node, i, link)
            await self.steps.committed()  # a cache hit's record
            if found is None:
                found = await self._iterate(item, node, i, link, inputs, entries, total)
            entry, value_hash = found
            entries.append(entry)
            if _is_done(node, entry):
                return _outcome(entries, True, total)
            if UNPARSED in entry:  # the agent's reply could not be read: end it, as DSPy's ReAct does
                return _outcome(entries, False, total)
            link = link.next(value_hash)
        if params.on_max_iters == "error":
            raise max_iters_error(node, entries)
        return _outcome(entries, False, total)

    # --- 1 and 2: replay or reuse -------------------------------------------------------------
    def _recorded(self, item: ItemState, node: Node, i: int, link: Keys) -> tuple[dict, str] | None:
        if (row := self.steps.recorded(item.item_id, node, i, link)) is not None:
            source, value_hash = Source.REPLAY, row.value_hash
        elif (value_hash := self.steps.cached(node, link.content)) is not None:
            source = Source.CACHE
            self.steps.record_ok(item.item_id, node, i, link, None, source=Source.CACHE, value_hash=value_hash)
        else:
            return None
        entry = json.loads(self.steps.read(value_hash))
        self.ex.emit(ev.LoopIteration(self.ex.run_id, item.item_id, node.id, i, source))
        return entry, value_hash

    # --- 3: run the body and the tool, record -------------------------------------------------
    async def _iterate(self, item: ItemState, node: Node, i: int, link: Keys, inputs: dict[str, Any],
                       entries: list[dict], total: Iteration) -> tuple[dict, str]:
        entry, cost, counted = self._proposed(item, node, i, link)
        cost.key = link.content
        if entry is None:
            with self.ex.asks.scope(item.item_id, node.id, inputs, iteration=i) as asking:  # keyed by iteration
                entry = await self._decide(item, node, i, inputs, entries, cost)
            cost.asked = asking.asked
            if node.params.tools and UNPARSED not in entry:  # the decision is durable before the tool runs
                entry, counted = self._record(item, node, i, link, entry, cost, Status.PROPOSED)[0], True
                await self.steps.committed()
        if node.params.tools and UNPARSED not in entry:
            entry["observation"] = await self._call_tool(item, node, i, entry)
        entry, value_hash = self._record(item, node, i, link, entry, cost, Status.OK, counted)
        await self.steps.committed()
        self.ex.emit(ev.LoopIteration(self.ex.run_id, item.item_id, node.id, i, _source(cost)))
        total.usage, total.attempts = total.usage + cost.usage, total.attempts + cost.attempts
        total.lm, total.asked = cost.lm or total.lm, total.asked + cost.asked
        total.fell_back = total.fell_back or cost.fell_back
        return entry, value_hash

    async def _decide(self, item: ItemState, node: Node, i: int, inputs: dict[str, Any], entries: list[dict],
                      cost: Iteration) -> dict[str, Any]:
        """The body's entry. An agent's reply that does not parse even after the re-asks becomes an
        entry that ends the loop (its raw text kept); a user loop's body fails the node instead."""
        try:
            return await self._run_body(item, node, i, _body_inputs(node, inputs, entries), cost)
        except OutputParseError as exc:
            if node.params.tools:
                return {UNPARSED: exc.summary, "raw": (exc.raw_attempts or [exc.raw or ""])[-1]}
            self._record_failure(item, node, i, cost, exc)
            raise
        except NodeError as exc:
            self._record_failure(item, node, i, cost, exc)
            raise

    def _record_failure(self, item: ItemState, node: Node, i: int, cost: Iteration, exc: NodeError) -> None:
        attempts, spent = cost.unjournaled()
        self.steps.record_failed_iteration(item.item_id, node, i, exc, source=_source(cost), lm=cost.lm,
                                           attempts=attempts, spent=spent)

    def _proposed(self, item: ItemState, node: Node, i: int, link: Keys) -> tuple[dict | None, Iteration, bool]:
        """A decision the agent made before a crash, whose tool call did not finish: it is not asked again."""
        row = self.steps.recorded(item.item_id, node, i, link, Status.PROPOSED)
        if row is None:
            return None, Iteration(), False
        cost = Iteration(Usage(**(row.usage or {})), row.attempts, row.lm)
        return json.loads(self.steps.read(row.value_hash)), cost, True

    def _record(self, item: ItemState, node: Node, i: int, link: Keys, entry: dict, cost: Iteration,
                status: Status, counted: bool = False) -> tuple[dict, str]:
        """Record the entry; returns it as replay will see it (JSON, exactly) and its hash.
        ``counted``: a 'proposed' row already holds this iteration's attempts (the store adds them up).
        An iteration a person or a fallback LM shaped is not cached."""
        # a lone surrogate (scraped text, a tool's reply) is stored as its escape, as every value is
        data = json_utf8(to_jsonable_python(entry), sort_keys=True, separators=(", ", ": "))
        attempts, spent = (0, Spend()) if counted else cost.unjournaled()
        if status is Status.PROPOSED:
            value_hash = self.steps.record_proposed(item.item_id, node, i, link, data, source=_source(cost),
                                                    lm=cost.lm, usage=cost.usage, attempts=attempts, spent=spent)
        else:
            value_hash = self.steps.record_ok(item.item_id, node, i, link, data, source=_source(cost), lm=cost.lm,
                                              usage=cost.usage, attempts=attempts, spent=spent,
                                              cacheable=not cost.asked and not cost.fell_back)
        return json.loads(data), value_hash

    async def _run_body(self, item: ItemState, node: Node, i: int, inputs: dict[str, Any], cost: Iteration) -> dict:
        env: dict[str, dict[str, Any]] = {BODY_INPUT: inputs}
        for inner in node.params.body.nodes:
            if inner.op is Op.INPUT:
                continue
            values = {p.name: env[p.ref.node][p.ref.field] if p.ref else p.const for p in inner.inputs}
            if inner.op is Op.OUTPUT:
                return _entry(node, values)
            env[inner.id] = await self._run_inner(item, node, inner, i, values, cost)
        raise AssertionError(f"the body of loop '{node.id}' has no OUTPUT node")  # the verifier forbids it

    async def _run_inner(self, item: ItemState, node: Node, inner: Node, i: int, values: dict[str, Any],
                         cost: Iteration) -> dict:
        call = self._call(item, node, inner, i, values, cost)
        try:
            outcome = await self.ex.runner.run(inner, values, call)
        finally:
            if call is not None:  # failed attempts count too (budgets), and replies that did not parse
                cost.attempts, cost.spent = cost.attempts + call.attempts, cost.spent + call.spent
                cost.journaled, cost.spent_journaled = (cost.journaled + call.prior + call.journaled,
                                                        cost.spent_journaled + call.spent_journaled)
        if call is not None:
            cost.usage, cost.lm = cost.usage + (outcome.usage or Usage()), outcome.lm
            cost.fell_back = cost.fell_back or outcome.fallback_hash is not None
        usage = outcome.usage.to_json() if outcome.usage else None
        self.ex.emit(ev.NodeFinished(self.ex.run_id, item.item_id, inner.id, outcome.source, usage=usage))
        return outcome.value

    def _call(self, item: ItemState, node: Node, inner: Node, i: int, values: dict[str, Any],
              cost: Iteration) -> NodeCall | None:
        """The call carries the iteration: a node that keys its own state (a human question) by it.
        An LM node's attempts and re-asks are journaled in the iteration's row as they happen, under
        a key of the iteration, the node and its inputs: a kill repeats only its call in flight."""
        if inner.op is not Op.PREDICT:
            return None if inner.op is Op.STEP else NodeCall(inner, item.item_id, on_retry=self._retrying, iteration=i)
        shown = {k: v for k, v in values.items() if k != TRAJECTORY}  # the trajectory: in the iteration's key
        key = sha256_hex(f"{cost.key}|{inner.id}|{stable_hash(to_jsonable_python(shown, fallback=repr))}")
        return self.steps.call(item.item_id, inner, key, self._retrying, iteration=i, loop=node)

    def _retrying(self, call: NodeCall, exc: BaseException, delay: float) -> None:
        if call.key:  # an LM node's: journaled before the backoff
            self.steps.record_attempt(call, exc)
        self.ex.emit(ev.NodeRetried(self.ex.run_id, call.item_id, call.node.id, call.attempts, reason(exc), delay))

    async def _call_tool(self, item: ItemState, node: Node, i: int, entry: dict[str, Any]) -> Any:
        """The observation. What the agent got wrong (a tool that does not exist, bad arguments, a
        tool that raised) is told to it as the observation, so that it can try again."""
        name = entry.get("next_tool_name")
        if name == FINISH:
            return "Completed."
        tools = {t.name: t for t in node.params.tools}
        tool = tools.get(name)
        if tool is None:
            return f"Unknown tool {name!r}. Use one of: {', '.join([*tools, FINISH])}."
        key = idempotency_key(self.ex.run_id, item.item_id, node.id, i)
        return await tool.call(entry.get("next_tool_args"), key)


def _body_inputs(node: Node, inputs: dict[str, Any], entries: list[dict]) -> dict[str, Any]:
    (start,) = node.params.body.of_op(Op.INPUT)
    values = {f.name: inputs[f.name] for f in start.outputs if f.name != TRAJECTORY}
    if start.output(TRAJECTORY) is not None:
        values[TRAJECTORY] = list(entries)
    return values


def _entry(node: Node, values: dict[str, Any]) -> dict[str, Any]:
    """One iteration's entry: the body's outputs, or the dict its single step returned."""
    if list(values) == ["output"] and isinstance(values["output"], dict):
        values = values["output"]
    entry = dict(values)
    if not node.params.tools and not isinstance(entry.get("done"), bool):
        raise NodeError(
            f"the body of loop '{node.id}' returned an entry without a bool 'done'", node=node.id, field="done",
            field_kind="body output", source=node.source, expected="an entry with 'done': True or False",
            found=repr(entry)[:300],
            fix="return {'done': <bool>, ...} from the body (True ends the loop); then resume the run")
    return entry


def _source(cost: Iteration) -> Source:
    return Source.LM if cost.attempts else Source.STEP


def _is_done(node: Node, entry: dict[str, Any]) -> bool:
    if node.params.tools:
        return entry.get("next_tool_name") == FINISH
    return entry.get("done") is True


def _outcome(entries: list[dict], finished: bool, total: Iteration) -> Outcome:
    value = {TRAJECTORY: entries, "last": entries[-1], "iterations": len(entries), "finished": finished}
    return Outcome(value, Source.LOOP, lm=total.lm, usage=total.usage, attempts=total.attempts,
                   cacheable=not total.asked and not total.fell_back)


def max_iters_error(node: Node, entries: list[dict]) -> NodeError:
    limit = node.params.max_iters
    return NodeError(
        f"loop '{node.id}' did not finish within max_iters={limit}", node=node.id, field="done",
        field_kind="body output", source=node.source, expected=f"an entry with done=True within {limit} iterations",
        found=f"done=False after {len(entries)} iterations; the last entry: {json.dumps(entries[-1], default=str)[:200]}",
        fix="raise max_iters (the recorded iterations are kept: resume runs only the new ones), make the body "
        "reach done, or pass on_max_iters='return' to end with finished=False")


def lm_nodes(plan: Plan) -> list[Node]:
    """The plan's PREDICT nodes, those inside loop bodies included: each gets an LM and a guard."""
    found = []
    for node in plan.nodes:
        if node.op is Op.PREDICT:
            found.append(node)
        elif node.op is Op.LOOP:
            found.extend(lm_nodes(node.params.body))
    return found


def loop_lm_hashes(plan: Plan, hashes: dict[str, str], adapters: dict[str, str]) -> dict[str, str]:
    """Per LOOP node, one hash of its body's LMs and adapters: it enters the loop's content keys."""
    return {node.id: stable_hash([[hashes[n.id], adapters[n.id]] for n in lm_nodes(node.params.body)])
            for node in plan.of_op(Op.LOOP)}
