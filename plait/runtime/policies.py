"""Which retry policy, timeouts, rate limit, breaker and fallback chain guard each PREDICT node.

Resolved once per run. For each setting the most specific source wins:

1. the run option keyed by the node's id  (``retry={"pipeline.summarize": RetryPolicy(...)}``)
2. the run option keyed by the LM's name  (``retry={"openai/gpt-4o-mini": RetryPolicy(...)}``)
3. the module's own setting, when it has one (``node.params.retry``)
4. the LM object's attribute              (``lm.retry``, ``lm.timeout``, ``lm.rate_limit``, ``lm.breaker``)
5. the run option given as a plain value  (``retry=RetryPolicy(...)``, ``timeout=30``)
6. the default: ``RetryPolicy()``, no timeouts, no rate limit, and a breaker only on an LM that
   names fallbacks (an LM without one has nothing to switch to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plait.checkpoints.keys import is_sampled, lm_identity_hash
from plait.errors import PlaitError
from plait.ir.nodes import Node, Op
from plait.ir.plan import Plan
from plait.lm.dspy_lm import as_lm
from plait.runtime.breaker import CircuitBreaker, default_breaker
from plait.runtime.ratelimit import RateLimit
from plait.runtime.retry import DEFAULT_RETRY, RetryPolicy

_UNSET = object()


@dataclass(frozen=True)
class Route:
    """One LM a node may call, with the state that guards it."""

    lm: Any
    lm_hash: str
    limiter: RateLimit | None = None
    breaker: CircuitBreaker | None = None


@dataclass(frozen=True)
class Guard:
    """A PREDICT node's protection: its LMs (the primary first, then the fallbacks) and policies."""

    routes: tuple[Route, ...]
    retry: RetryPolicy = DEFAULT_RETRY
    timeout: float | None = None
    node_timeout: float | None = None

    @property
    def primary(self) -> Route:
        return self.routes[0]


def resolve_guards(nodes: Sequence[Node], lms: dict[str, Any], hashes: dict[str, str], options: Any,
                   named: Mapping[str, Any]) -> dict[str, Guard]:
    """node id -> Guard for every PREDICT node (``lms``: node id -> its LM)."""
    chains = fallback_chains(options.fallbacks, {lm.name for lm in lms.values()}, named)
    routes: dict[int, Route] = {}
    guards = {}
    for node in nodes:
        lm = lms[node.id]
        chain = chains.get(lm.name, ())
        primary = _route(routes, lm, hashes[node.id], options, has_fallbacks=bool(chain))
        rest = tuple(_route(routes, f, None, options, has_fallbacks=False) for f in chain if f is not lm)
        guards[node.id] = Guard((primary, *rest), _retry(node, lm, options),
                                _seconds(pick(options.timeout, node, lm, "timeout", kind=(int, float)), "timeout"),
                                _seconds(pick(options.node_timeout, node, None, None), "node_timeout"))
    return guards


def pick(option: Any, node: Node, lm: Any, attr: str | None, own: Any = None, kind: Any = object) -> Any:
    """A setting by the precedence of this module's docstring; None when nothing sets it. An LM
    attribute that is not a ``kind`` is not ours (a third-party LM may use the name) and is skipped."""
    if isinstance(option, Mapping):
        for key in (node.id, getattr(lm, "name", None)):
            if key is not None and key in option:
                return option[key]
    if own is not None:
        return own
    if attr is not None and isinstance(value := getattr(lm, attr, None), kind) and value is not None:
        return value
    return None if isinstance(option, Mapping) else option


def _retry(node: Node, lm: Any, options: Any) -> RetryPolicy:
    own = getattr(node.params, "retry", None)
    policy = pick(options.retry, node, lm, "retry", own, kind=RetryPolicy) or DEFAULT_RETRY
    if not isinstance(policy, RetryPolicy):
        raise PlaitError(f"retry= for node '{node.id}' is not a RetryPolicy", node=node.id, field="retry",
                         expected="plait.RetryPolicy(...), or a dict of them by node id or LM name",
                         found=repr(policy)[:100], fix="pass retry=plait.RetryPolicy(max_attempts=...)")
    return policy


