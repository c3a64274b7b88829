"""plait's errors: one small tree under :class:`PlaitError`.

Every error a user can see names where it happened (the node, the field, the user's source line),
what was expected, what was found, and the fix. The message is built in one place,
:meth:`PlaitError.__str__`, so all of them read the same way::

    node 'pipeline.classify', input 'summary' (demo.py:27)
      expected: int
      found:    str, from pipeline.summarize.summary
      fix: change the field's type, or convert the value in a @plait.step between the two nodes

Tree:
    PlaitError
      TraceError            the program cannot be traced (Python logic on a symbolic value, ...)
      PlanError             the traced plan is invalid (unknown field, type mismatch, unused input)
      PlanLoadError         a saved plan cannot be read back
      StoreError            the checkpoint store cannot be used (corrupt, newer schema, not plait's)
        LeaseHeld           another process is running that run (or took it over from this one)
      NodeError             a node failed while running (LM error, unparseable output, step raised)
        OutputParseError    the LM's text does not parse into the signature's types
          ReplyFormatError  an adapter cannot read the reply at all (not JSON, a field missing)
      InputError            a run item does not match the pipeline's inputs
      AnswerError           an answer to a waiting question is refused (wrong type, unknown question)
      RunNotFound           no run with that id in the store
      RetrievalError        a Retrieve cannot be set up (empty or unreadable corpus, bad k, missing extra)
      OptimizerError        an optimizer cannot start (no metric, an empty valset, a bad budget)
      SettingError          a setting plait does not accept (a store's durability, an adapter's name)
"""

from __future__ import annotations

from typing import Any


class PlaitError(Exception):
    """Base of every plait error. Attributes: ``node``, ``field``, ``source``, ``fix``."""

    def __init__(
        self,
        summary: str,
        *,
        node: str | None = None,
        field: str | None = None,
        field_kind: str = "field",
        source: Any = None,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.node = node
        self.field = field
        self.field_kind = field_kind
        self.source = source
        self.expected = expected
        self.found = found
        self.fix = fix

    def __str__(self) -> str:
        lines = [self.summary]
        where = self._where()
        if where:
            lines.append(f"  at {where}")
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.found is not None:
            lines.append(f"  found:    {self.found}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        # A message may quote a value holding a lone surrogate; written as its \udXXX escape, it can be
        # printed, logged and stored as UTF-8 like any other message.
        return "\n".join(lines).encode("utf-8", "backslashreplace").decode("utf-8")

    def _where(self) -> str:
        parts = []
        if self.node:
            parts.append(f"node '{self.node}'")
        if self.field:
            parts.append(f"{self.field_kind} '{self.field}'")
        text = ", ".join(parts)
        if self.source:
            text = f"{text} ({self.source})" if text else str(self.source)
        return text


class TraceError(PlaitError):
    """The program cannot be traced into a plan."""


class PlanError(PlaitError):
    """The plan is invalid; raised by the verifier and the type-checking pass."""


class PlanLoadError(PlaitError):
    """A saved plan cannot be loaded."""


class StoreError(PlaitError):
    """The checkpoint store cannot be opened or read."""


class LeaseHeld(StoreError):
    """Another process is running the run: ``lease`` is its row (owner, host, pid, expiry).
    ``lost``: this process held the lease and another took the run over; it must stop recording."""

    lease: Any = None
    lost: bool = False


class NodeError(PlaitError):
    """A node failed while running. ``raw``: the LM's raw text when there was one; ``raw_attempts``:
    every reply the node got (re-asks included), kept in the journal; ``fallback_hash``: the identity
    of the fallback LM that gave them (None: the primary); ``from_cache``: a failure remembered from
    another run (see OutputParseError), replayed without asking the LM."""

    def __init__(self, summary: str, *, raw: str | None = None, raw_attempts: list[str] | None = None,
                 fallback_hash: str | None = None, from_cache: bool = False, **kwargs: Any) -> None:
        super().__init__(summary, **kwargs)
        self.raw = raw
        self.raw_attempts: list[str] = list(raw_attempts) if raw_attempts else [raw] if raw is not None else []
        self.fallback_hash = fallback_hash
        self.from_cache = from_cache

    def after_replies(self, replies: list[str], fallback_hash: str | None) -> None:
        """The node gave up after these replies, from this LM: what the journal keeps of them."""
        self.raw_attempts, self.fallback_hash = list(replies), fallback_hash


class OutputParseError(NodeError):
    """The LM's reply does not parse into the signature's output types, after every re-ask. A failure
    the primary LM gave is remembered beside the node's content key, and replayed (``from_cache``)."""


class ReplyFormatError(OutputParseError, ValueError):
    """An adapter cannot read the LM's reply: not JSON, not an object, an output field missing.
    Also a ValueError, which adapters raise by protocol (DSPy's adapters do)."""


class InputError(PlaitError):
    """A run item does not match the pipeline's inputs."""


class AnswerError(PlaitError):
    """An answer to a person's question cannot be accepted; the item keeps waiting."""


class RunNotFound(PlaitError):
    """No run with the given id exists in the store."""


class RetrievalError(PlaitError):
    """A :class:`plait.Retrieve` cannot be set up: its corpus is empty, unreadable or lacks the text
    field, ``k`` is not positive, or the dense extra is not installed."""


class OptimizerError(PlaitError):
    """An optimizer was given what it cannot work with: no metric, an empty dataset, a bad budget."""


class SettingError(PlaitError, ValueError):
    """A setting or argument plait does not accept: an unknown store durability or adapter name, an
    output type no JSON schema can describe. Also a ValueError, as such arguments raised before."""
