"""MIPRO: a joint search over (instruction, demo set) per node, in the manner of DSPy's MIPROv2.

1. Demo sets: index 0 is no demos, then the first ``num_demo_sets`` of DSPy's demo candidates
   (``plait.optimizers.demo_sets``), the bootstrapped one first: bootstrapped, labeled only,
   bootstrapped by a shuffled seeded teacher pass with a labeled fill-up, ...; each teacher pass
   stops once it has its demos.
2. Propose: ``ProposeInstructions`` writes ``num_instructions`` instructions per node (index 0 is
   the current one).
3. Search: an optuna study (TPE, seeded) picks one instruction and one demo set per node per
   trial; each trial is scored on a minibatch of the valset. Every ``full_eval_every`` trials, the
   candidate with the best mean minibatch score not yet fully scored is scored on the whole
   valset. The best fully-scored candidate wins (the unoptimized program is scored first).

Durable: every evaluation is a checkpointed run, and the study is journaled beside the store
(``<store>.optuna/``). A killed search resumes: finished trials and full evaluations are loaded
from the journal, not re-evaluated, and each trial's sampler is seeded by its position, so the
resumed search makes the same choices as an uninterrupted one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from plait.errors import OptimizerError
from plait.ir.nodes import Op
from plait.ir.source import user_source
from plait.optimizers.demo_sets import DemoSpace
from plait.optimizers.proposer import ProposeInstructions, proposer_node_ids, with_instructions
from plait.optimizers.random_search import lm_node_ids, search_identity
from plait.optimizers.trials import Search, Trial, check_setup
from plait.runtime.traces import item_traces

Choice = tuple[tuple[str, int, int], ...]  # per node: (node id, instruction index, demo set index)


@dataclass
class MIPRO:
    """Joint instruction and demo search with a Bayesian optimizer (optuna's TPE), durably.

    Budget: ``num_trials`` minibatch trials, and ``max_lm_calls`` (LM calls, counted by content
    key) if given. ``study_dir``: where the study is journaled (default: beside the store).

    Example::

        compiled = plait.compile(QA(), optimizer=plait.MIPRO(num_trials=20, seed=0), trainset=train,
                                 valset=val, metric=exact_match, store="runs.db")
    """

    prompt_lm: Any = None
    num_instructions: int = 3
    num_demo_sets: int = 3
    max_bootstrapped_demos: int = 4
    max_labeled_demos: int = 4  # the total labeled demos fill up to, after the bootstrapped ones (DSPy's)
    teacher_demos: int | None = None  # labeled demos the teacher shows (None: as BootstrapFewShot)
    num_trials: int = 12
    minibatch_size: int = 8
    full_eval_every: int = 4
    max_lm_calls: int | None = None
    metric_threshold: float | None = None
    study_dir: str | None = None
    seed: int = 0

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Callable[..., Any] | None = None,
                valset: list[Any] | None = None, store: Any = None, **run_options: Any) -> Any:
        check_setup("MIPRO", trainset=trainset, valset=valset, metric=metric, budgets={
            "max_lm_calls": self.max_lm_calls, "num_trials": self.num_trials, "minibatch_size": self.minibatch_size,
            "full_eval_every": self.full_eval_every})
        trainset, valset = split_valset(list(trainset), valset, self.minibatch_size)
        with Search("MIPRO", metric=metric, store=store, run_options=run_options,
                    identity=search_identity(self, compiled, trainset, valset),
                    lm_nodes=lm_node_ids(compiled) | proposer_node_ids(), max_lm_calls=self.max_lm_calls,
                    planned=self.num_trials) as search:
            from plait.optimizers.study import open_study, study_path  # optuna loads only when MIPRO runs

            space = self._space(compiled, trainset, metric, search)
            study = open_study(study_path(getattr(search.store, "path", None), search.id, self.study_dir), search.id)
            chosen = _Trials(self, space, study, search, valset).run()
            search.finish(chosen)
            return search.annotate(chosen.candidate, chosen, valset=len(valset), seed=self.seed,
                                   full_evaluations=sum(t.label.startswith("full:") for t in search.trials))

    def _space(self, compiled: Any, trainset: list[Any], metric: Callable, search: Search) -> _Space:
        demos = DemoSpace(self.max_bootstrapped_demos, self.max_labeled_demos, self.teacher_demos,
                          self.metric_threshold, self.seed)
        drawn = list(demos.candidates(compiled, trainset, metric, search, self.num_demo_sets))[1:]  # 0: none
        drawn.sort(key=lambda pair: not pair[0].startswith("bootstrapped"))  # even 1 demo set is a bootstrapped one
        demo_sets = {n.id: [[]] for n in compiled.plan.of_op(Op.PREDICT)}
        for _, build in drawn[: self.num_demo_sets]:
            for node in build().plan.of_op(Op.PREDICT):
                demo_sets[node.id].append([dict(d) for d in node.params.demos])
        proposer = ProposeInstructions(self.prompt_lm, self.num_instructions, seed=self.seed)
        run = search.run(compiled, trainset[: proposer.max_examples])  # the traces the proposer shows
        instructions = proposer.propose(compiled, trainset, search, item_traces(run.id, compiled.plan, search.store))
        return _Space(compiled, instructions, demo_sets)


def split_valset(trainset: list[Any], valset: list[Any] | None, minibatch: int) -> tuple[list[Any], list[Any]]:
    """(trainset, valset). Without a valset, DSPy's split: the last 80% of the trainset scores
    candidates, the rest bootstraps. A valset no larger than a minibatch makes every trial a full
    evaluation of too few items to tell candidates apart: an error that says so."""
    if valset is None:
        cut = len(trainset) - max(1, int(len(trainset) * 0.8))
        trainset, valset = (trainset[:cut], trainset[cut:]) if cut else (trainset, trainset)
    if len(valset) < minibatch:
        raise OptimizerError(f"MIPRO's valset has {len(valset)} items, fewer than a minibatch ({minibatch})",
                             field="valset", field_kind="argument", source=user_source(),
                             expected=f"a valset of at least minibatch_size={minibatch} items (20 or more to tell "
                                      "candidates apart)", found=f"{len(valset)} items",
                             fix=f"pass a larger valset=, or minibatch_size={max(1, len(valset) // 2)}")
    return trainset, list(valset)


@dataclass
class _Space:
    """Per node: the instruction candidates and the demo-set candidates; builds a candidate."""

    base: Any
    instructions: dict[str, list[str]]
    demo_sets: dict[str, list[list[dict]]]

    def suggest(self, trial: Any) -> Choice:
        return tuple((node, trial.suggest_categorical(f"{node}.instruction", list(range(len(self.instructions[node])))),
                      trial.suggest_categorical(f"{node}.demos", list(range(len(self.demo_sets[node])))))
                     for node in sorted(self.instructions))

    def of_params(self, params: dict[str, int]) -> Choice:
        return tuple((node, params[f"{node}.instruction"], params[f"{node}.demos"])
                     for node in sorted(self.instructions))

    def build(self, choice: Choice) -> Any:
        compiled = with_instructions(self.base, {n: self.instructions[n][i] for n, i, _ in choice})
        for node, _, d in choice:
            if self.demo_sets[node][d] or compiled.plan.node(node).params.demos:
                compiled = compiled.update(node, demos=self.demo_sets[node][d])
        return compiled

    def label(self, choice: Choice) -> str:
        return ", ".join(f"{n.rsplit('.', 1)[-1]}: instruction {i}, demos {d}" for n, i, d in choice)


class _Trials:
    """The trial loop: minibatch trials, periodic full evaluations, all resumable from the study."""

    def __init__(self, mipro: MIPRO, space: _Space, study: Any, search: Search, valset: list[Any]) -> None:
        from plait.optimizers.study import completed  # optuna, as above: loaded only when MIPRO runs

        self.mipro, self.space, self.study, self.search, self.valset = mipro, space, study, search, valset
        self.done = completed(study)
        self.minibatch: dict[Choice, list[float]] = {}
        self.full: dict[Choice, Trial] = {}

    def run(self) -> Trial:
        self._full_eval(self.space.of_params({k: 0 for k in self._param_names()}), "baseline")
        for k in range(self.mipro.num_trials):
            if k >= len(self.done) and self.search.exhausted():
                break
            choice, score = self._load(k) if k < len(self.done) else self._trial(k)
            self.minibatch.setdefault(choice, []).append(score)
            if (k + 1) % self.mipro.full_eval_every == 0:
                self._full_eval_best()
        self._full_eval_best()
        return max(self.full.values(), key=lambda t: (t.score, -t.number))

    def _param_names(self) -> list[str]:
        return [f"{n}.{what}" for n in sorted(self.space.instructions) for what in ("instruction", "demos")]

    def _trial(self, k: int) -> tuple[Choice, float]:
        """Ask for a candidate (the sampler seeded by the trial's position), score it on a minibatch, tell."""
        from optuna.samplers import TPESampler  # optuna, as in compile: loaded only when MIPRO runs

        self.study.sampler = TPESampler(seed=self.mipro.seed * 100_003 + k,
                                                        n_startup_trials=min(5, self.mipro.num_trials))
        trial = self.study.ask()
        choice = self.space.suggest(trial)
        result = self.search.evaluate(self.space.build(choice), self._batch(k))
        trial.set_user_attr("evaluation", result.run.id)
        self.study.tell(trial, result.score)
        self.search.record(f"trial {k + 1} ({self.space.label(choice)})", result.score, len(self._batch(k)),
                           result.run.id, eligible=False)
        return choice, result.score

    def _load(self, k: int) -> tuple[Choice, float]:
        """A trial a previous process finished: its score from the study, its LM calls from its run."""
        frozen = self.done[k]
        choice = self.space.of_params(frozen.params)
        self.search.charge([frozen.user_attrs["evaluation"]])
        self.search.record(f"trial {k + 1} ({self.space.label(choice)})", frozen.value, len(self._batch(k)),
                           frozen.user_attrs["evaluation"], eligible=False)
        return choice, frozen.value

    def _batch(self, k: int) -> list[Any]:
        size = min(self.mipro.minibatch_size, len(self.valset))
        return random.Random(f"{self.mipro.seed}/batch/{k}").sample(self.valset, size)

    def _full_eval_best(self) -> None:
        pending = [(sum(s) / len(s), c) for c, s in self.minibatch.items() if c not in self.full]
        if pending:
            self._full_eval(max(pending, key=lambda p: p[0])[1], "best by minibatch")

    def _full_eval(self, choice: Choice, why: str) -> None:
        """Score ``choice`` on the whole valset, once; the score is kept in the study."""
        key = f"full:{choice!r}"
        label = f"full: {self.space.label(choice)} ({why})"
        stored = self.study.user_attrs.get(key)
        candidate = self.space.build(choice)
        if stored is None:
            result = self.search.evaluate(candidate, self.valset)
            stored = {"score": result.score, "evaluation": result.run.id}
            self.study.set_user_attr(key, stored)
        else:
            self.search.charge([stored["evaluation"]])
        self.full[choice] = self.search.record(label, stored["score"], len(self.valset), stored["evaluation"],
                                               candidate)
