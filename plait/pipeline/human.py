"""HumanInput: a question to a person, typed by a DSPy signature like Predict."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from plait.checkpoints.codec import codec_for
from plait.errors import PlaitError, TraceError
from plait.ir.nodes import Field, HumanParams, Node, Op
from plait.ir.source import user_source
from plait.ir.types import type_name
from plait.pipeline.module import Module
from plait.pipeline.predict import Predict
from plait.pipeline.signature import resolve_signature
from plait.pipeline.tracing import SymbolicPrediction, current_tracer


class HumanInput(Module):
    """Ask a person. The signature's inputs are the context shown with the question (its
    docstring); its outputs are the typed answer. When a run reaches this node, the item waits,
    durably: the process may exit, someone answers with ``plait.answer`` or ``plait answer``, and
    ``plait.resume`` goes on from here without re-running any earlier node.

    ``timeout`` (seconds) with ``default`` (a dict of the output fields, or the value of the only
    output field): when the run reaches, or resumes at, the question after its deadline, the
    default is the answer, recorded as such.

    Example::

        class Review(plait.Signature):
            \"\"\"Is this summary good enough to publish?\"\"\"
            summary: str = plait.InputField()
            approved: bool = plait.OutputField()
            comment: str = plait.OutputField()

        self.review = plait.HumanInput(Review, timeout=86400, default={"approved": False, "comment": ""})
    """

    def __init__(self, signature: Any, *, timeout: float | None = None, default: Any = None) -> None:
        self.signature = resolve_signature(signature)
        self.outputs = tuple(Field(n, f.annotation) for n, f in self.signature.output_fields.items())
        if (timeout is None) != (default is None):
            raise TraceError("HumanInput needs both timeout= and default=, or neither", source=user_source(),
                             expected="timeout=SECONDS, default=ANSWER", found=f"timeout={timeout!r}, default={default!r}",
                             fix="give the answer to use when nobody answers in time, or drop the timeout")
        self.timeout = timeout
        self.default = None if default is None else self._checked_default(default)

    def __call__(self, **inputs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            raise PlaitError(
                "plait.HumanInput cannot be called eagerly: a person answers it later, in another process",
                source=user_source(), fix="use it inside a plait.Module's forward(), compile the module and "
                "run it with a store: compiled.run(items, store='runs.db')")
        node_id = tracer.unique_id(tracer.path_of(self))
        params = HumanParams(self.signature, self.timeout, self.default)
        tracer.record(Node(node_id, Op.HUMAN, self._ports(node_id, inputs), self.outputs, params, user_source()))
        return SymbolicPrediction(node_id, self.outputs)

    def forward(self, **inputs: Any) -> Any:
        return self(**inputs)

    _ports = Predict._ports  # the same input checks as an LM node: declared, all given, typed

    def _checked_default(self, default: Any) -> dict[str, Any]:
        if not isinstance(default, dict) and len(self.outputs) == 1:
            default = {self.outputs[0].name: default}
        try:
            return to_jsonable_python(codec_for(self.outputs).validate(dict(default)))
        except (ValidationError, TypeError, ValueError) as exc:
            raise TraceError(
                "the default answer of HumanInput does not fit its output fields", source=user_source(),
                expected=", ".join(f"{f.name}: {type_name(f.type)}" for f in self.outputs), found=repr(default),
                fix="give default= a value for every output field, of the declared type") from exc
