"""Bounded work per model: a load runs under a time limit, a request under a budget of values."""

import threading
import time

import numpy as np
import pytest

from service.errors import DefinitionError, OutOfMemory, RequestTooLarge, allocation_failure
from service.runtime.repository import ModelRepository
from service.runtime.served import ServedModel
from service.stack import load_stack
from service.stack.limits import ModelLimits

GROWING = "inputs: [{name: x, shape: [1, 4]}]\nlayers:\n  - {name: grow, type: AdaptiveAvgPool1d, output_size: 1000}\n"
# twenty layers of 4 million seeded parameters: seconds to draw, each a step where a load can stop
SLOW = "inputs: [{name: x, shape: [2000]}]\ninit: {seed: 0}\nlayers:\n" + "".join(
    f"  - {{name: fc{i}, type: Linear, out_features: 2000}}\n" for i in range(20)
)
FOLD = "inputs: [{name: x, shape: [2]}]\nlayers: [{name: act, type: ReLU}]\n"


def folder_with(tmp_path, name: str, text: str):
    (tmp_path / name).mkdir(parents=True)
    (tmp_path / name / "model.yaml").write_text(text)
    return tmp_path / name


def served(folder, limits: ModelLimits) -> ServedModel:
    definition, stack = load_stack(folder, limits)
    return ServedModel(definition, stack, max_batch_size=1024, limits=limits)


def test_a_batch_over_the_request_budget_is_refused_with_the_largest_that_fits(tmp_path):
    model = served(folder_with(tmp_path, "grow", GROWING), ModelLimits(max_request_values=10_040))
    assert model.largest_batch == 10  # 1,004 values a sample
    model.check_budgets(10)
    with pytest.raises(RequestTooLarge) as caught:
        model.infer({"x": np.zeros((11, 1, 4), np.float32)})
    assert caught.value.status == 413
    assert caught.value.message == (
        "a batch of 11 for model 'grow' needs 11,044 tensor values in its layers, over the limit of 10,040 a "
        "request may make (LAYERSERVE_MAX_REQUEST_VALUES); the largest batch that fits is 10"
    )


def test_a_batch_over_the_answer_budget_is_refused_with_the_largest_that_fits(tmp_path):
    model = served(folder_with(tmp_path, "grow", GROWING), ModelLimits(max_answer_values=3_500))
    assert model.largest_batch == 3
    with pytest.raises(RequestTooLarge, match="needs 4,000 output values in its answer, over the limit of 3,500"):
        model.infer({"x": np.zeros((4, 1, 4), np.float32)})
    assert model.infer({"x": np.ones((3, 1, 4), np.float32)})["grow"].shape == (3, 1, 1000)


def test_a_load_past_its_time_limit_is_abandoned_and_stops_itself(tmp_path):
    folder_with(tmp_path, "slow", SLOW)
    folder_with(tmp_path, "fold", FOLD)
    repository = ModelRepository(tmp_path, max_batch_size=8, load_timeout=0.2)
    repository.load_all()
    slow = repository.entry("slow").listing()
    assert slow["state"] == "UNAVAILABLE"
    assert "ran past the time limit of 0.2 s (LAYERSERVE_LOAD_TIMEOUT) and was abandoned" in slow["reason"]
    assert repository.entry("fold").model is not None
    deadline = time.monotonic() + 30
    while any(thread.name == "load-slow" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the abandoned load kept running"
        time.sleep(0.05)


def test_a_load_within_its_time_limit_serves(tmp_path):
    folder_with(tmp_path, "fold", FOLD)
    repository = ModelRepository(tmp_path, max_batch_size=8, load_timeout=30)
    repository.load_all()
    repository.warm_up()
    assert repository.get("fold").infer({"x": np.array([[-1.0, 2.0]], np.float32)})["act"].tolist() == [[0.0, 2.0]]


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (MemoryError("Unable to allocate 38.1 GiB for an array with shape (1024, 10000000)"), "38.1 GiB"),
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                "you tried to allocate 40960000000 bytes."
            ),
            "DefaultCPUAllocator: not enough memory: you tried to allocate 40960000000 bytes.",
        ),
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                "tried to allocate 40960000000 bytes. Error code 12 (Cannot allocate memory)"
            ),
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 40960000000 bytes. Error code 12 "
            "(Cannot allocate memory)",
        ),
    ],
)
def test_allocation_failures_become_a_503_that_says_what_was_asked(error, detail):
    answer = allocation_failure(error)
    assert isinstance(answer, OutOfMemory)
    assert answer.status == 503
    assert answer.message == f"the server is short of memory now: {error if detail == '38.1 GiB' else detail}"


def test_other_errors_are_no_allocation_failure():
    assert allocation_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert allocation_failure(ValueError("DefaultCPUAllocator: not enough memory")) is None


WIDE = "inputs: [{name: x, shape: [1000]}]\ninit: {seed: 0}\nlayers: [{name: fc, type: Linear, out_features: 1000}]\n"


def test_a_batch_over_the_work_budget_is_refused_and_a_sample_over_it_at_load(tmp_path):
    folder = folder_with(tmp_path, "wide", WIDE)  # 1,000,000 multiply-adds a sample
    model = served(folder, ModelLimits(max_request_macs=10_000_000))
    assert model.largest_batch == 10
    with pytest.raises(RequestTooLarge, match="needs 11,000,000 multiply-adds, .*LAYERSERVE_MAX_REQUEST_MACS.* is 10$"):
        model.check_budgets(11)
    with pytest.raises(
        DefinitionError, match="one sample needs 1,000,000 multiply-adds up to this layer, over the lim"
    ):
        load_stack(folder, ModelLimits(max_request_macs=999_999))
