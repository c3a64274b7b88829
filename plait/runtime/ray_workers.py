"""The Ray actor that runs shards: one per worker process, for as long as its pool lives.

An actor outlives its shards and its runs, so what is costly is done once per process: the
embedded model is loaded on its first call (``plait.lm.local`` keeps it per process), a store is
opened once, a plan is loaded once, and a run's spec (its LMs, their breakers) is received once:
it travels as an object reference wrapped in a list, which Ray hands over unresolved, and is
fetched only by a worker that has not seen it (a restarted worker fetches it again).

This module does not import Ray: the driver (``ray_executor.py``) wraps :class:`ShardWorker` with
``ray.remote``, and a worker imports this module to run it.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from plait.lm.local import models_loaded
from plait.runtime.ray_limits import RayGate
from plait.runtime.shards import RunSpec, ShardItem, ShardResult, ShardRunner

RUNS_KEPT = 8  # runs whose spec a worker keeps (an optimization sends many small runs in turn)


@dataclass(frozen=True)
class RayRunSpec:
    """A run's spec plus where its budget and rate limits are kept: the pool's LimitKeeper, under
    ``key`` (see ray_limits.py)."""

    spec: RunSpec
    keeper: Any
    key: str
    budgeted: bool = False
    limited: frozenset[str] = frozenset()


class ShardWorker:
    """Runs the shards it is sent, one at a time, with plait's own executor (shards.ShardRunner)."""

    def __init__(self) -> None:
        self.runner = ShardRunner()
        self.runs: OrderedDict[str, tuple[RunSpec, RayGate]] = OrderedDict()
        self.shards = 0

    async def run_shard(self, spec_box: list, items: list[ShardItem]) -> ShardResult:
        """Run ``items`` of the run whose RayRunSpec is the object reference in ``spec_box``."""
        spec, gate = await self._run(spec_box[0])
        self.shards += 1
        return await self.runner.run(spec, items, gate)

    async def _run(self, ref: Any) -> tuple[RunSpec, RayGate]:
        key = ref.hex()
        if key not in self.runs:
            ray_spec: RayRunSpec = await ref
            gate = RayGate(ray_spec.keeper, ray_spec.key, ray_spec.budgeted, ray_spec.limited)
            self.runs[key] = (ray_spec.spec, gate)
            while len(self.runs) > RUNS_KEPT:
                self.runs.popitem(last=False)
        return self.runs[key]

    def describe(self) -> dict[str, Any]:
        """This worker: its pid and host, the shards it ran, the models it loaded (1 once it has
        called the embedded model, however many shards and runs it served)."""
        return {"pid": os.getpid(), "host": socket.gethostname(), "shards": self.shards,
                "models_loaded": models_loaded()}
