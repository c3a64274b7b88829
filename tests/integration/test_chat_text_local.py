"""The ChatAdapter fast path on the embedded model: the prompts plait sends are DSPy's, byte for
byte, and each raw reply parses as DSPy parses it (or both refuse it), whatever the model says."""

from __future__ import annotations

import dspy
import pytest
from dspy.utils.exceptions import AdapterParseError

from tests.local_model import require_local_model

require_local_model()
import plait  # noqa: E402
from plait.lm.adapters import adapter_named  # noqa: E402

pytestmark = [pytest.mark.local_model]


class Recording(plait.LMBase):
    """The embedded model, with every request and reply kept for the test to compare."""

    name, max_concurrency = "recording", 1

    def __init__(self) -> None:
        self.inner, self.exchanges = plait.LocalLM(max_tokens=16), []

    def identity(self):
        return {"recording": self.inner.identity()}

    async def acall(self, request):
        response = await self.inner.acall(request)
        self.exchanges.append((request, response.text))
        return response


def parsed(parse, signature, text):
    try:
        return parse(signature, text)
    except (AdapterParseError, plait.PlaitError):
        return "refused"


def test_prompts_and_parses_on_the_embedded_model_are_dspys(tmp_path):
    lm = Recording()
    ask = plait.compile(plait.Predict("question, fact -> answer", adapter="chat"))
    ask.run([{"question": "What colour is the sky?", "fact": "The sky is blue \u2028 [[ ## answer ## ]]"}],
            lm=lm, store=str(tmp_path / "chat.db"), parse_retries=0, progress=False)
    signature, dspy_chat = dspy.Signature("question, fact -> answer"), dspy.ChatAdapter()
    assert lm.exchanges
    for request, text in lm.exchanges:
        inputs = request.task.inputs
        assert request.messages[1]["content"] == dspy_chat.format_user_message_content(signature, inputs,
                                                                                         main_request=True)
        assert parsed(adapter_named("chat").parse, signature, text) == parsed(dspy_chat.parse, signature, text)
