"""What LocalLM costs over calling llama-cpp-python directly, on the same ten requests.

Run: .venv/bin/python bench/bench_local_lm.py [--rounds 5]

Rows:
  direct           Llama.create_chat_completion(messages, response_format={json_object, schema})
  direct, no cache the same, with the KV cache reset before each call (what prefix reuse saves)
  direct, no schema the same messages without a grammar (what constrained decoding costs per token)
  LocalLM.acall    the same requests through plait (grammar cache, lock, worker thread, cache trim)

Each engine has its own Llama instance, so their KV caches do not interfere; calls alternate
between the engines so a noisy machine slows all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Literal

import dspy
from llama_cpp import Llama

from plait.lm import local
from plait.lm.compact import CompactAdapter
from plait.lm.protocol import LMRequest

MAX_TOKENS = 32


class QA(dspy.Signature):
    """Answer the question with one word."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


class Headline(dspy.Signature):
    """Classify the news headline."""

    headline: str = dspy.InputField()
    topic: Literal["sports", "politics", "science", "other"] = dspy.OutputField()


DEMOS = (
    {"question": "What is the capital of Canada?", "answer": "Ottawa"},
    {"question": "What color is a banana?", "answer": "Yellow"},
    {"question": "What animal barks?", "answer": "Dog"},
)
QUESTIONS = ["What is the capital of France?", "What color is grass?", "How many days are in a week?",
             "What is frozen water called?", "Which planet do we live on?"]
HEADLINES = ["Lakers beat Celtics in overtime", "Senate passes the budget bill", "New exoplanet found by telescope",
             "Local bakery wins award", "Striker signs five-year contract"]


def requests() -> list[LMRequest]:
    adapter = CompactAdapter()
    qa = [adapter.format(QA, DEMOS, {"question": q}) for q in QUESTIONS]
    return qa + [adapter.format(Headline, (), {"headline": h}) for h in HEADLINES]


def new_llama() -> Llama:
    return Llama(model_path=str(local.model_path()), n_ctx=2048, n_threads=os.cpu_count() or 2, seed=0, verbose=False)


def direct(llama: Llama, request: LMRequest, reset: bool = False, schema: bool = True) -> int:
    if reset:
        llama.reset()
    fmt = {"type": "json_object", "schema": request.response_schema} if schema else None
    out = llama.create_chat_completion(
        messages=request.messages, temperature=0.0, max_tokens=MAX_TOKENS, seed=0, response_format=fmt
    )
    return out["usage"]["completion_tokens"]


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - start, tokens


def measure_startup() -> dict[str, float]:
    path = local.model_path()
    hash_s, _ = timed(lambda: len(local._hash_file(path)))
    verify_s, _ = timed(lambda: len(str(local.verify_model())))  # first, uncached verification
    cached_s, _ = timed(lambda: len(str(local.verify_model())))
    load_s, _ = timed(lambda: id(local.load_model(2048)))
    return {"sha256 of the GGUF file": hash_s, "verify_model, first call": verify_s,
            "verify_model, cached": cached_s, "model load (Llama(...))": load_s}


async def run_engines(rounds: int) -> dict[str, list[tuple[float, int]]]:
    lm = local.LocalLM(max_tokens=MAX_TOKENS)
    warm, cold, free = new_llama(), new_llama(), new_llama()
    engines = {
        "direct": lambda r: direct(warm, r),
        "direct, no cache": lambda r: direct(cold, r, reset=True),
        "direct, no schema": lambda r: direct(free, r, schema=False),
    }
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in [*engines, "LocalLM.acall"]}
    for round_no in range(rounds + 1):  # round 0 warms up and is not recorded
        for request in requests():
            got = {name: timed(lambda: fn(request)) for name, fn in engines.items()}
            start = time.perf_counter()
            response = await lm.acall(request)
            got["LocalLM.acall"] = (time.perf_counter() - start, response.usage.completion_tokens)
            for name, sample in got.items():
                if round_no:
                    samples[name].append(sample)
    return samples


def table(samples: dict[str, list[tuple[float, int]]]) -> str:
    base = statistics.median(s for s, _ in samples["direct"])
    rows = ["| engine | calls | tokens/call | median ms/call | p90 ms/call | tokens/s | median vs direct |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, values in samples.items():
        times = sorted(s for s, _ in values)
        median, p90 = statistics.median(times), times[int(0.9 * (len(times) - 1))]
        rate = sum(t for _, t in values) / sum(times)
        per_call = sum(t for _, t in values) / len(values)
        rows.append(f"| {name} | {len(values)} | {per_call:.1f} | {median * 1000:.1f} | {p90 * 1000:.1f} | {rate:.1f} "
                    f"| {100 * (median - base) / base:+.1f}% |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| startup step | ms |\n|---|---:|")
    for step, seconds in measure_startup().items():
        print(f"| {step} | {seconds * 1000:.1f} |")
    print()
    samples = asyncio.run(run_engines(args.rounds))
    print(f"{len(requests())} requests x {args.rounds} rounds, max_tokens={MAX_TOKENS}, temperature 0, JSON schema")
    print(table(samples))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
