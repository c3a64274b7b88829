"""On the real embedded model: a pool of two instances decoding side by side gives the replies of a
single instance (greedy decoding), uses both instances, and keeps the LM's identity (recorded
outputs replay under either)."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.local_model import require_local_model

local = require_local_model()
from plait.lm.compact import CompactAdapter  # noqa: E402
from tests.integration.test_local_prefix_order import Capital, Color  # noqa: E402  (the same two signatures)

pytestmark = pytest.mark.local_model


def _requests() -> list:
    adapter = CompactAdapter()
    capitals = [adapter.format(Capital, ({"country": "France", "capital": "Paris"},), {"country": c})
                for c in ("Italy", "Spain", "Egypt")]
    colors = [adapter.format(Color, ({"thing": "grass", "color": "green"},), {"thing": t})
              for t in ("the sky", "a banana", "coal")]
    return [request for pair in zip(capitals, colors) for request in pair]


async def _concurrently(lm, requests: list) -> list[str]:
    return [response.text for response in await asyncio.gather(*(lm.acall(r) for r in requests))]


def test_two_instances_reply_as_one_does_and_share_the_work():
    single = local.LocalLM(max_tokens=12, instances=1)
    pooled = local.LocalLM(max_tokens=12, max_concurrency=8, instances=2, n_threads=1)
    requests = _requests()
    expected = [single.call(request).text for request in requests]
    before = [model.evaluated for model in (pooled.pool().model(0), pooled.pool().model(1))]
    assert asyncio.run(_concurrently(pooled, requests)) == expected
    assert all(text.startswith("{") for text in expected)
    after = [model.evaluated for model in pooled.pool().models()]
    assert all(a > b for a, b in zip(after, before)), (before, after)  # both instances decoded
    assert pooled.identity() == single.identity()


def test_by_default_one_instance_per_call_in_flight_up_to_the_cores():
    assert local.LocalLM().instances == 1  # max_concurrency 1: one call at a time, on every core
    lm, cores = local.LocalLM(max_concurrency=64), os.cpu_count() or 2
    assert lm.instances == min(64, cores) and lm.instances * lm.n_threads <= cores
