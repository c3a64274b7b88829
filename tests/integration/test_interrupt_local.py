"""On the real embedded model: cancelling a call mid-generation (what Ctrl-C does) says that the
process waits for the reply in flight, and leaves the model's next replies unchanged."""

from __future__ import annotations

import asyncio

import pytest

from plait.lm.protocol import LMRequest
from tests.local_model import require_local_model

local = require_local_model()
pytestmark = pytest.mark.local_model

STORY = LMRequest([{"role": "user", "content": "Write a long story about a dragon and a knight."}],
                  settings={"max_tokens": 60})
SHORT = LMRequest([{"role": "user", "content": "Name a colour."}], settings={"max_tokens": 8})


def test_a_cancelled_generation_says_so_and_changes_nothing(capsys):
    lm = local.LocalLM()
    model = local.load_model(lm.n_ctx, lm.n_threads)

    async def main() -> tuple[str, str]:
        before = (await lm.acall(SHORT)).text
        task = asyncio.create_task(lm.acall(STORY))
        while not model.lock.locked():  # the generation has the model
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return before, (await lm.acall(SHORT)).text  # waits for the cancelled reply's thread to free the model

    before, after = asyncio.run(main())
    assert after == before
    assert "waiting for the embedded model's call in flight to finish its reply" in capsys.readouterr().err
