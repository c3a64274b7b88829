"""The DSPy side of bench_core.py: the same five-node workload as a dspy.Module, with fake LMs
that reply in DSPy's ChatAdapter format, plugged in both ways DSPy 3.4 supports."""

from __future__ import annotations

import time
import warnings
import zlib
from types import SimpleNamespace


def tag(text: str) -> str:
    # A short value that differs per input, so no content key repeats across items.
    return f"{zlib.crc32(text.encode()):08x}"


def dspy_program(signatures: dict[str, str], latency: float = 0.0, flavour: str = "forward", replies=None):
    """The same five nodes as a dspy.Module; each Predict has its own fake LM that knows the
    signature it answers, as plait's scripted LM gets the node's task. ``replies`` makes a
    Predict's reply function from (signature, latency); FakeReplies by default."""
    import dspy

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # BaseLM.forward is 3.4's legacy path
    dspy.configure(adapter=dspy.ChatAdapter())
    make_lm = {"forward": legacy_fake_lm, "engine": engine_fake_lm}[flavour]

    class Fanout(dspy.Module):
        def __init__(self):
            super().__init__()
            for name, signature in signatures.items():
                predict = dspy.Predict(signature)
                predict.lm = make_lm((replies or FakeReplies)(predict.signature, latency))
                setattr(self, name, predict)

        def forward(self, question: str):
            x = self.a(question=question).x
            y = self.b(x=x).y
            z = self.c(x=x).z
            w = self.d(y=y, z=z).w
            return self.e(w=w)

    return Fanout()


class FakeReplies:
    """The reply text a perfect LM would send for one signature, in the ChatAdapter format."""

    def __init__(self, signature, latency: float) -> None:
        import dspy

        self.signature, self.latency, self.adapter = signature, latency, dspy.ChatAdapter()

    def __call__(self, messages: list[dict]) -> str:
        if self.latency:
            time.sleep(self.latency)  # DSPy runs items on threads: a blocking call is what it expects
        stamp = tag(messages[-1]["content"])
        values = {name: f"{name} {stamp}" for name in self.signature.output_fields}
        return self.adapter.format_assistant_message_content(self.signature, values)


def legacy_fake_lm(replies: FakeReplies):
    """DSPy 3.4's documented-but-deprecated custom LM: ``BaseLM.forward`` returning an OpenAI-shaped
    response. It is the faster of the two ways to plug in a fake LM (see the table)."""
    import dspy

    class FakeLM(dspy.BaseLM):
        def __init__(self):
            super().__init__("fake/chat", cache=False)  # no DSPy cache: every call is a call

        def forward(self, prompt=None, messages=None, **kwargs):
            return _openai_response(replies(messages))

    return FakeLM()


def _openai_response(text: str) -> SimpleNamespace:
    message = SimpleNamespace(content=text, tool_calls=None, reasoning_content=None)
    choice = SimpleNamespace(index=0, finish_reason="stop", message=message, logprobs=None)
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return SimpleNamespace(model="fake/chat", choices=[choice], usage=usage)


def engine_fake_lm(replies: FakeReplies):
    """DSPy 3.4's new way: ``dspy.LM(engine=...)`` with an engine whose ``complete(Request)``
    returns an lm15 ``Response``."""
    import dspy
    from dspy.lm15 import Message, Response, TextPart, Usage

    class FakeEngine:
        def complete(self, request):
            messages = [{"role": m.role, "content": m.text or ""} for m in request.messages]
            return Response(id=None, model="fake/chat", message=Message.assistant([TextPart(replies(messages))]),
                            finish_reason="stop", usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0))

        def stream(self, request):
            raise NotImplementedError("the benchmark never streams")

        def close(self) -> None:
            pass

    return dspy.LM("openai/fake-chat", engine=FakeEngine(), cache=False)
