"""plait's IR: a Plan of Nodes, each with one op from a small closed set.

The ops (every node has exactly one):

- ``INPUT``   the item's fields. One per plan; no inputs; its outputs are the parameters of the
              root module's ``forward``.
- ``PREDICT`` one LM call: format the inputs with the node's prompt state (signature,
              instructions, demos, adapter), call the LM, parse the reply into typed outputs.
- ``STEP``    a plain Python function of its inputs (``@plait.step``); its code version is a hash of
              its normalized source.
- ``HUMAN``   a question to a person (``plait.HumanInput``): its inputs are the context shown,
              its outputs the typed answer. The item waits, durably, until someone answers.
- ``LOOP``    an agent loop (``plait.loop``, ``plait.ReAct``): runs its ``body``, a small Plan of
              its own, once per iteration until the body says ``done`` (or, with tools, picks the
              ``finish`` tool) or ``max_iters`` is reached. Each iteration is journaled on its own
              (iteration i, from 1) and holds only that iteration's new entry; the node's value
              (iteration 0) is the whole trajectory.
- ``RETRIEVE`` a search of a local index of the user's corpus (``plait.Retrieve``): a query in;
              ``passages``, ``scores`` and ``ids`` out. Its key is the index key (the corpus
              content and the index settings) and ``k``: edit the corpus and it recomputes.
- ``OUTPUT``  the run's result. One per plan; its inputs are the fields ``forward`` returned; it
              has no outputs.

What each op *does* is found by the op, in one rule per layer, never by testing the op or the
params' class at each use (as torch.fx's ``Interpreter.run_node`` picks ``getattr(self, n.op)``
and JAX keeps ``dce_rules[prim]``). The IR is a leaf, so the layers above keep their own tables,
keyed by the same op:

- the IR's rule, ``plait.ir.rules.RULES[op]``: how the params serialize, what of them enters the
  content key, how the node prints, how a diff compares it, which params class the verifier
  expects and which sub-plans (a LOOP's body) are verified, typed and diffed with it. The rules
  are objects beside the params rather than methods on them because they recurse through the
  serializer and the printer, which import these nodes;
- the runtime's rule, ``NodeRunner.run_<op>`` (``plait/runtime/nodes.py``): how the node runs.
  INPUT (the item's admission) and LOOP (one journal row per iteration) are the executor's own
  scheduling, listed in ``EXECUTOR_OPS`` there;
- the display's rule, ``plait.display.styles.STYLES[op]``: its colour, outline and label.

A check that needs a layer above the IR stays in that layer's table with a default (the verifier's
``_OP_CHECKS``: a PREDICT's adapter must be one the LM layer knows). Adding an op is one new entry
in each table and its tests; ``tests/unit/test_op_rules.py`` fails, naming the table, for an op
that lacks one. Tests of ``node.op`` that remain elsewhere are about the graph's structure (the
plan's INPUT and OUTPUT, the PREDICT nodes an optimizer tunes), not about how an op behaves.

A node's inputs are :class:`Port` s wired by :class:`Ref` to a producer's output :class:`Field`, or
holding a constant. The networkx graph is an implementation detail of :class:`Plan` and never
leaves it (plait/ir/plan.py).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from plait.hashing import stable_hash
from plait.ir.source import SourceLoc

if TYPE_CHECKING:  # a LOOP's body is a Plan; the Plan module imports the nodes
    from plait.ir.plan import Plan


class Op(str, enum.Enum):
    INPUT = "input"
    PREDICT = "predict"
    STEP = "step"
    HUMAN = "human"
    LOOP = "loop"
    RETRIEVE = "retrieve"
    OUTPUT = "output"


@dataclass(frozen=True)
class Ref:
    """Output ``field`` of node ``node``."""

    node: str
    field: str

    def __str__(self) -> str:
        return f"{self.node}.{self.field}"


@dataclass(frozen=True)
class Port:
    """A node input: wired to a producer (``ref``) or holding a JSON constant (``const``)."""

    name: str
    type: Any
    ref: Ref | None = None
    const: Any = None


@dataclass(frozen=True)
class Field:
    """A typed output field."""

    name: str
    type: Any
    desc: str = ""


@dataclass(frozen=True)
class PredictParams:
    """A PREDICT node's prompt state and LM choice. ``signature`` is a DSPy Signature class."""

    signature: Any
    demos: tuple[Mapping[str, Any], ...] = ()
    adapter: str | None = None  # None: the LM's preferred adapter
    lm: str | None = None  # None: the configured default LM
    settings: Mapping[str, Any] = field(default_factory=dict)
    reusable: bool = True  # False: replay only from this run's journal, never another run's output
    provenance: Mapping[str, Any] = field(default_factory=dict)  # which optimizer set the demos

    @property
    def instructions(self) -> str:
        return self.signature.instructions


