"""The child process of the chaos suite: run (or resume) 5 LM nodes per item against a seeded
faulty LM, and report through files.

``main`` runs in a process forked from a fork server that has already imported plait (see
test_chaos.py), so a trial pays milliseconds, not a second of imports, per process. The inner
scripted LM appends ``<node> <digest of its inputs>`` to the calls file for every call it answers,
before the answer is returned: after a SIGKILL, a call answered but not recorded is counted.
"""

from __future__ import annotations

import hashlib
import json
import os

import plait

CONCURRENCY = 16  # items in flight
MAX_IN_FLIGHT = 2 * CONCURRENCY  # left and right run at once in each item
ITEMS = 100
ERROR_RATE = 0.2
LATENCY = (0.0035, 0.0015)  # seconds: 2 to 5 ms per call
OUTAGE = 0.2  # seconds of total outage, somewhere in the trial
RETRY = plait.RetryPolicy(initial=0.005, coefficient=2.0, maximum=0.04, max_attempts=80)


class Fanout(plait.Module):
    """Five LM nodes: a root, two branches reading it, a join, and a final node."""

    def __init__(self):
        self.root = plait.Predict("question -> a")
        self.left = plait.Predict("a -> b")
        self.right = plait.Predict("a -> c")
        self.join = plait.Predict("b, c -> d")
        self.final = plait.Predict("d -> answer")

    def forward(self, question: str):
        a = self.root(question=question).a
        d = self.join(b=self.left(a=a).b, c=self.right(a=a).c).d
        return self.final(d=d)


def digest(task) -> str:
    return hashlib.sha256(json.dumps([task.node_id, task.inputs], sort_keys=True).encode()).hexdigest()[:16]


def answer(task) -> dict[str, str]:
    return {name: f"{name}:{digest(task)}" for name in task.output_fields}


class Logged:
    """``answer``, appending one line per call to a file first (O_APPEND: one write per line)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def __call__(self, task) -> dict[str, str]:
        os.write(self.fd, f"{task.node_id} {digest(task)}\n".encode())
        return answer(task)


def items() -> list[dict[str, str]]:
    return [{"question": f"question {i}: what follows {i * 7 % 13}?"} for i in range(ITEMS)]


def item_ids() -> list[str]:
    return [f"item-{i:03d}" for i in range(ITEMS)]


def faulty_lm(calls_file: str, seed: int, outage_at: float, start: float) -> plait.Faulty:
    inner = plait.ScriptedLM(Logged(calls_file))
    lm = plait.Faulty(inner, error_rate=ERROR_RATE, latency=LATENCY, outages=[(outage_at, outage_at + OUTAGE)],
                      start=start, seed=seed)
    lm.breaker = plait.CircuitBreaker(failures=12, cooldown=0.03)
    return lm


def outputs_of(run: plait.Run) -> dict[str, dict | None]:
    return {r.item_id: (dict(r.outputs) if r.outputs is not None else None) for r in run.items}


def main(mode: str, store: str, calls_file: str, out_file: str, seed: int, outage_at: float, start: float,
         run_id: str | None = None) -> None:
    """Write ``RUN <id>`` to ``out_file`` as soon as the run exists, ``RESULT <json>`` at the end."""
    out = open(out_file, "a", buffering=1)

    def announce(event) -> None:
        if isinstance(event, plait.events.RunStarted):
            out.write(f"RUN {event.run_id}\n")
            out.flush()

    options = dict(store=store, lm=faulty_lm(calls_file, seed, outage_at, start), concurrency=CONCURRENCY,
                   retry=RETRY, progress=False, on_event=announce, seed=seed)
    if mode == "run":
        run = plait.compile(Fanout()).run(items(), ids=item_ids(), **options)
    else:
        run = plait.resume(run_id, **options)
    result = {"run_id": run.id, "status": run.status, "lm_calls": run.stats.lm_calls, "outputs": outputs_of(run)}
    out.write("RESULT " + json.dumps(result, sort_keys=True) + "\n")
    out.close()