def _seconds(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise PlaitError(f"{name}= must be a number of seconds", field=name, expected="a number > 0, or None",
                         found=repr(value)[:100], fix=f"pass {name}=30 (seconds), or a dict of them")
    return float(value)


def _route(routes: dict[int, Route], lm: Any, lm_hash: str | None, options: Any, has_fallbacks: bool) -> Route:
    if id(lm) in routes:
        return routes[id(lm)]
    limiter = _by_name(options.rate_limits, lm)
    limiter = _attribute(lm, "rate_limit", RateLimit, None) if limiter is _UNSET else limiter
    breaker = _by_name(options.breakers, lm)
    if breaker is _UNSET:
        breaker = _attribute(lm, "breaker", CircuitBreaker, _UNSET)
    if breaker is _UNSET:
        breaker = default_breaker(lm) if has_fallbacks else None
    _check(limiter, RateLimit, "rate_limits", lm)
    _check(breaker, CircuitBreaker, "breakers", lm)
    route = Route(lm, lm_hash if lm_hash is not None else lm_identity_hash(lm.identity()), limiter, breaker)
    routes[id(lm)] = route
    return route


def _attribute(lm: Any, name: str, kind: type, missing: Any) -> Any:
    value = getattr(lm, name, missing)
    return value if value is None or value is missing or isinstance(value, kind) else missing


def _by_name(option: Any, lm: Any) -> Any:
    return option.get(lm.name, _UNSET) if isinstance(option, Mapping) else _UNSET


def _check(value: Any, kind: type, option: str, lm: Any) -> None:
    if value is not None and not isinstance(value, kind):
        raise PlaitError(f"{option}= for LM '{lm.name}' is not a {kind.__name__}", field=option,
                         expected=f"plait.{kind.__name__}(...) or None", found=repr(value)[:100],
                         fix=f"pass {option}={{'{lm.name}': plait.{kind.__name__}(...)}}")


def fallback_chains(option: Any, used: set[str], named: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """LM name -> its fallback LMs. ``option``: {name: [LM or name, ...]} or one list for every LM."""
    if option is None:
        return {}
    if not isinstance(option, Mapping):
        option = {name: option for name in used}
    chains = {}
    for primary, fallbacks in option.items():
        if primary not in used:
            raise PlaitError(f"fallbacks= names LM '{primary}', which no node of this pipeline uses",
                             field="fallbacks", expected=f"one of {', '.join(sorted(used))}", found=repr(primary),
                             fix="key fallbacks= by the name of an LM the pipeline calls (lm.name)")
        if not isinstance(fallbacks, (list, tuple)):
            fallbacks = [fallbacks]
        chains[primary] = tuple(_fallback_lm(f, primary, named) for f in fallbacks)
    return chains


def _fallback_lm(lm: Any, primary: str, named: Mapping[str, Any]) -> Any:
    if isinstance(lm, str):
        if lm not in named:
            raise PlaitError(f"the fallback '{lm}' of LM '{primary}' is not a configured LM name",
                             field="fallbacks", expected=f"an LM object or one of {sorted(named) or 'no names'}",
                             found=repr(lm), fix="pass the LM object, or register it: plait.configure(lms={...})")
        return named[lm]
    lm = as_lm(lm)
    if not hasattr(lm, "acall") or not hasattr(lm, "identity"):
        raise PlaitError(f"the fallback of LM '{primary}' is not an LM", field="fallbacks",
                         expected="an object with name, identity() and acall() (a plait LM)",
                         found=repr(lm)[:100], fix="wrap a dspy.LM in plait.DSPyLM(...)")
    return lm


def sampled_nodes(plan: Plan, guards: dict[str, Any]) -> frozenset[str]:
    """The PREDICT nodes whose calls draw samples, by their settings and their primary LM's."""
    identities: dict[int, dict[str, Any]] = {}
    sampled = set()
    for node in plan.of_op(Op.PREDICT):
        if (guard := guards.get(node.id)) is not None:
            lm = guard.primary.lm
            if is_sampled(dict(node.params.settings), identities.setdefault(id(lm), lm.identity())):
                sampled.add(node.id)
    return frozenset(sampled)
