"""The ledger of one optimization: scores candidates, counts LM calls, keeps the best, reports.

Every evaluation is an ordinary checkpointed run (``plait.evaluate``), so a repeated or resumed
optimization replays finished evaluations from the store at no LM cost. The LM calls an
optimization *needs* are counted by content key: each distinct LM node execution once, at the
requests the journal row that computed it records (re-asks and failed attempts included; at
least 1), in whichever run it was computed. That number is the same for an uninterrupted run, a
resumed one and a repeated one, so a budget in LM calls stops every one of them at the same trial,
caps what is really spent, and the recorded numbers agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from tqdm.auto import tqdm

from plait.checkpoints.null import NullStore
from plait.checkpoints.stores import open_store
from plait.errors import OptimizerError
from plait.hashing import stable_hash
from plait.ir.nodes import Op
from plait.ir.source import user_source
from plait.optimizers.evaluate import Evaluation, evaluate
from plait.runtime import events as ev
from plait.runtime.budget import Budget
from plait.runtime.executors import resolve_executor
from plait.runtime.progress import show_progress


@dataclass(frozen=True)
class Trial:
    """One scored candidate. ``evaluation``: the id of the run that scored it."""

    number: int
    label: str
    score: float
    items: int
    evaluation: str
    candidate: Any = field(default=None, repr=False, compare=False)


def check_setup(optimizer: str, *, trainset: Any, valset: Any, metric: Any, budgets: dict[str, Any]) -> None:
    """Raise OptimizerError for what would make the search meaningless, before any LM call."""
    where = user_source()
    if metric is None:
        raise OptimizerError(f"{optimizer} needs a metric to compare candidates", field="metric",
                             field_kind="argument", source=where, expected="metric=fn(example, prediction) -> score",
                             found="metric=None", fix="pass metric=lambda ex, pred: ex['answer'] == pred.answer")
    for name, data in (("trainset", trainset), ("valset", valset)):
        if data is not None and len(data) == 0:
            raise OptimizerError(f"{optimizer} got an empty {name}", field=name, field_kind="argument", source=where,
                                 expected="at least one labeled example", found=f"{name}=[]",
                                 fix=f"pass a non-empty {name}= (a list of dicts with inputs and labels)")
    if trainset is None:
        raise OptimizerError(f"{optimizer} needs a trainset", field="trainset", field_kind="argument", source=where,
                             expected="trainset=[{...}, ...]", found="trainset=None",
                             fix="pass trainset= (and valset= to score candidates on held-out examples)")
    for name, value in budgets.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise OptimizerError(f"{optimizer}'s budget {name}={value!r} is not a positive whole number",
                                 field=name, field_kind="argument", source=where, expected="an int >= 1, or None",
                                 found=repr(value), fix=f"pass {name}=20 (or leave it out for no limit)")


class Search:
    """Scores candidates for one optimizer. Use as a context manager (it closes its bar and store).

    ``lm_nodes``: the node ids whose executions count as LM calls; ``planned``: the bar's length.
    """

    def __init__(self, optimizer: str, *, metric: Callable, store: Any, run_options: dict[str, Any], identity: Any,
                 lm_nodes: set[str], max_lm_calls: int | None = None, max_trials: int | None = None,
                 planned: int | None = None) -> None:
        self.optimizer, self.metric = optimizer, metric
        self.id = f"{optimizer.lower()}-{stable_hash(identity)[:12]}"
        self.store = open_store(store)
        self._owns_store = self.store is not store
        self.max_lm_calls, self.max_trials = max_lm_calls, max_trials
        self.lm_nodes = set(lm_nodes)
        self.keys: dict[str, int] = {}  # content key of each LM node execution needed -> the requests it took
        self.trials: list[Trial] = []
        self.best: Trial | None = None
        self.spent = 0  # LM calls made in this process (replays and cache hits cost none)
        self.cut = False  # a run stopped at max_lm_calls: its scores are partial, and the search is over
        self._runs: list[str] = []
        self._user_event = run_options.get("on_event")
        self._bar = self._progress_bar(run_options.get("progress"), planned or max_trials)
        # the optimizer's bar stands for its evaluations': they show none of their own
        # an evaluation a kill cut short is finished, not started over: its journal (a node's re-asks
        # included) replays, so a killed search repeats only the LM calls in flight
        self.run_options = {**run_options, "on_event": self._observe, "progress": False, "resume_unfinished": True}
        # executor="ray": one pool of workers for all the evaluations (and the models they loaded)
        self._own_executor = isinstance(run_options.get("executor"), str)
        if "executor" in run_options:
            self.run_options["executor"] = resolve_executor(run_options["executor"], keep_workers=True)

    # --- running and charging -----------------------------------------------------------------
    def evaluate(self, candidate: Any, data: list[Any]) -> Evaluation:
        """Score ``candidate`` on ``data`` without counting it as a trial (minibatch parents, ...)."""
        result = evaluate(candidate, data, self.metric, store=self.store, **self._capped(self.run_options))
        self.spent += result.lm_calls
        self._settle(result.run)
        return result

    def run(self, compiled: Any, data: list[Any], **options: Any) -> Any:
        """An ordinary run of ``compiled`` (a teacher, a proposer), charged like the evaluations."""
        run = compiled.run(data, store=self.store, **self._capped({**self.run_options, **options}))
        self.spent += run.stats.lm_calls
        self._settle(run)
        return run

    def _capped(self, options: dict[str, Any]) -> dict[str, Any]:
        """Under ``max_lm_calls``, each run gets a plait.Budget of the calls left (inside any budget
        given), so no run of the search spends past it: the cap is hard, not checked between trials."""
        if self.max_lm_calls is None:
            return options
        left = max(0, self.max_lm_calls - self.lm_calls)
        given = options.get("budget") or Budget()
        return {**options, "budget": replace(given, lm_calls=left if given.lm_calls is None else min(left, given.lm_calls))}

    def _settle(self, run: Any) -> None:
        self.cut = self.cut or (self.max_lm_calls is not None and run.status == "stopped")
        self.settle()

    def settle(self) -> None:
        """Charge the content keys of the LM nodes of every run started since the last call."""
        runs, self._runs = self._runs, []
        self.charge(runs)

    def charge(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            for row in self.store.journal(run_id).values():
                if row.node_id in self.lm_nodes and row.content_key:
                    self.keys[row.content_key] = max(self.keys.get(row.content_key, 0), row.spent.requests)
        # a key only reused here (a cache hit, a remembered failure) costs what computing it took,
        # in whichever run did (a killed process's): so a resumed search counts as an uninterrupted one
        reused = [k for k, n in self.keys.items() if n == 0]
        if reused:
            computed = self.store.key_requests(reused)
            self.keys.update({k: max(1, computed.get(k, 0)) for k in reused})

    @property
    def lm_calls(self) -> int:
        # without a store (store=False) nothing is journaled: count the calls made instead
        return sum(self.keys.values()) if not isinstance(self.store, NullStore) else self.spent

    def exhausted(self) -> bool:
        if self.cut:
            return True
        if self.max_trials is not None and len(self.trials) >= self.max_trials:
            return True
        return self.max_lm_calls is not None and self.lm_calls >= self.max_lm_calls

    # --- trials -------------------------------------------------------------------------------
    def trial(self, label: str, candidate: Any, data: list[Any]) -> Trial:
        """Score one candidate on ``data`` and keep it if it beats the best so far (ties: the earlier)."""
        result = self.evaluate(candidate, data)
        return self.record(label, result.score, len(data), result.run.id, candidate)

    def record(self, label: str, score: float, items: int, evaluation: str, candidate: Any = None,
               eligible: bool = True) -> Trial:
        """Log a scored candidate; ``eligible``: it may become the best (a minibatch score may not)."""
        trial = Trial(len(self.trials), label, score, items, evaluation, candidate)
        self.trials.append(trial)
        eligible = eligible and not (self.cut and self.best is not None)  # a cut evaluation scored stopped items 0
        if eligible and (self.best is None or trial.score > self.best.score):
            self.best = trial
        best = self.best.score if self.best is not None else 0.0
        self._emit(ev.TrialFinished(self.id, self.optimizer, trial.number, label, score, items, best,
                                    self.lm_calls, evaluation))
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(best=f"{best:.3f}", lm_calls=self.lm_calls, refresh=False)
        return trial

    def provenance(self, chosen: Trial, **extra: Any) -> dict[str, Any]:
        """What the optimizer chose and the scores that justified it, for each node's provenance."""
        ranked = sorted(self.trials, key=lambda t: -t.score)[:8]
        return {"optimizer": self.optimizer, "chosen": chosen.label, "score": round(chosen.score, 4),
                "items": chosen.items, "trials": len(self.trials), "lm_calls": self.lm_calls,
                "candidates": {t.label: round(t.score, 4) for t in ranked}, **extra}

    def annotate(self, compiled: Any, chosen: Trial, **extra: Any) -> Any:
        """``compiled`` with the search's provenance on every PREDICT node (demos and prompts unchanged)."""
        record = self.provenance(chosen, **extra)
        for node in compiled.plan.of_op(Op.PREDICT):
            earlier = dict(node.params.provenance)
            demos_from = earlier.get("demos_from", earlier.get("optimizer"))
            compiled = compiled.update(node.id, provenance={**record, **({"demos_from": demos_from}
                                                                        if demos_from else {})})
        return compiled

    # --- events, progress, closing ------------------------------------------------------------
    def _observe(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self._runs.append(event.run_id)
        if self._user_event is not None:
            self._user_event(event)

    def _emit(self, event: ev.Event) -> None:
        if self._user_event is not None:
            self._user_event(event)

    def _progress_bar(self, progress: bool | None, total: int | None) -> Any:
        if not show_progress(progress, items=2):  # quiet mode as for runs; a search always has several trials
            return None
        return tqdm(total=total, desc=self.optimizer, unit="trial", dynamic_ncols=True, leave=True)

    def finish(self, chosen: Trial) -> None:
        self._emit(ev.OptimizationFinished(self.id, self.optimizer, len(self.trials), chosen.label, chosen.score,
                                           self.lm_calls))

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._owns_store:
            self.store.close()
        if self._own_executor and self.run_options["executor"] is not None:
            self.run_options["executor"].close()
