"""What a run records about its LMs, in ``RunRecord.config["lms"]``, so that ``plait resume``
goes on with the LMs the run was made with (and says so).

The record holds ``lm`` (the run's default LM), ``named`` (the LMs nodes name, by that name) and
``fallbacks`` ({LM name: [LM, ...]}). Each LM is described as JSON, never with a credential::

    {"name": "openai/gpt-4o-mini", "spec": "openai/gpt-4o-mini", "kwargs": {"temperature": 0.0}}

``spec`` is how the command line names the LM (its ``--lm`` syntax), or None when it cannot be
rebuilt from text (an object made in Python); ``kwargs`` rebuild it:

  local                  plait.LocalLM(**kwargs)
  provider/model         plait.DSPyLM(model, **kwargs): the decoding settings and the endpoint as its
                         identity() gives them (no key, no URL userinfo); the key comes from the
                         provider's environment variable when it is rebuilt
  scripted:module:func   as the caller named it (``RunOptions.lm_specs``: the CLI's --lm, --fallback)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import zip_longest
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from plait.ir.plan import Plan
from plait.lm.dspy_lm import DSPyLM
from plait.lm.secrets import REDACTED
from plait.lm.local import LocalLM
from plait.runtime.loops import lm_nodes
from plait.runtime.policies import fallback_chains

_CONNECTION = ("api_base", "model_type")  # the parts of a DSPyLM's identity that are not settings


def run_lms(plan: Plan, default: Any, named: Mapping[str, Any], fallbacks: Any,
            given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record of a run's LMs. ``given``: the text the caller named LMs with, shaped as the
    options: {"lm": "scripted:app:lm", "fallbacks": ["local"] or {"primary": ["local"]}}."""
    given = given or {}
    nodes = lm_nodes(plan)
    names = sorted({n.params.lm for n in nodes if n.params.lm in named})
    used = {lm.name for n in nodes if (lm := named.get(n.params.lm) if n.params.lm else default) is not None}
    chains = fallback_chains(fallbacks, used, named)  # as the run's guards resolve them (policies.py)
    given_chains = given.get("fallbacks") or {}
    return {
        "lm": describe(default, given.get("lm")) if default is not None else None,
        "named": {name: describe(named[name]) for name in names},
        "fallbacks": {primary: [describe(lm, spec) for lm, spec in zip_longest(chain, _specs(given_chains, primary))
                                if lm is not None] for primary, chain in chains.items()},
    }


def _specs(given: Any, primary: str) -> list[str]:
    return list(given) if isinstance(given, (list, tuple)) else list(given.get(primary, ()))


def describe(lm: Any, spec: str | None = None) -> dict[str, Any]:
    """One LM, as JSON: its name, its command-line spec (None: not rebuildable) and kwargs."""
    name = str(getattr(lm, "name", type(lm).__name__))
    if spec is not None:
        return {"name": name, "spec": spec, "kwargs": {}}
    if isinstance(lm, LocalLM):
        return {"name": name, "spec": "local", "kwargs": {"name": lm.name, **lm.defaults, "n_ctx": lm.n_ctx}}
    if isinstance(lm, DSPyLM):
        return {"name": name, "spec": lm.model, "kwargs": _dspy_kwargs(lm)}
    return {"name": name, "spec": None, "kwargs": {}}


def _dspy_kwargs(lm: DSPyLM) -> dict[str, Any]:
    """What rebuilds ``lm`` but its key: its identity's settings and endpoint (credential-free by
    contract), minus anything masked there, plus plait's own options when not the defaults."""
    identity = lm.identity()
    kwargs = {**identity.get("settings", {}), **{k: identity[k] for k in _CONNECTION if k in identity}}
    if "api_base" in kwargs:
        kwargs["api_base"] = _unmasked(kwargs["api_base"])
    kwargs = {k: v for k, v in kwargs.items() if REDACTED not in json.dumps(v, default=str)}
    own = {"name": lm.name if lm.name != lm.model else None, "adapter": lm.adapter if lm.adapter != "chat" else None,
           "json_schema": False if not lm.json_schema else None}
    return {**kwargs, **{k: v for k, v in own.items() if v is not None}}


def _unmasked(url: str) -> str:
    """The endpoint without the query parameters identity() masked: a masked key would be sent as is."""
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v != REDACTED])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def rebuildable(record: Mapping[str, Any] | None) -> bool:
    return bool(record) and record.get("spec") is not None


def shown(record: Mapping[str, Any]) -> str:
    """How a recorded LM is named in messages: its spec, or its name when it has none."""
    return str(record.get("spec") or record.get("name"))
