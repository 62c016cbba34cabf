"""Dynamic batching: concurrent requests merge into fewer forward passes, answers unchanged to the bit."""

import gc
import threading
import time
import weakref

import numpy as np
import pytest
import torch
import yaml

from service.errors import InferenceTimeout
from service.runtime import batching
from service.runtime.served import ServedModel
from service.stack import load_stack
from service.stack.deadline import Deadline, latest

WIDTH = 256


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As each server worker runs (LAYERSERVE_TORCH_THREADS=1): with several intra-op threads,
    torch splits a product by its row count, and answers agree to float tolerance, not bitwise."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def served(tmp_path, batching: dict | None, max_batch_size=64) -> ServedModel:
    folder = tmp_path / "model"
    folder.mkdir(parents=True, exist_ok=True)
    definition = {
        "inputs": [{"name": "x", "shape": [WIDTH]}],
        "init": {"seed": 3},
        "max_batch_size": max_batch_size,
        "layers": [
            {"name": "up", "type": "Linear", "out_features": 4 * WIDTH},
            {"name": "act", "type": "GELU"},
            {"name": "down", "type": "Linear", "out_features": WIDTH},
        ],
    }
    if batching is not None:
        definition["dynamic_batching"] = batching
    (folder / "model.yaml").write_text(yaml.safe_dump(definition))
    definition, stack = load_stack(folder)
    return ServedModel(definition, stack, max_batch_size)


class CountingForward:
    """Wraps a model's forward pass to record the batch sizes it ran."""

    def __init__(self, model: ServedModel):
        self.sizes = []
        self._forward = model.batcher._forward
        model.batcher._forward = self

    def __call__(self, inputs, deadline=None):
        self.sizes.append(inputs[0].shape[0])
        return self._forward(inputs, deadline)


def run_concurrently(model: ServedModel, requests: list[np.ndarray]) -> list[np.ndarray]:
    results = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def call(index):
        with model.expecting():  # as the request path announces itself, before decoding
            barrier.wait()
            results[index] = model.infer({"x": requests[index]})["down"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def random_requests(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(1, 4)), WIDTH)).astype(np.float32) for _ in range(count)]


def test_concurrent_requests_share_forward_passes(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 200_000, "preferred_batch_size": [8]})
    counter = CountingForward(model)
    requests = random_requests(16)
    run_concurrently(model, requests)
    assert sum(counter.sizes) == sum(len(r) for r in requests)
    assert len(counter.sizes) < len(requests)


def test_each_answer_is_exactly_what_it_would_be_alone(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 50_000, "preferred_batch_size": [16]})
    requests = random_requests(24, seed=1)
    merged = run_concurrently(model, requests)
    for request, answer in zip(requests, merged, strict=True):
        alone = model.infer({"x": request})["down"]
        assert answer.shape == alone.shape
        assert np.array_equal(answer, alone)


def test_batched_answers_match_the_unbatched_model_to_float_tolerance(tmp_path):
    batched = served(tmp_path, {"max_queue_delay_microseconds": 50_000, "preferred_batch_size": [8]})
    plain = served(tmp_path / "plain", None)
    for request, answer in zip(requests := random_requests(8, seed=2), run_concurrently(batched, requests)):
        assert np.allclose(answer, plain.infer({"x": request})["down"], rtol=1e-5, atol=1e-6)


def test_a_merged_batch_never_exceeds_the_maximum(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 100_000, "preferred_batch_size": [8]}, max_batch_size=8)
    counter = CountingForward(model)
    requests = [np.ones((3, WIDTH), np.float32) for _ in range(12)]
    run_concurrently(model, requests)
    assert max(counter.sizes) <= 8
    assert sum(counter.sizes) == 36


def test_a_failing_forward_fails_every_request_in_it_and_the_batcher_lives_on(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 0})
    healthy = model.batcher._forward

    def broken(inputs, deadline=None):
        raise RuntimeError("boom")

    model.batcher._forward = broken
    with pytest.raises(RuntimeError, match="boom"):
        model.infer({"x": np.ones((1, WIDTH), np.float32)})
    model.batcher._forward = healthy
    assert model.infer({"x": np.ones((1, WIDTH), np.float32)})["down"].shape == (1, WIDTH)


def test_preferred_sizes_beyond_the_maximum_are_refused(tmp_path):
    from service.errors import DefinitionError

    with pytest.raises(
        DefinitionError, match=r"dynamic_batching.preferred_batch_size: \[128\] exceed max_batch_size 64"
    ):
        served(tmp_path, {"preferred_batch_size": [128]})


