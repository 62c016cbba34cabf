"""Forward-only speed: each case's forward pass in one process on one torch thread, no HTTP.

Run as `python -m bench.forward CASE_ID...`; prints {case id: forwards per second} as JSON.
"""

import json
import statistics
import sys
import time

import torch

from service.stack import load_stack

from .cases import CASES, MODELS_DIR, Case

WARM_UP_S = 0.2
MEASURE_S = 1.0
ROUNDS = 3  # the median of a few rounds: a shared machine's hiccups hit single rounds


def forwards_per_second(case: Case) -> float:
    _, stack = load_stack(MODELS_DIR / case.model)
    inputs = torch.from_numpy(case.inputs())
    with torch.inference_mode():
        _run_for(stack, inputs, WARM_UP_S)
        rates = [count / elapsed for count, elapsed in (_run_for(stack, inputs, MEASURE_S) for _ in range(ROUNDS))]
    return statistics.median(rates)


def _run_for(stack, inputs: torch.Tensor, seconds: float) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        stack(inputs)
        count += 1
    return count, elapsed


def main(case_ids: list[str]) -> None:
    torch.set_num_threads(1)
    by_id = {case.id: case for case in CASES}
    print(json.dumps({case_id: forwards_per_second(by_id[case_id]) for case_id in case_ids}))


if __name__ == "__main__":
    main(sys.argv[1:])
