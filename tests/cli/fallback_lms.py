"""LMs for ``--lm`` and ``--fallback`` in the resume tests: ``scripted:tests.cli.fallback_lms:down``
(a primary that is down) and ``...:backup`` (its fallback). Each appends one line per call to
``$PLAIT_CALLS_FILE`` ("LM NODE INPUTS"), before answering, so that a test in another process
counts the calls per item and node; ``$PLAIT_LM_LATENCY`` slows the backup down (seconds a call).
"""

from __future__ import annotations

import json
import os

import plait
from plait.lm.protocol import LMError
from tests.cli import fixtures


def _logged(name: str, *, down: bool = False):
    def answer(task):
        path = os.environ.get("PLAIT_CALLS_FILE")
        if path:
            with open(path, "a") as f:
                f.write(f"{name} {task.node_id} {json.dumps(task.inputs, sort_keys=True)}\n")
        if down:
            raise LMError(f"the provider is down (HTTP 503) calling {name}", transient=True)
        return fixtures.answer(task)
    return answer


def down() -> plait.ScriptedLM:
    """The primary, down: after its first failure its breaker sends every call to the fallback."""
    lm = plait.ScriptedLM(_logged("primary", down=True), name="primary")
    lm.breaker = plait.CircuitBreaker(failures=1, cooldown=3600)
    lm.retry = plait.RetryPolicy(initial=0.01, maximum=0.05)
    return lm


def backup() -> plait.ScriptedLM:
    return plait.ScriptedLM(_logged("backup"), name="backup", latency=float(os.environ.get("PLAIT_LM_LATENCY", "0")))
