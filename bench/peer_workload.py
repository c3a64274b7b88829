"""The peers' workload, in the standard library only: every framework's venv imports it.

Five LM nodes per item, a(question) -> x; b(x) -> y and c(x) -> z; d(y, z) -> w; e(w) -> answer.
A node's output depends on its inputs only (``answer``), so each item's final answer is a hash
chain over all five of its outputs: a skipped, repeated-wrong or misrouted node changes it, and
the checksum over all answers (``checksum``) matches ``expected_checksum`` only if every node ran
on the right values. The fake LM replies in DSPy's ChatAdapter text format, as a real LM
prompted by plait or DSPy would.
"""

from __future__ import annotations

import re
import threading
import zlib

# node -> (input fields, output field): the same graph in every framework.
NODES: dict[str, tuple[tuple[str, ...], str]] = {
    "a": (("question",), "x"),
    "b": (("x",), "y"),
    "c": (("x",), "z"),
    "d": (("y", "z"), "w"),
    "e": (("w",), "answer"),
}
SIGNATURES = {name: f"{', '.join(inputs)} -> {output}" for name, (inputs, output) in NODES.items()}
_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\n|\s*\Z)", re.S)


def questions(n: int) -> list[dict[str, str]]:
    """Distinct questions, so no node's result can be reused across items."""
    return [{"question": f"Question {i}: what is {i} times {i + 7}?"} for i in range(n)]


def answer(output_field: str, input_values: list[str]) -> str:
    """What the fake LM answers: the output field's name and a hash of the node's inputs."""
    return f"{output_field} {zlib.crc32('|'.join(input_values).encode()):08x}"


def reply_text(output_field: str, value: str) -> str:
    """The reply in DSPy's ChatAdapter format (what ``format_assistant_message_content`` writes)."""
    return f"[[ ## {output_field} ## ]]\n{value}\n\n[[ ## completed ## ]]\n"


def prompt_text(node: str, values: dict[str, str]) -> str:
    """The prompt a hand-written node sends: the inputs in ChatAdapter sections, then the ask."""
    inputs, output = NODES[node]
    sections = "\n\n".join(f"[[ ## {name} ## ]]\n{values[name]}" for name in inputs)
    return f"{sections}\n\nRespond with the field `[[ ## {output} ## ]]`, then `[[ ## completed ## ]]`."


def sections(text: str) -> dict[str, str]:
    """The ``[[ ## name ## ]]`` sections of a prompt or reply: how hand-written nodes parse."""
    return {name: value for name, value in _SECTION.findall(text)}


class FakeLM:
    """A zero- or fixed-latency LM for hand-written nodes: reads the inputs from the prompt's
    sections (as the node wrote them), counts its calls. ``sleep`` is time.sleep for threads."""

    def __init__(self, latency: float = 0.0, sleep=None) -> None:
        self.latency, self.sleep, self.calls = latency, sleep, 0
        self._lock = threading.Lock()  # `calls += 1` from many threads can lose counts

    def complete(self, node: str, prompt: str) -> str:
        with self._lock:
            self.calls += 1
        if self.latency:
            self.sleep(self.latency)
        inputs, output = NODES[node]
        found = sections(prompt)
        return reply_text(output, answer(output, [found[name] for name in inputs]))


def run_node(lm: FakeLM, node: str, values: dict[str, str]) -> str:
    """One hand-written LM node: format, call, parse. Returns the output field's value."""
    output = NODES[node][1]
    return sections(lm.complete(node, prompt_text(node, values)))[output]


def reference_item(question: str) -> str:
    """The final answer computed without any framework: what every peer must produce."""
    x = answer("x", [question])
    y, z = answer("y", [x]), answer("z", [x])
    return answer("answer", [answer("w", [y, z])])


def checksum(answers: list[str]) -> int:
    """Order-independent checksum over the final answers (items finish in any order)."""
    return sum(zlib.crc32(a.encode()) for a in answers) % 2**32


def expected_checksum(n: int) -> int:
    return checksum([reference_item(q["question"]) for q in questions(n)])


def distinct_calls(n: int) -> int:
    """LM calls a content-addressed run of ``n`` items makes: one per distinct (node, inputs). The
    answers are 32-bit hashes, so among 100,000 items a few intermediate answers collide (9 calls
    fewer than 5 per item); a framework that shares identical questions' answers asks those once."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for q in questions(n):
        x = answer("x", [q["question"]])
        y, z = answer("y", [x]), answer("z", [x])
        w = answer("w", [y, z])
        seen.update({("a", (q["question"],)), ("b", (x,)), ("c", (x,)), ("d", (y, z)), ("e", (w,))})
    return len(seen)
