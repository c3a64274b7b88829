"""``plait.ReAct``: a tool-using agent as one LOOP node plus a final extraction, after dspy.ReAct.

Each iteration the ``react`` predictor reads the inputs and the trajectory so far and proposes
(next_thought, next_tool_name, next_tool_args); the loop calls that tool and appends the
observation. Choosing ``finish`` ends the loop; then ``extract`` reads the trajectory and fills
the signature's outputs. Reaching ``max_iters`` also goes on to the extraction, as in DSPy.
"""

from __future__ import annotations

import json
from typing import Any

import dspy

from plait.ir.nodes import TRAJECTORY
from plait.ir.tools import FINISH, as_tools
from plait.pipeline.loop import record_loop
from plait.pipeline.eager import call_eagerly
from plait.pipeline.module import Module
from plait.pipeline.predict import Predict
from plait.pipeline.signature import resolve_signature
from plait.pipeline.step import step
from plait.pipeline.tracing import current_tracer

ENTRY_FIELDS = ("next_thought", "next_tool_name", "next_tool_args", "observation")


class ReAct(Module):
    """An agent that reasons and calls tools, each iteration journaled; a crash resumes at the last
    finished iteration. ``tools`` are module-level typed functions; other keyword arguments
    (``lm``, ``adapter``, decoding settings) go to both predictors.

    Example::

        def add(a: int, b: int) -> int:
            \"\"\"Add two numbers.\"\"\"
            return a + b

        agent = plait.ReAct("question -> answer: int", tools=[add], max_iters=5)
        compiled = plait.compile(agent)
        compiled(question="what is 2 + 3?").answer
    """

    inputs_from_signature = True  # lowering takes the pipeline's inputs from the signature

    def __init__(self, signature: Any, tools: list[Any], max_iters: int = 10, *, reusable: bool = True,
                 **predict_options: Any) -> None:
        self.signature = resolve_signature(signature)
        self.tools = as_tools(tools)
        self.max_iters = max_iters
        self.reusable = reusable
        self.react = Predict(react_signature(self.signature, self.tools), **predict_options)
        self.extract = Predict(extract_signature(self.signature), **predict_options)

    def forward(self, **inputs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return call_eagerly(self, inputs)
        node_id = tracer.unique_id(tracer.path_of(self))
        accepted = [*self.signature.input_fields, TRAJECTORY]
        agent = record_loop(tracer, node_id, self._iteration, accepted, inputs, self.tools, self.max_iters,
                            "return", self.reusable)
        return self.extract(**inputs, trajectory=format_trajectory(agent.trajectory))

    def _iteration(self, trajectory: Any, **inputs: Any) -> Any:
        return self.react(**inputs, trajectory=format_trajectory(trajectory))


@step
def format_trajectory(trajectory: list[dict[str, Any]]) -> str:
    """The trajectory as the agent reads it: one numbered block per iteration."""
    lines = []
    for i, entry in enumerate(trajectory):
        for name in ENTRY_FIELDS:
            if name in entry:
                value = entry[name]
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                lines.append(f"{name.removeprefix('next_')}_{i}: {text}")
    return "\n".join(lines)


def react_signature(signature: type[dspy.Signature], tools: tuple) -> type[dspy.Signature]:
    inputs = ", ".join(f"`{k}`" for k in signature.input_fields)
    outputs = ", ".join(f"`{k}`" for k in signature.output_fields)
    lines = [f"{signature.instructions}\n"] if signature.instructions else []
    lines += [
        f"You are an Agent. In each episode, you will be given the fields {inputs} as input, and your past "
        "trajectory so far.",
        f"Your goal is to use one or more of the supplied tools to collect the information needed for {outputs}.",
        "In each turn, give next_thought, next_tool_name and next_tool_args. After each tool call, you receive "
        "its observation, which is appended to your trajectory.",
        "The tool must be one of:",
        *(f"({i + 1}) {tool.describe()}" for i, tool in enumerate(tools)),
        f"({len(tools) + 1}) {FINISH}, whose arguments are {{}}. Marks the task as complete: the information "
        f"for {outputs} is now available.",
        "next_tool_args must be a JSON object.",
    ]
    return (dspy.Signature({**signature.input_fields}, "\n".join(lines))
            .append(TRAJECTORY, dspy.InputField(), type_=str)
            .append("next_thought", dspy.OutputField(), type_=str)
            .append("next_tool_name", dspy.OutputField(), type_=str)
            .append("next_tool_args", dspy.OutputField(), type_=dict[str, Any]))


def extract_signature(signature: type[dspy.Signature]) -> type[dspy.Signature]:
    fields = {**signature.input_fields, **signature.output_fields}
    return dspy.Signature(fields, signature.instructions).append(TRAJECTORY, dspy.InputField(), type_=str)
