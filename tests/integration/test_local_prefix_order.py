"""The embedded model's queue runs one node's calls together: on the real model, the same replies
as the plain order (greedy decoding), with fewer prompt tokens evaluated (the KV cache is reused)."""

from __future__ import annotations

import asyncio

import dspy
import pytest

from tests.local_model import require_local_model

local = require_local_model()
from plait.lm.compact import CompactAdapter  # noqa: E402

pytestmark = pytest.mark.local_model


class Capital(dspy.Signature):
    """Name the capital city of the country."""

    country: str = dspy.InputField()
    capital: str = dspy.OutputField()


class Color(dspy.Signature):
    """Name the usual color of the thing."""

    thing: str = dspy.InputField()
    color: str = dspy.OutputField()


CAPITAL_DEMOS = ({"country": "France", "capital": "Paris"}, {"country": "Japan", "capital": "Tokyo"})
COLOR_DEMOS = ({"thing": "grass", "color": "green"}, {"thing": "snow", "color": "white"})


def _interleaved() -> list:
    """Two nodes' requests alternating, as an executor's items reach the model."""
    adapter = CompactAdapter()
    capitals = [adapter.format(Capital, CAPITAL_DEMOS, {"country": c}) for c in ("Italy", "Spain", "Egypt")]
    colors = [adapter.format(Color, COLOR_DEMOS, {"thing": t}) for t in ("the sky", "a banana", "coal")]
    return [request for pair in zip(capitals, colors) for request in pair]


def _evaluated_by(lm, run) -> tuple[object, int]:
    model = local.load_model(lm.n_ctx, lm.n_threads)
    model.llama.reset()  # both orders start from an empty KV cache
    before = model.evaluated
    result = run()
    return result, model.evaluated - before


async def _concurrently(lm, requests: list) -> list[str]:
    responses = await asyncio.gather(*(lm.acall(request) for request in requests))
    return [response.text for response in responses]


def test_prefix_order_gives_the_same_replies_and_evaluates_fewer_tokens():
    lm = local.LocalLM(max_tokens=12, max_concurrency=8, instances=1)  # one instance: its queue order
    requests = _interleaved()
    plain, plain_tokens = _evaluated_by(lm, lambda: [lm.call(request).text for request in requests])
    grouped, grouped_tokens = _evaluated_by(lm, lambda: asyncio.run(_concurrently(lm, requests)))
    assert grouped == plain  # replies in request order, identical under greedy decoding
    assert all(text.startswith("{") for text in plain)
    # five switches of node in the plain order, one in the grouped order: each re-evaluates the
    # system prompt and the demos (about 60 tokens here)
    assert grouped_tokens < plain_tokens - 150, (grouped_tokens, plain_tokens)
