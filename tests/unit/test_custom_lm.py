"""A custom LM is a documented, typed protocol (docs/custom-lm.md): plait.LMBase fills in the
optional members, any object with the required ones works, and a wrong one fails at run start,
before any item, naming the member (issue 17)."""

import json

import pytest

import plait


class Keywords(plait.LMBase):
    name = "keywords"
    adapter = "json"

    def __init__(self, version=1):
        self.version, self.calls = version, 0

    def identity(self):
        return {"backend": "keywords", "version": self.version}

    async def acall(self, request):
        self.calls += 1
        prompt = request.messages[-1]["content"].lower()
        return plait.LMResponse(text=json.dumps({"label": "positive" if "love" in prompt else "negative"}),
                                usage=plait.Usage(5, 3))


ITEMS = [{"review": "I love it"}, {"review": "Broke after a day"}]


def _classify():
    return plait.compile(plait.Predict("review -> label"))


def test_a_subclass_of_lmbase_runs_with_its_own_adapter_and_is_keyed_by_its_identity(tmp_path):
    store, lm = str(tmp_path / "runs.db"), Keywords()
    run = _classify().run(ITEMS, lm=lm, store=store)
    assert [p.label for p in run.outputs] == ["positive", "negative"] and lm.calls == 2
    _classify().run(ITEMS, lm=lm, store=store)  # same identity: answers reused
    assert lm.calls == 2
    edited = Keywords(version=2)
    _classify().run(ITEMS, lm=edited, store=store)  # another identity: asked again
    assert edited.calls == 2


def test_any_object_with_the_required_members_works_with_the_chat_adapter(tmp_path):
    from plait.lm.adapters import adapter_named

    class Plain:  # no adapter, no credentials: the protocol's optional members
        name, max_concurrency = "plain", 2

        def identity(self):
            return {"backend": "plain"}

        async def acall(self, request):
            return plait.LMResponse(text=adapter_named(request.adapter).format_reply(request.task.signature,
                                                                                     {"label": "ok"}))

    run = _classify().run(ITEMS[:1], lm=Plain(), store=str(tmp_path / "runs.db"))
    assert run.outputs[0].label == "ok"


def _sync_acall(self, request):
    return plait.LMResponse(text="{}")


@pytest.mark.parametrize("member, value, expected, found", [
    ("acall", _sync_acall, "async def acall(self, request) -> LMResponse", "a plain function acall()"),
    ("identity", lambda self: {"when": object()}, "a JSON dict (it enters every content key)", "is not JSON serializable"),
    ("identity", lambda self: "keywords", "a method returning a dict", "str"),
    ("max_concurrency", 0, "an int >= 1", "0"),
    ("max_concurrency", True, "an int >= 1", "True"),
    ("name", None, "a str naming the LM", "None"),
])
def test_a_wrong_member_fails_before_any_item_and_says_which(tmp_path, member, value, expected, found):
    broken = type("Broken", (Keywords,), {member: value})()
    with pytest.raises(plait.PlaitError) as raised:
        _classify().run(ITEMS, lm=broken, store=str(tmp_path / "runs.db"))
    message = str(raised.value)
    assert f"LM Broken cannot be called by plait: its '{member}' is not what plait needs" in message
    assert f"member '{member}'" in message and "test_custom_lm.py" in message
    assert expected in message and found in message
    assert f"fix: subclass plait.LMBase and define {member} as docs/custom-lm.md shows" in message
    assert broken.calls == 0


def test_a_transient_lm_error_is_retried_and_usage_is_counted(tmp_path):
    class Flaky(Keywords):
        failed = False

        async def acall(self, request):
            if not self.failed:
                self.failed = True
                raise plait.LMError("429 slow down", transient=True, retry_after=0.0)
            return await super().acall(request)

    lm = Flaky()
    run = _classify().run(ITEMS[:1], lm=lm, store=str(tmp_path / "runs.db"),
                          retry=plait.RetryPolicy(initial=0.0, maximum=0.0))
    assert run.outputs[0].label == "positive" and lm.calls == 1 and run.stats.retries == 1
    assert (run.stats.prompt_tokens, run.stats.completion_tokens) == (5, 3)


def test_lmbase_says_what_to_write_when_a_method_is_missing():
    class Half(plait.LMBase):
        name = "half"

    with pytest.raises(NotImplementedError, match=r"Half.identity\(\): return what names this model"):
        Half().identity()
