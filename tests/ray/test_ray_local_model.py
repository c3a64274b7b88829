"""The real embedded model (SmolLM2-135M) on a Ray worker: loaded once per worker process however
many shards and runs it serves, and answering as it does in this process."""

from __future__ import annotations

import pytest

import plait
from tests.local_model import require_local_model

local = require_local_model()
pytestmark = pytest.mark.local_model


class Capital(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("country -> capital")

    def forward(self, country: str):
        return self.answer(country=country)


def test_the_embedded_model_is_loaded_once_per_worker_and_answers_as_locally(ray_address, tmp_path, shared_store):
    compiled, lm = plait.compile(Capital()), plait.LocalLM(max_tokens=12)
    data = [{"country": "France"}, {"country": "Japan"}]
    with plait.RayExecutor(address=ray_address, workers=1, shard_size=1) as one:
        on_ray = compiled.run(data, store=shared_store("ray"), lm=lm, executor=one)
        (worker,) = one.describe()
    assert worker["shards"] == 2 and worker["models_loaded"] == 1  # one shard per item, one load
    here = compiled.run(data, store=str(tmp_path / "local.db"), lm=lm)
    assert on_ray.status == here.status == "done" and on_ray.stats.lm_calls == 2
    assert [dict(o) for o in on_ray.outputs] == [dict(o) for o in here.outputs]