def test_a_lone_request_does_not_wait_out_the_queue_delay(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 1_000_000, "preferred_batch_size": [16]})
    model.warm_up()
    started = time.monotonic()
    with model.expecting():
        model.infer({"x": np.ones((1, WIDTH), np.float32)})
    # nobody else is in flight, so the batcher runs at once instead of waiting the full second
    assert time.monotonic() - started < 0.5


def test_a_request_that_leaves_before_queueing_does_not_hold_the_batch(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 1_000_000, "preferred_batch_size": [16]})
    model.warm_up()
    arrived = threading.Event()

    def request_that_fails_to_decode():
        with model.expecting():
            arrived.set()
            time.sleep(0.1)

    other = threading.Thread(target=request_that_fails_to_decode)
    other.start()
    arrived.wait()
    started = time.monotonic()
    with model.expecting():
        model.infer({"x": np.ones((1, WIDTH), np.float32)})
    other.join()
    # the batcher waits while the other request is in flight, then stops once it has left
    assert time.monotonic() - started < 0.6


@pytest.mark.parametrize("batching", [None, {"max_queue_delay_microseconds": 0}], ids=["alone", "batched"])
def test_a_pass_out_of_time_stops_before_its_next_layer(tmp_path, batching):
    model = served(tmp_path, batching)
    x = {"x": np.ones((2, WIDTH), np.float32)}
    with pytest.raises(InferenceTimeout, match="limit of 0.5 s .* before layer 'up'") as caught:
        model.infer(x, Deadline(0.5, time.monotonic() - 1.0))
    assert caught.value.status == 504
    assert model.infer(x, Deadline.after(60.0))["down"].shape == (2, WIDTH)


def test_a_merged_batch_is_out_of_time_only_when_every_request_in_it_is():
    past, soon, later = Deadline(1.0, 10.0), Deadline(1.0, 20.0), Deadline(1.0, 30.0)
    assert latest([past, later, soon]) is later
    assert latest([past, None]) is None


def test_an_idle_batcher_thread_exits_and_lets_its_model_go(tmp_path, monkeypatch):
    monkeypatch.setattr(batching, "IDLE_EXIT_S", 0.05)
    model = served(tmp_path, {"max_queue_delay_microseconds": 100})
    x = np.ones((1, WIDTH), np.float32)
    first = model.infer({"x": x})["down"]
    deadline = time.monotonic() + 10
    while model.batcher._thread is not None:
        assert time.monotonic() < deadline, "the idle batcher thread did not exit"
        time.sleep(0.01)
    assert np.array_equal(model.infer({"x": x})["down"], first)  # a new thread takes the next request
    while model.batcher._thread is not None:
        assert time.monotonic() < deadline, "the idle batcher thread did not exit"
        time.sleep(0.01)
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None, "something still holds the model (a batcher thread?)"


def test_requests_submitted_from_one_thread_merge_and_each_gets_its_own_rows(tmp_path):
    """infer_later: no thread waits per request, so one thread can queue a whole batch."""
    model = served(tmp_path, {"max_queue_delay_microseconds": 200_000, "preferred_batch_size": [64]})
    counter = CountingForward(model)
    requests = random_requests(12, seed=2)
    answers, finished = {}, threading.Event()

    def done_for(index):
        def done(results, error):
            answers[index] = error if error is not None else results["down"]
            model.leave(queued=True)
            if len(answers) == len(requests):
                finished.set()

        return done

    for _ in requests:
        model.arrive()
    for index, request in enumerate(requests):
        model.infer_later({"x": request}, None, done_for(index))
    assert finished.wait(30)
    assert len(counter.sizes) < len(requests)  # merged, though a single thread sent them all
    for index, request in enumerate(requests):
        np.testing.assert_array_equal(answers[index], model.infer({"x": request})["down"])


def test_a_failing_batch_hands_its_error_to_every_later_answer(tmp_path):
    model = served(tmp_path, {"max_queue_delay_microseconds": 1000, "preferred_batch_size": [4]})

    def broken(inputs, deadline=None):
        raise RuntimeError("boom")

    model.batcher._forward = broken
    got = []
    done = threading.Event()
    model.arrive()
    model.infer_later(
        {"x": random_requests(1)[0]}, None, lambda results, error: (got.append((results, error)), done.set())
    )
    assert done.wait(10)
    model.leave(queued=True)
    assert got[0][0] is None and str(got[0][1]) == "boom"