@dataclass(frozen=True)
class StepParams:
    """A STEP node's function, its import path and its code version. A ``pure`` step (cheap and
    deterministic: a template, a field access) is recomputed whenever it is needed, on replay too,
    and never journaled or cached: recording it would cost more than running it."""

    func: Callable[..., Any]
    path: str  # module:qualname
    version: str
    reusable: bool = True
    pure: bool = False


@dataclass(frozen=True)
class HumanParams:
    """A HUMAN node's question (the signature's instructions) and its deadline: after ``timeout``
    seconds unanswered, ``default`` (a dict of the output fields) is the answer. Never reused
    from another run: an answer belongs to the run whose item asked."""

    signature: Any
    timeout: float | None = None
    default: Mapping[str, Any] | None = None
    reusable: bool = False

    @property
    def question(self) -> str:
        return self.signature.instructions


@dataclass(frozen=True)
class LoopParams:
    """A LOOP node's body (a Plan whose INPUT takes the loop's inputs and ``trajectory``, and whose
    OUTPUT is one iteration's entry), its tools (``plait.ir.tools.Tool``; the body then
    proposes ``next_tool_name``/``next_tool_args`` and the loop makes the call), and its limits.
    ``on_max_iters``: 'error' (the node fails) or 'return' (the node ends, ``finished`` False)."""

    body: Plan
    tools: tuple[Any, ...] = ()
    max_iters: int = 10
    on_max_iters: str = "error"
    reusable: bool = True


@dataclass(frozen=True)
class RetrieveParams:
    """A RETRIEVE node's search. ``search`` (query -> ``{"passages", "scores", "ids"}``) is rebuilt on
    load by ``from_spec`` of the class at ``path`` from ``corpus`` (``{"path", "text_field",
    "id_field"}`` for a file, ``{"records": [...]}`` for an inline list), ``method``, ``k`` and
    ``index_dir``. ``index_key`` hashes the corpus content and the index settings."""

    search: Callable[[str], Mapping[str, list]]
    path: str  # module:qualname of the searcher class
    corpus: Mapping[str, Any]
    method: str
    k: int
    index_key: str
    index_dir: str | None = None
    reusable: bool = True

    @property
    def version(self) -> str:
        """What of the search decides its results: the index and k (not where the index lives)."""
        return stable_hash({"index": self.index_key, "k": self.k})[:16]


# The LOOP op's contract, shared by the tracer that builds a loop and the runtime that runs it: the
# body's INPUT node (the loop's inputs and, if the body declares it, the trajectory so far), its
# OUTPUT node (one iteration's entry), and the loop node's own outputs.
TRAJECTORY = "trajectory"
BODY_INPUT, BODY_OUTPUT = "inputs", "outputs"
LOOP_OUTPUTS = (
    Field(TRAJECTORY, list[dict[str, Any]], "every iteration's entry, in order"),
    Field("last", dict[str, Any], "the last iteration's entry"),
    Field("iterations", int, "how many iterations ran"),
    Field("finished", bool, "True if the body said done (or picked finish); False if max_iters ended it"),
)


@dataclass(frozen=True)
class Node:
    id: str
    op: Op
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Field, ...] = ()
    params: PredictParams | StepParams | HumanParams | LoopParams | RetrieveParams | None = None
    source: SourceLoc | None = None
    fingerprint: str | None = None  # set by the fingerprint pass

    def output(self, name: str) -> Field | None:
        return next((f for f in self.outputs if f.name == name), None)

    def port(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def with_(self, **changes: Any) -> Node:
        return replace(self, **changes)
