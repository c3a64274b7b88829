"""Five DSPy programs in the shapes of DSPy's docs and tutorials, and a deterministic DSPy LM for them.

The programs are plain ``dspy.Module`` subclasses, written as a DSPy user writes them (nothing of
plait here): a chain, parallel branches, ChainOfThought with typed outputs, a multi-hop loop (with
an early exit, and a constant-range variant) and ReAct with tools.

``DeterministicLM`` is a ``dspy.BaseLM`` whose reply is computed from the prompt: it reads the
output fields and their types from the system message DSPy's ChatAdapter and JSONAdapter write,
hashes every message, and fills each field with a value of its type derived from that hash, in the
format the adapter asked for (``[[ ## field ## ]]`` sections, or one JSON object). The same
messages always give the same reply, and any change to the prompt (instructions, demos, inputs)
changes it. For ReAct it calls the first tool once, with arguments made from its JSON schema, then
``finish``. Every prompt it receives is kept in ``lm.prompts`` (shared by DSPy's copies).
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import re
import threading
from typing import Any, Literal

import dspy


# --- 1. a chain: draft, then polish (the "compose modules in forward" shape of DSPy's docs) -----
class DraftThenPolish(dspy.Module):
    def __init__(self):
        super().__init__()
        self.draft = dspy.Predict("question -> draft")
        self.polish = dspy.Predict("question, draft -> answer")

    def forward(self, question: str):
        draft = self.draft(question=question).draft
        return self.polish(question=question, draft=draft)


# --- 2. parallel branches joined at the end -----------------------------------------------------
class SummarizeAndTag(dspy.Module):
    def __init__(self):
        super().__init__()
        self.summarize = dspy.Predict("document -> summary")
        self.keywords = dspy.Predict("document -> keywords: list[str]")
        self.title = dspy.Predict("summary, keywords: list[str] -> title")

    def forward(self, document: str):
        summary = self.summarize(document=document).summary
        keywords = self.keywords(document=document).keywords
        title = self.title(summary=summary, keywords=keywords).title
        return dspy.Prediction(summary=summary, keywords=keywords, title=title)


# --- 3. ChainOfThought with typed outputs (a class-based signature, as in DSPy's typed examples) --
class AssessTicket(dspy.Signature):
    """Assess a support ticket: its priority, whether it is a bug, its tags and its team."""

    ticket: str = dspy.InputField()
    priority: int = dspy.OutputField(desc="1 (low) to 5 (urgent)")
    is_bug: bool = dspy.OutputField()
    tags: list[str] = dspy.OutputField()
    team: Literal["billing", "platform", "support"] = dspy.OutputField()


class TicketTriage(dspy.Module):
    def __init__(self):
        super().__init__()
        self.assess = dspy.ChainOfThought(AssessTicket)

    def forward(self, ticket: str):
        return self.assess(ticket=ticket)


# --- 4. multi-hop: notes refined hop by hop (DSPy's multi-hop tutorials) -----------------------
class MultiHopEarlyExit(dspy.Module):
    """Stops as soon as a hop says it is done: data-dependent control flow."""

    def __init__(self, max_hops: int = 3):
        super().__init__()
        self.hop = dspy.Predict("question, notes -> new_notes, done: bool")
        self.answer = dspy.Predict("question, notes -> answer")
        self.max_hops = max_hops

    def forward(self, question: str):
        notes = ""
        for _ in range(self.max_hops):
            step = self.hop(question=question, notes=notes)
            notes = step.new_notes
            if step.done:
                break
        return self.answer(question=question, notes=notes)


class MultiHop(dspy.Module):
    """The same with a constant number of hops, each its own predictor: a loop that unrolls."""

    def __init__(self, hops: int = 2):
        super().__init__()
        self.hop = [dspy.ChainOfThought("question, notes -> new_notes") for _ in range(hops)]
        self.answer = dspy.Predict("question, notes -> answer")

    def forward(self, question: str):
        notes = "(none yet)"
        for hop in self.hop:
            notes = hop(question=question, notes=notes).new_notes
        return self.answer(question=question, notes=notes)


# --- 5. ReAct with tools -------------------------------------------------------------------------
def lookup_population(city: str) -> str:
    """The population of a city, from a small table."""
    table = {"paris": 2_100_000, "lyon": 520_000}
    return str(table.get(city.strip().lower(), 0))


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class CityAgent(dspy.Module):
    def __init__(self):
        super().__init__()
        self.agent = dspy.ReAct("question -> answer", tools=[lookup_population, add], max_iters=3)

    def forward(self, question: str):
        return self.agent(question=question)


COMPILABLE = {"chain": DraftThenPolish, "parallel": SummarizeAndTag, "typed_cot": TicketTriage,
              "multihop": MultiHop}
INPUT_NAME = {"chain": "question", "parallel": "document", "typed_cot": "ticket", "multihop": "question",
              "multihop_early_exit": "question", "react": "question"}


# --- the deterministic LM --------------------------------------------------------------------------
_OUTPUT_LINE = re.compile(r"^\d+\. `(\w+)` \((.+?)\):", re.M)
_TOOL_LINE = re.compile(r"^\s*\(\d+\) (\w+), whose description is .*?\. It takes arguments (\{.*\})\.$", re.M)


class DeterministicLM(dspy.BaseLM):
    """Replies computed from the prompt, in the format of DSPy's ChatAdapter or JSONAdapter.

    Example::

        lm = DeterministicLM()
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            DraftThenPolish()(question="2 + 2?").answer
        len(lm.prompts)  # 2
    """

    def __init__(self, model: str = "deterministic/hash", **kwargs: Any) -> None:
        super().__init__(model=model, cache=False, num_retries=0, **kwargs)
        self.prompts: list[list[dict]] = []
        self._lock = threading.Lock()

    def forward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any) -> dict:
        messages = messages or [{"role": "user", "content": prompt or ""}]
        with self._lock:
            self.prompts.append([dict(m) for m in messages])
        return _completion(self.model, reply_for(messages))

    async def aforward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any) -> dict:
        return await asyncio.to_thread(self.forward, prompt, messages, **kwargs)


def reply_for(messages: list[dict]) -> str:
    """The reply to ``messages``: every output field filled from a hash of the whole prompt."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()
    fields = {name: value_of(name, type_text, digest, system, messages[-1]["content"])
              for name, type_text in _output_fields(system)}
    if "Respond with a JSON object" in messages[-1]["content"]:
        return json.dumps(fields, ensure_ascii=False)
    sections = [f"[[ ## {name} ## ]]\n{_chat_text(value)}" for name, value in fields.items()]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def _output_fields(system: str) -> list[tuple[str, str]]:
    outputs = system.split("Your output fields are:", 1)[-1].split("All interactions will be structured", 1)[0]
    return _OUTPUT_LINE.findall(outputs)


