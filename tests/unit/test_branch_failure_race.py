"""One branch of an item fails while a parallel branch is still waiting for its LM: the item fails
with the first error, the late branch's answer is recorded, and the run and the other items go on
(the run used to stop with a KeyError on the released item)."""

import asyncio
import json

import plait


class Diamond(plait.Module):
    def __init__(self):
        self.fast = plait.Predict("question -> a")
        self.slow = plait.Predict("question -> b")
        self.join = plait.Predict("a, b -> answer")

    def forward(self, question: str):
        return self.join(a=self.fast(question=question).a, b=self.slow(question=question).b)


class SlowAndBroken(plait.LMBase):
    """Replies to `slow` after a delay; `fast` replies at once, with text no adapter parses for 'bad'."""

    name, adapter, max_concurrency = "slow-and-broken", "json", 64

    def identity(self):
        return {"backend": "slow-and-broken"}

    async def acall(self, request):
        task = request.task
        if task.node_id.endswith("slow"):
            await asyncio.sleep(0.2)
        if task.node_id.endswith("fast") and task.inputs["question"] == "bad":
            return plait.LMResponse(text="no json here")
        return plait.LMResponse(text=json.dumps({f: "x" for f in task.output_fields}))


def test_a_branch_failing_while_another_waits_fails_only_its_item(tmp_path):
    run = plait.compile(Diamond()).run([{"question": "bad"}, {"question": "good"}], lm=SlowAndBroken(),
                                       store=str(tmp_path / "runs.db"), parse_retries=0)
    assert [r.status for r in run.items] == ["failed", "done"]
    assert "diamond.fast" in run.items[0].error and run.outputs[1].answer == "x"
    rows = plait.SQLiteStore(str(tmp_path / "runs.db")).journal(run.id)
    assert rows[("0", "diamond.slow", 0)].status == "ok"  # the late branch's answer is kept
