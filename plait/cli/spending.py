"""What runs spent on LM calls, as the CLI prints it: calls sent (answered or not), the answered
ones, tokens and cost, one way everywhere (`plait run`, `resume`, `rerun`, `show`, `runs`).
The numbers come from run.totals / run.stats, or straight from the store's journal."""

from __future__ import annotations

from typing import Any

from plait.checkpoints.spend import Spend, cost_text


def spending_text(calls: int, answered: int, prompt_tokens: int, completion_tokens: int, cost: float | None) -> str:
    return (f"LM calls {calls} ({answered} answered), tokens {prompt_tokens} in, {completion_tokens} out, "
            f"cost {cost_text(cost)}")


def stats_text(stats: Any) -> str:
    """A RunStats (run.totals or run.stats) in those words."""
    return spending_text(stats.lm_calls, stats.lm_answered, stats.prompt_tokens, stats.completion_tokens, stats.cost)


def spend_json(spent: Spend) -> dict[str, Any]:
    """A Spend under RunStats' names, so that `plait show --json` and `plait run --json` agree."""
    return {"lm_calls": spent.requests, "lm_answered": spent.answered, "prompt_tokens": spent.prompt_tokens,
            "completion_tokens": spent.completion_tokens, "cost": spent.cost}
