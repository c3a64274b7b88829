"""Which LMs ``plait run``, ``resume`` and ``rerun`` use: ``--lm``, ``--fallback``, and for a
run already in the store, the LMs it recorded (plait/runtime/lm_specs.py).

A resume or a fork goes on with the run's recorded LMs unless ``--lm`` (or ``--fallback``) names
others, and says which it uses. Either way the nodes the run recorded replay as recorded: the LM
decides only what still runs (DESIGN.md contract 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import plait
from plait.cli.common import existing_store, say, usage
from plait.cli.targets import load_lm
from plait.lm import config
from plait.runtime.lm_specs import rebuildable, shown


@dataclass
class LMChoice:
    """A command's LMs, as keyword arguments of ``plait.run``, ``resume`` and ``rerun``."""

    lm: Any = None  # None: the one the pipeline's module configured
    fallbacks: Any = None
    lms: dict[str, Any] = field(default_factory=dict)
    specs: dict[str, Any] = field(default_factory=dict)  # the text they were named with (recorded by the run)

    def kwargs(self) -> dict[str, Any]:
        named = {"lm": self.lm, "fallbacks": self.fallbacks, "lms": self.lms or None, "lm_specs": self.specs or None}
        return {k: v for k, v in named.items() if v is not None}


def chosen(lm_spec: str | None, fallback_specs: tuple[str, ...], api_base: str | None = None) -> LMChoice:
    """The LMs of a new run: ``--lm`` (at ``--api-base``; else the module's configured LM, else
    local) and ``--fallback``. An LM at --api-base is recorded with its endpoint, not as its spec alone."""
    choice = LMChoice(lm=load_lm(lm_spec, api_base), specs={"lm": lm_spec} if lm_spec and not api_base else {})
    _add_fallbacks(choice, fallback_specs)
    return choice


def recorded(store: str, run_id: str, lm_spec: str | None, fallback_specs: tuple[str, ...],
             doing: str = "resuming", api_base: str | None = None) -> LMChoice:
    """The LMs to go on with a stored run: what --lm and --fallback name, else what the run recorded.
    ``doing`` names the command in what it says ('resuming', 'forking')."""
    with existing_store(store) as opened:
        lms = opened.get_run(run_id).config.get("lms")
        called = sorted({r.lm for r in opened.journal(run_id).values() if r.source == "lm" and r.lm})
    if lms is None:  # a run from a plait that recorded no LMs
        choice = chosen(lm_spec, fallback_specs, api_base)
        _note_unrecorded(run_id, called, choice)
        return choice
    choice = LMChoice(lms=_rebuilt_named(lms.get("named") or {}))
    default = lms.get("lm")
    if api_base is not None and lm_spec is None and rebuildable(default) and default["spec"] != "local":
        lm_spec = default["spec"]  # the run's provider model, sent to another server
    if api_base is not None:
        choice.lm = load_lm(lm_spec, api_base)
        say(f"plait: {doing} with the LM {lm_spec} at {api_base}")
    else:
        _choose_default(choice, run_id, lm_spec, default, doing)
    if fallback_specs:
        _add_fallbacks(choice, fallback_specs)
    else:
        _recorded_fallbacks(choice, run_id, lms.get("fallbacks") or {}, doing)
    return choice


def _choose_default(choice: LMChoice, run_id: str, lm_spec: str | None, record: dict | None, doing: str) -> None:
    if lm_spec is not None:
        choice.lm, choice.specs["lm"] = load_lm(lm_spec), lm_spec
        if record and not _is(record, lm_spec, choice.lm):
            say(f"plait: note: run {run_id} was made with the LM {shown(record)}; its recorded nodes replay as "
                f"recorded, and the nodes still to run use {lm_spec}")
    elif rebuildable(record):
        choice.lm, choice.specs["lm"] = rebuild(record), record["spec"]
        say(f"plait: {doing} with the run's LM: {shown(record)} (recorded)")
    else:
        choice.lm = load_lm(None)
        if record:
            say(f"plait: note: run {run_id}'s LM '{record['name']}' was an object made in Python and cannot be "
                f"rebuilt here; its recorded nodes replay as recorded, and the nodes still to run use "
                f"{_name(choice.lm)}; pass --lm to choose their LM")


