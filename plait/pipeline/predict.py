"""Predict and ChainOfThought: one LM call each, typed by a DSPy signature."""

from __future__ import annotations

from typing import Any

from plait.errors import TraceError
from plait.ir.nodes import Field, Node, Op, Port, PredictParams
from plait.ir.source import user_source
from plait.lm.dspy_lm import as_lm
from plait.lm.secrets import argument_secrets
from plait.pipeline.eager import call_eagerly
from plait.pipeline.module import Module
from plait.pipeline.signature import resolve_signature, with_reasoning
from plait.pipeline.tracing import SymbolicPrediction, Tracer, current_tracer, port_for, unknown_field_error


class Predict(Module):
    """An LM call from the signature's inputs to its typed outputs.

    ``lm`` overrides the configured LM for this module (an LM object or a configured name);
    ``adapter`` overrides the LM's preferred prompt format ("chat", "json", "compact");
    other keyword arguments are decoding settings (``temperature=0.7``). A module declared with
    ``reusable=False`` never reuses another run's output, only its own run's journal.

    Example::

        qa = plait.Predict("question -> answer: int")
        qa(question="2 + 2?").answer   # eager call, outside a compiled pipeline
    """

    def __init__(self, signature: Any, *, lm: Any = None, adapter: str | None = None,
                 reusable: bool = True, **settings: Any) -> None:
        self.signature = resolve_signature(signature)
        _refuse_credentials(settings)
        self.lm = lm if lm is None or isinstance(lm, str) else as_lm(lm)
        self.adapter = adapter
        self.reusable = reusable
        self.settings = settings
        self.demos: list[dict[str, Any]] = []

    def __call__(self, **inputs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return call_eagerly(self, inputs)
        return self._trace(tracer, inputs)

    def forward(self, **inputs: Any) -> Any:
        return self(**inputs)

    @property
    def lm_name(self) -> str | None:
        return self.lm if isinstance(self.lm, str) or self.lm is None else self.lm.name

    def params(self) -> PredictParams:
        return PredictParams(
            signature=self.signature,
            demos=tuple(dict(d) for d in self.demos),
            adapter=self.adapter,
            lm=self.lm_name,
            settings=dict(self.settings),
            reusable=self.reusable,
        )

    def _trace(self, tracer: Tracer, inputs: dict[str, Any]) -> SymbolicPrediction:
        node_id = tracer.unique_id(tracer.path_of(self))
        ports = self._ports(node_id, inputs)
        outputs = tuple(
            Field(name, f.annotation, _desc(f)) for name, f in self.signature.output_fields.items()
        )
        tracer.record(Node(node_id, Op.PREDICT, ports, outputs, self.params(), user_source()))
        return SymbolicPrediction(node_id, outputs)

    def _ports(self, node_id: str, inputs: dict[str, Any]) -> tuple[Port, ...]:
        declared = self.signature.input_fields
        for name in inputs:
            if name not in declared:
                raise unknown_field_error(node_id, name, list(declared), "input field")
        missing = [n for n in declared if n not in inputs]
        if missing:
            raise TraceError(
                f"node '{node_id}' is called without its input '{missing[0]}'",
                node=node_id, field=missing[0], field_kind="input", source=user_source(),
                expected=f"the inputs {', '.join(declared)}", found=f"the inputs {', '.join(inputs) or '(none)'}",
                fix=f"pass {missing[0]}=... in the call, or remove it from the signature",
            )
        return tuple(port_for(node_id, name, _input_type(f), inputs[name]) for name, f in declared.items())


def _refuse_credentials(settings: dict[str, Any]) -> None:
    """Settings enter the saved plan and the content key: a credential there would be stored."""
    names = sorted({secret.source for secret in argument_secrets(settings)})
    if names:
        raise TraceError(
            f"Predict got a credential as a decoding setting: {', '.join(names)}", field=names[0],
            field_kind="setting", source=user_source(), expected="decoding settings (temperature=, max_tokens=...)",
            found=f"{', '.join(names)} (its value is not shown)",
            fix="give the credential to the LM, not the module: plait.DSPyLM(model, api_key=...), or set the "
                "provider's environment variable (OPENAI_API_KEY...)")


class ChainOfThought(Predict):
    """Predict with a ``reasoning`` output field generated before the others."""

    def __init__(self, signature: Any, **kwargs: Any) -> None:
        super().__init__(signature, **kwargs)
        self.signature = with_reasoning(self.signature)


def _input_type(field: Any) -> Any:
    # "question, k -> answer": DSPy marks untyped string-signature inputs; they accept anything.
    return Any if (field.json_schema_extra or {}).get("IS_TYPE_UNDEFINED") else field.annotation


def _desc(field: Any) -> str:
    desc = (field.json_schema_extra or {}).get("desc", "")
    return "" if desc.startswith("${") else desc
