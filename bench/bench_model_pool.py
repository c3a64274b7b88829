"""One llama.cpp instance on all cores, or one instance per core decoding side by side?

Run: .venv/bin/python bench/bench_model_pool.py [--rounds 3] [--items 7]

The requests are the demo pipeline's (plait/demo/pipeline.py), formatted by the compact adapter
and decoded under the bounded grammar, as LocalLM sends them: each item's three nodes with four
labeled demos (the compiled phase), ordered node by node as the prefix queue orders them.

Arms, alternated within each round (same minute, same load):
  one x N threads   one Llama(n_threads=cores) running the requests one after the other
  N x 1 thread      `cores` Llama(n_threads=1), one Python thread each taking every N-th request
                    (llama.cpp releases the GIL while it decodes)
  one x 1 thread    one Llama(n_threads=1), sequentially (separates "fewer threads per instance"
                    from "more instances")

Prints, per arm, the median wall seconds and the median process CPU seconds (all threads: time
spent spinning at llama.cpp's thread barriers counts too), the tokens llama.cpp evaluated (each
instance re-evaluates the shared instructions and demos in its own KV cache), and whether the
replies are identical.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from dataclasses import replace

from plait.demo.data import load
from plait.demo.pipeline import Answer, FindFact, FindPerson
from plait.lm import local
from plait.lm.compact import CompactAdapter
from plait.lm.model_pool import LoadedModel, new_llama
from plait.lm.protocol import LMRequest

NODES = ((FindPerson, ("question",), 16), (FindFact, ("context", "person"), 40), (Answer, ("question", "fact"), 16))


def demo_requests(items: int) -> list[LMRequest]:
    data = load()
    demos, devset = data[:4], data[-items:]
    adapter = CompactAdapter()
    requests = []
    for signature, inputs, max_tokens in NODES:
        shots = tuple({k: d[k] for k in (*inputs, *signature.output_fields)} for d in demos)
        for item in devset:
            request = adapter.format(signature, shots, {k: item[k] for k in inputs})
            requests.append(replace(request, settings={"max_tokens": max_tokens}))
    return requests


def new_model(n_threads: int) -> LoadedModel:
    return LoadedModel(new_llama(str(local.verify_model()), 2048, n_threads))


def reply(model: LoadedModel, request: LMRequest) -> str:
    return local.LocalLM().generate(model, request).text  # LocalLM's options, grammar and cache trim


def run_arm(models: list[LoadedModel], requests: list[LMRequest]) -> tuple[float, float, int, list[str]]:
    for model in models:
        model.llama.reset()  # every arm starts each round from an empty KV cache
    evaluated = sum(model.evaluated for model in models)
    replies: list[str] = [""] * len(requests)

    def work(lane: int) -> None:
        for index in range(lane, len(requests), len(models)):
            replies[index] = reply(models[lane], requests[index])

    wall, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=work, args=(lane,)) for lane in range(len(models))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, sum(model.evaluated for model in models) - evaluated, replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=7)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    requests = demo_requests(args.items)
    arms = {f"one x {args.cores} threads": [new_model(args.cores)],
            f"{args.cores} x 1 thread": [new_model(1) for _ in range(args.cores)],
            "one x 1 thread": [new_model(1)]}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
    replies: dict[str, list[str]] = {}
    print(f"{len(requests)} requests, load average before: {os.getloadavg()[0]:.2f}")
    for round_no in range(args.rounds + 1):  # round 0 warms up on two requests and is not recorded
        order = list(arms) if round_no % 2 else list(reversed(arms))
        for name in order:
            wall, cpu, tokens, replies[name] = run_arm(arms[name], requests if round_no else requests[:2])
            if round_no:
                samples[name].append((wall, cpu))
                print(f"round {round_no} {name}: wall {wall:.2f} s, cpu {cpu:.2f} s, {tokens} tokens evaluated",
                      flush=True)
    for name, values in samples.items():
        print(f"{name}: median wall {statistics.median(w for w, _ in values):.2f} s, "
              f"median cpu {statistics.median(c for _, c in values):.2f} s")
    first, *others = replies.values()
    print("replies identical:", all(other == first for other in others))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