def value_of(name: str, type_text: str, digest: str, system: str, request: str) -> Any:
    """A value of the field's type, chosen by the digest (and, for ReAct's fields, by the trajectory)."""
    number = int(digest[:12], 16) + sum(map(ord, name))
    if name == "next_tool_name":
        tools = [t for t in _tools(system) if t != "finish"]
        return "finish" if "observation_0" in request or not tools else tools[0]
    if name == "next_tool_args":
        tools = _tools(system)
        first = next((t for t in tools if t != "finish"), None)
        return {} if "observation_0" in request or first is None else _tool_args(tools[first], number)
    if type_text == "int":
        return number % 5 + 1
    if type_text == "bool":
        return number % 2 == 0
    if type_text == "float":
        return (number % 1000) / 10
    if type_text.startswith("list["):
        return [f"{name}-{digest[i:i + 4]}" for i in range(0, 8, 4)]
    if type_text.startswith("Literal["):
        choices = list(ast.literal_eval(type_text[len("Literal"):]))
        return choices[number % len(choices)]
    if type_text.startswith("dict["):
        return {"key": digest[:6]}
    return f"{name} {digest[:10]}"


def _tools(system: str) -> dict[str, dict]:
    return {name: ast.literal_eval(args) for name, args in _TOOL_LINE.findall(system)}


def _tool_args(schema: dict[str, dict], number: int) -> dict[str, Any]:
    return {arg: number % 7 if spec.get("type") == "integer" else "Paris" for arg, spec in schema.items()}


def _chat_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _completion(model: str, text: str) -> dict:
    return {"model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