def _is(record: dict, spec: str, lm: Any) -> bool:
    """Does ``--lm spec`` name the recorded LM? By spec, or by name when it was recorded without one."""
    return record["spec"] == spec if record["spec"] is not None else record["name"] == _name(lm)


def _note_unrecorded(run_id: str, called: list[str], choice: LMChoice) -> None:
    name = _name(choice.lm)
    if called and name not in called:
        say(f"plait: note: run {run_id} called the LM {', '.join(called)}; its recorded nodes replay as recorded, "
            f"and the nodes still to run use {name}; pass --lm to choose their LM")


def _rebuilt_named(named: dict[str, dict]) -> dict[str, Any]:
    return {name: rebuild(record) for name, record in named.items() if rebuildable(record)}


def _recorded_fallbacks(choice: LMChoice, run_id: str, chains: dict[str, list[dict]], doing: str) -> None:
    """The run's fallbacks, for the LMs this command uses; one that cannot be rebuilt is said."""
    used = {_name(choice.lm), *(lm.name for lm in choice.lms.values())}
    kept = {primary: chain for primary, chain in chains.items() if primary in used}
    lost = [shown(r) for chain in kept.values() for r in chain if not rebuildable(r)]
    if lost:
        say(f"plait: note: run {run_id}'s fallback {', '.join(lost)} was an object made in Python and cannot be "
            "rebuilt here; pass --fallback to name one")
    kept = {p: [r for r in chain if rebuildable(r)] for p, chain in kept.items()}
    kept = {p: chain for p, chain in kept.items() if chain}
    if not kept:
        return
    choice.fallbacks = {p: [rebuild(r) for r in chain] for p, chain in kept.items()}
    choice.specs["fallbacks"] = {p: [r["spec"] for r in chain] for p, chain in kept.items()}
    listed = "; ".join(f"{p} -> {', '.join(shown(r) for r in chain)}" for p, chain in kept.items())
    say(f"plait: {doing} with the run's fallbacks: {listed} (recorded)")


def _add_fallbacks(choice: LMChoice, specs: tuple[str, ...]) -> None:
    """``--fallback SPEC`` (for every LM) or ``--fallback NAME=SPEC`` (for the LM named NAME), in order."""
    if not specs:
        return
    named = [s.partition("=") for s in specs]
    if all(sep for _, sep, _ in named):
        by_name: dict[str, list[str]] = {}
        for name, _, spec in named:
            by_name.setdefault(name, []).append(spec)
        choice.fallbacks = {name: [load_lm(s) for s in chain] for name, chain in by_name.items()}
        choice.specs["fallbacks"] = by_name
    elif not any(sep for _, sep, _ in named):
        choice.fallbacks, choice.specs["fallbacks"] = [load_lm(s) for s in specs], list(specs)
    else:
        raise usage("--fallback is given both with and without NAME=", found=", ".join(specs),
                    fix="write every --fallback as SPEC (a fallback for every LM) or every one as NAME=SPEC")


def rebuild(record: dict[str, Any]) -> Any:
    """The LM a run recorded (lm_specs.describe), made again; its API key from the environment."""
    spec, kwargs = record["spec"], record.get("kwargs") or {}
    try:
        if spec == "local":
            return plait.LocalLM(**kwargs)
        if "/" in spec and not spec.startswith("scripted:"):
            return plait.DSPyLM(spec, **kwargs)
    except (TypeError, ValueError) as exc:
        raise usage(f"the run's recorded LM {spec} cannot be made again ({exc})", found=repr(kwargs)[:200],
                    fix="pass --lm (and --fallback) to name the LMs to go on with") from None
    return load_lm(spec)


def _name(lm: Any) -> str:
    lm = lm if lm is not None else config.current().lm
    return str(getattr(lm, "name", "local"))
