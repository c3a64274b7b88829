"""How a run runs: its options (LM choice, concurrency, the policies that survive the real world)
and, for a distributed executor, the job it receives. Both are the runtime's: a worker that has only
the plan and a store builds its executor from them (assemble.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from plait.checkpoints.lease import DEFAULT_TTL
from plait.checkpoints.protocol import Store
from plait.clock import Clock
from plait.ir.plan import Plan
from plait.runtime import events as ev
from plait.runtime.budget import Budget


@dataclass
class RunOptions:
    """How to run: LM choice, concurrency, progress display, event callback, parse retries, and
    how to survive the real world (see plait/runtime/policies.py for which setting wins):

    ``retry``       a RetryPolicy, or {node id or LM name: RetryPolicy}
    ``timeout``     seconds per LM call (a timeout is a transient failure), or a dict likewise
    ``node_timeout`` seconds per node, retries and re-asks included, or {node id: seconds}
    ``rate_limits`` {LM name: RateLimit};  ``breakers`` {LM name: CircuitBreaker or None}
    ``fallbacks``   {LM name: [LM or configured name, ...]}, or one list for every LM
    ``budget``      a Budget for the run's total (resume with a larger one to go on)
    ``clock``       where time comes from (a FakeClock in tests); ``seed`` seeds the jitter
    ``reset_attempts`` on resume: forget the attempts the journal counts for unfinished nodes
    ``lm_specs``    the text the LMs were named with, shaped as the options ({"lm": "scripted:app:lm",
                    "fallbacks": [...] or {name: [...]}}): recorded with the run so that ``plait
                    resume`` can rebuild them (local and DSPy models are described without it)
    ``executor``    where the items run: None (this process) or a distributed executor such as
                    plait.RayExecutor (``run(..., executor="ray")`` names one; see executors.py)

    ``name``        the job's name for the run: a run with the name of an earlier run of the same plan
                    over the same items goes on with that run (resumes it, or replays it if finished)
                    instead of starting another (plait/api/named.py)
    ``resume_unfinished`` go on with the latest run of the same plan over the same items that a kill
                    cut short (no live process holds it) instead of starting another; optimizers
                    pass it for their evaluations, so a killed search repeats only the calls in flight
    ``strict``      validate input items in pydantic's strict mode (no "7" for an int, no True for an int;
                    see Codec.check_strict); None: ``plait.configure(strict=...)``, default lax

    On resume every option decides only what runs next: the nodes the run recorded replay as
    recorded, whichever LM produced them (DESIGN.md contract 5).
    """

    lm: Any = None
    lms: dict[str, Any] | None = None
    concurrency: int = 32
    progress: bool | None = None  # None: plait.configure(progress=...), else $PLAIT_PROGRESS, else when interactive
    label: str | None = None  # the progress bar's label ('plait'; evaluate and optimizers name theirs)
    on_event: Callable[[ev.Event], None] | None = None
    parse_retries: int = 2
    retry: Any = None
    timeout: Any = None
    node_timeout: Any = None
    rate_limits: Mapping[str, Any] | None = None
    breakers: Mapping[str, Any] | None = None
    fallbacks: Any = None
    budget: Budget | None = None
    clock: Clock | None = None
    seed: int | None = None
    reset_attempts: bool = False
    lease_ttl: float = DEFAULT_TTL  # a killed run's lease expires this long after its last renewal
    lm_specs: Mapping[str, Any] | None = None
    executor: Any = None
    strict: bool | None = None
    name: str | None = None
    resume_unfinished: bool = False


@dataclass(frozen=True)
class RunJob:
    """One run's execution as a distributed executor receives it: ``bind`` returns a stand-in for
    :class:`Executor` (``await run(states)``, then ``stopped``). ``owner`` holds the run's lease."""

    plan: Plan
    store: Store
    run_id: str
    own_lms: dict[str, Any]
    options: RunOptions
    journal: dict | None
    force: frozenset
    emit: Callable[[ev.Event], None]
    owner: str | None
