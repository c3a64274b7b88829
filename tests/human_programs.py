"""Programs with people in the loop, shared by the in-process and the subprocess tests."""

from __future__ import annotations

import os

import plait

# Every execution of the gate step's body appends here: tests count re-runs and asks.
GATE_LOG: list[str] = []


class Review(plait.Signature):
    """Is this draft good enough to publish?"""

    draft: str = plait.InputField()
    approved: bool = plait.OutputField()
    comment: str = plait.OutputField()


@plait.step
def finalize(draft: str, approved: bool, comment: str) -> str:
    return f"{'PUBLISHED' if approved else 'REJECTED'}: {draft} ({comment})"


class Reviewed(plait.Module):
    """An LM drafts, a person reviews, a step finalizes."""

    def __init__(self, timeout: float | None = None, default: dict | None = None):
        self.write = plait.Predict("topic -> draft")
        self.review = plait.HumanInput(Review, timeout=timeout, default=default)

    def forward(self, topic: str):
        draft = self.write(topic=topic).draft
        verdict = self.review(draft=draft)
        return {"final": finalize(draft=draft, approved=verdict.approved, comment=verdict.comment)}


@plait.step
def publish(draft: str) -> str:
    """Two questions in one step: an approval, then a title."""
    GATE_LOG.append(f"start {draft}")
    if not plait.approve("Publish this draft?"):
        GATE_LOG.append(f"rejected {draft}")
        return f"rejected: {draft}"
    title = plait.ask("What title?", type=str)
    GATE_LOG.append(f"published {draft}")
    return f"{title}: {draft}"


class Gated(plait.Module):
    """An LM drafts, a step asks for approval and a title before publishing."""

    def __init__(self):
        self.write = plait.Predict("topic -> draft")

    def forward(self, topic: str):
        return {"result": publish(draft=self.write(topic=topic).draft)}


def draft_lm(**kwargs) -> plait.ScriptedLM:
    return plait.ScriptedLM(lambda task: {"draft": f"about {task.inputs['topic']}"}, **kwargs)


def counted_lm() -> plait.ScriptedLM:
    """draft_lm, appending one line per call to $PLAIT_TEST_CALLS: subprocess tests count calls."""
    return draft_lm(calls_file=os.environ["PLAIT_TEST_CALLS"])
