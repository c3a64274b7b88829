"""``plait.RayExecutor``: a run's items on a Ray cluster, with the contract of a local run.

The driver (the process that calls ``run``, ``resume`` or ``rerun``) does what it does locally:
it takes the run's lease and renews it, creates the run and its items (so ids and order are those
of a local run), and reports the run at the end. Only the items run elsewhere: in shards of a few
dozen (shards.py), on a pool of :class:`ShardWorker` actors, one per worker process, each running
plait's own executor against the shared store. The rules:

- **Lease.** Workers record under the driver's lease token. Two drivers: the store gives the lease
  to one; the other gets LeaseHeld before anything runs. A killed driver: its workers die with it
  (Ray ends the actors of a dead driver) and ``plait resume`` takes the lease over (at once on the
  same host, else when it expires); a worker that still records under the old token is refused.
- **A killed worker.** Ray restarts its actor; the driver sends the shard again (``shard_retries``
  times at most). The new attempt reads its items' journal, so recorded nodes replay and only the
  calls that were in flight at the kill are made again.
- **Budget and rate limits** are run-wide: one actor beside the workers owns them (ray_limits.py).
- **Results.** Workers report statuses and events; the driver reads outputs from the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from dataclasses import replace
from typing import Any, Iterable

from plait.runtime.assemble import named_lms, resolve_lms
from plait.runtime.options import RunJob
from plait.errors import PlaitError
from plait.lm import config
from plait.runtime import events as ev
from plait.runtime.budget import journal_spending
from plait.runtime.executor import ItemState
from plait.runtime.loops import lm_nodes
from plait.runtime.policies import resolve_guards
from plait.runtime.ray_limits import LimitKeeper
from plait.runtime.ray_workers import RayRunSpec, ShardWorker
from plait.ir.locations import MAIN as MAIN_MODULE, module_location
from plait.runtime.shards import RunSpec, ShardItem, ShardResult, absorb, budget_stop, main_objects

log = logging.getLogger("plait")


def import_ray() -> Any:
    """The ``ray`` module: an optional extra, imported when a run first needs it."""
    try:
        import ray
    except ImportError as exc:
        raise PlaitError("executor='ray' needs Ray, which is not installed", expected="the ray package",
                         found=f"ImportError: {exc}", fix="pip install 'plait[ray]'") from None
    return ray


class RayExecutor:
    """Runs a run's items on a Ray cluster; pass it as ``executor=`` (or ``executor="ray"``).

    ``address``: the cluster (``"auto"``, ``"127.0.0.1:6379"``, ``"ray://head:10001"``); None
    uses ``$RAY_ADDRESS``, else starts a local Ray. ``workers``: worker processes (default: the
    cluster's free CPUs / ``worker_cpus`` when the pool starts; a worker that cannot be placed
    waits for a CPU, and so do the shards sent to it). ``shard_size``: items per shard (default: up to 4 x
    ``concurrency``, at least two shards per worker). ``concurrency`` (a run option) is the items in
    flight per worker. ``runtime_env``: Ray's, e.g. ``{"working_dir": "."}`` to ship your modules.
    ``keep_workers``: keep the pool (and its loaded models) between runs until :meth:`close`.

    Example::

        with plait.RayExecutor(address="auto", workers=8) as cluster:
            run = compiled.run(items, store="postgresql://db/plait", executor=cluster)
        plait.resume(run.id, store="postgresql://db/plait", executor="ray")
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None, shard_size: int | None = None,
                 runtime_env: dict[str, Any] | None = None, worker_cpus: float = 1, shard_retries: int = 3,
                 keep_workers: bool = True, ray_init: dict[str, Any] | None = None) -> None:
        for name, value in (("workers", workers), ("shard_size", shard_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PlaitError(f"RayExecutor: invalid {name}", field=name, expected="an int >= 1, or None",
                                 found=repr(value), fix=f"pass {name}= a positive whole number")
        self.address, self.workers, self.shard_size = address, workers, shard_size
        self.runtime_env, self.worker_cpus, self.shard_retries = runtime_env, worker_cpus, shard_retries
        self.keep_workers, self.ray_init = keep_workers, dict(ray_init or {})
        self._actors: list[Any] | None = None
        self.keeper: Any = None  # the pool's LimitKeeper: its runs' budgets and rate limits

    def bind(self, job: RunJob) -> RayRun:
        """The stand-in for a local executor that runs ``job``'s items on this cluster."""
        return RayRun(self, job)

    def connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, runtime_env=self.runtime_env, logging_level=logging.WARNING,
                         **self.ray_init)
            except ConnectionError as exc:
                raise PlaitError(f"cannot reach the Ray cluster at {self.address or os.environ.get('RAY_ADDRESS')}",
                                 expected="a running Ray head", found=f"{type(exc).__name__}: {exc}",
                                 fix="start one with `ray start --head`, or pass RayExecutor(address=...)") from None
        return ray

    def pool(self) -> list[Any]:
        """The worker actors, started on first use."""
        if self._actors is None:
            ray = self.connect()
            count = self.workers or max(1, int(ray.available_resources().get("CPU", 1) // self.worker_cpus))
            remote = ray.remote(ShardWorker).options(num_cpus=self.worker_cpus, max_restarts=-1, max_task_retries=0)
            self._actors = [remote.remote() for _ in range(count)]
            self.keeper = ray.remote(LimitKeeper).options(num_cpus=0).remote()
        return self._actors

    def describe(self) -> list[dict[str, Any]]:
        """Each worker's pid, host, shards run and models loaded."""
        ray = self.connect()
        return ray.get([actor.describe.remote() for actor in self.pool()])

    def close(self) -> None:
        """End the worker processes (a later run starts new ones)."""
        if self._actors is not None:
            ray = import_ray()
            for actor in [*self._actors, self.keeper]:
                ray.kill(actor)
            self._actors, self.keeper = None, None

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.workers}, shard_size={self.shard_size})"


class RayRun:
    """One run on a RayExecutor's pool, in place of a local Executor: ``await run(states)`` leaves
    every item's status, error, question and outputs in ``states``; ``stopped`` is the budget's stop."""

    def __init__(self, executor: RayExecutor, job: RunJob) -> None:
        self.ex, self.job = executor, job
        self.stopped = None
        self.locator = store_locator(job.store)
        if job.options.clock is not None:
            raise PlaitError("clock= cannot be used with a distributed executor", field="clock",
                             expected="no clock (every worker keeps real time)", found=repr(job.options.clock),
                             fix="run with a FakeClock locally (executor=None), or drop clock= on Ray")
        named = named_lms(job.options, job.own_lms)  # resolved here: a missing LM fails before any work
        lms, _, hashes = resolve_lms(job.plan, job.options, job.own_lms, named)
        guards = resolve_guards(lm_nodes(job.plan), lms, hashes, job.options, named)
        self.rate_limits = {r.lm.name: r.limiter for g in guards.values() for r in g.routes if r.limiter is not None}
        self.key = f"{job.run_id}:{job.owner}"  # this binding of the run, in the LimitKeeper
        self._budget_noted = False

    async def run(self, states: Iterable[ItemState]) -> None:
        todo = self._runnable(list(states))  # a run's items may be an iterator (runtime/feed.py): read once
        if not todo:
            return
        ray, pool = self.ex.connect(), self.ex.pool()
        limited = await self._open_limits()
        try:
            spec = ray.put(RayRunSpec(self._spec(), self.ex.keeper, self.key, self.job.options.budget is not None,
                                      frozenset(self.rate_limits)))
            await self._dispatch(ray, pool, spec, self._shards(todo, len(pool)), {s.item_id: s for s in todo})
        finally:
            if limited:
                self.ex.keeper.close.remote(self.key)
            if not self.ex.keep_workers:
                self.ex.close()

    def _runnable(self, states: list[ItemState]) -> list[ItemState]:
        """The items to send; one that failed input validation is finished already, and said so here
        as the local executor says it."""
        for state in states:
            if state.status != "running":
                self.job.emit(ev.ItemFinished(self.job.run_id, state.item_id, state.status))
        return [s for s in states if s.status == "running"]

    async def _open_limits(self) -> bool:
        """Give the pool's LimitKeeper this run's budget and rate limits; False if it has neither."""
        budget = self.job.options.budget
        if budget is None and not self.rate_limits:
            return False
        spent = journal_spending((self.job.journal or {}).values())  # a resume counts what was spent
        await self.ex.keeper.open.remote(self.key, budget, spent, self.rate_limits)
        return True

    def _spec(self) -> RunSpec:
        job = self.job
        portable = replace(job.options, on_event=None, progress=False, label=None, budget=None, rate_limits=None,
                           executor=None, clock=None)
        plan_hash = job.store.get_run(job.run_id).plan_hash
        return RunSpec(self.locator, job.run_id, plan_hash, job.owner, portable, replace(config.current(), progress=False),
                       dict(job.own_lms), frozenset(job.force), main_objects(job.store.load_plan(plan_hash)),
                       module_location(MAIN_MODULE))

    def _shards(self, todo: list[ItemState], workers: int) -> deque[list[ShardItem]]:
        size = self.ex.shard_size or max(1, min(4 * self.job.options.concurrency, -(-len(todo) // (2 * workers))))
        items = [ShardItem(s.item_id, s.position, s.inputs) for s in todo]
        return deque(items[i:i + size] for i in range(0, len(items), size))

    async def _dispatch(self, ray: Any, pool: list[Any], spec: Any, shards: deque, states: dict[str, ItemState]) -> None:
        """Keep one shard on every worker until none is left; send a dead worker's shard again."""
        running: dict[asyncio.Future, tuple[Any, list[ShardItem], int, Any]] = {}

        def send(actor: Any, shard: list[ShardItem], attempt: int) -> None:
            ref = actor.run_shard.remote([spec], shard)
            running[asyncio.wrap_future(ref.future())] = (actor, shard, attempt, ref)

        for actor in pool:
            if shards:
                send(actor, shards.popleft(), 0)
        try:
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    actor, shard, attempt, _ = running.pop(future)
                    if self._settle(ray, future, shard, attempt, states):
                        send(actor, shard, attempt + 1)
                    elif shards and self.stopped is None:  # after a budget stop, nothing new starts
                        send(actor, shards.popleft(), 0)
        finally:
            for future, (*_, ref) in running.items():  # a fatal error: stop the other shards
                future.cancel()
                ray.cancel(ref)

    def _settle(self, ray: Any, future: asyncio.Future, shard: list[ShardItem], attempt: int,
                states: dict[str, ItemState]) -> bool:
        """Take in a finished shard; True to send it again (its worker died)."""
        try:
            result: ShardResult = future.result()
        except ray.exceptions.RayActorError as exc:
            if "creation task" in str(exc):  # it never started: sending the shard again cannot help
                raise workers_cannot_start(exc) from None
            if attempt >= self.ex.shard_retries:
                raise worker_lost(self.job.run_id, shard, attempt + 1, exc) from None
            log.warning("plait: a Ray worker died running %d items of run %s; sending them again (attempt %d)",
                        len(shard), self.job.run_id, attempt + 2)
            return True
        except ray.exceptions.RayTaskError as exc:  # the worker's own error: a store error, a lost lease
            raise exc.cause if isinstance(exc.cause, BaseException) else exc from None
        self._take(result, states)
        return False

    def _take(self, result: ShardResult, states: dict[str, ItemState]) -> None:
        absorb(result, states, self.job.store, self.job.run_id, self.job.plan)
        for event in result.events:
            if isinstance(event, ev.BudgetExhausted):  # each stopped shard says so; the run says it once
                if self._budget_noted:
                    continue
                self._budget_noted = True
            self.job.emit(event)
        self.stopped = self.stopped or budget_stop(result.stopped)

def store_locator(store: Any) -> str:
    """The path or URL by which every worker opens the run's store itself."""
    path = getattr(store, "path", None)
    if not isinstance(path, str) or not path or path in (":none:", ":memory:"):
        raise PlaitError("a distributed run needs a store that every worker can open", field="store",
                         expected="a SQLite file path (on a disk the workers share) or a PostgreSQL URL",
                         found=repr(path if isinstance(path, str) else store)[:100],
                         fix="pass store='runs.db' on one machine, or store='postgresql://...' for a cluster")
    return path if "://" in path else os.path.abspath(path)


def worker_lost(run_id: str, shard: list[ShardItem], attempts: int, exc: BaseException) -> PlaitError:
    first = shard[0].item_id if shard else "?"
    return PlaitError(
        f"Ray workers died {attempts} times running items {first}.. ({len(shard)} items) of run {run_id}",
        expected="a worker to finish the shard", found=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
        fix=f"check the workers' logs (a node out of memory?), then `plait resume {run_id} --executor ray`: "
            "recorded nodes are kept")


def workers_cannot_start(exc: BaseException) -> PlaitError:
    return PlaitError(
        "plait's Ray workers cannot start", expected="plait importable on every node of the cluster",
        found=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
        fix="install plait (the same version, with the extras your LMs need) on the cluster's nodes, or ship it: "
            "plait.RayExecutor(runtime_env={'py_modules': [...]} or {'working_dir': '.'})")
