"""The shared model state behind hot reload: published changes, worker slots, who still lags."""

import os
import subprocess
import sys

import pytest

from service.errors import DefinitionError
from service.runtime.repository import ModelRepository
from service.server.reload import ReloadNotConfirmed, SharedModelState, WorkerSync


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_published_changes_accumulate_with_their_generations():
    shared = SharedModelState()
    assert shared.desired() == (0, {})
    assert shared.publish("fold", "load") == 1
    assert shared.publish("sine", "unload") == 2
    assert shared.publish("fold", "unload") == 3
    assert shared.generation == 3
    assert shared.desired() == (
        3,
        {"fold": {"action": "unload", "generation": 3}, "sine": {"action": "unload", "generation": 2}},
    )


def test_a_load_waits_for_live_workers_that_lag_and_never_for_dead_ones():
    shared = SharedModelState()
    me = shared.register(os.getpid())
    gone = shared.register(dead_pid())
    generation = shared.publish("fold", "load")
    assert shared.lagging(generation) == [os.getpid()]
    shared.acknowledge(me, os.getpid(), generation)
    assert shared.lagging(generation) == []
    assert gone != me


def test_a_dead_workers_slot_is_reused_and_a_released_one_too():
    shared = SharedModelState()
    first = shared.register(dead_pid())
    assert shared.register(os.getpid()) == first  # its holder is gone
    shared.release(os.getpid())
    assert shared.register(os.getpid()) == first


def test_the_state_is_shared_with_forked_workers():
    shared = SharedModelState()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        slot = shared.register(os.getpid())
        shared.acknowledge(slot, os.getpid(), shared.publish("recipe", "load"))
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    assert shared.desired() == (1, {"recipe": {"action": "load", "generation": 1}})


def test_a_load_that_fails_in_another_worker_is_reported_not_confirmed(tmp_path):
    good = "inputs: [{name: x, shape: [2]}]\nlayers: [{name: act, type: ReLU}]\n"
    # Two workers of one server, each with its own view of the folder: the second reads a broken one.
    here, there = tmp_path / "here", tmp_path / "there"
    for root, text in ((here, good), (there, good)):
        (root / "m").mkdir(parents=True)
        (root / "m" / "model.yaml").write_text(text)
    shared = SharedModelState()
    workers = []
    for root in (here, there):
        repository = ModelRepository(root, max_batch_size=4)
        repository.load_all()
        repository.warm_up()
        workers.append(WorkerSync(repository, shared, confirm_timeout_s=10))
    receiving, other = workers
    receiving.start(watch=False)
    other.start(watch=True)
    (there / "m" / "model.yaml").write_text(good.replace("ReLU", "Nope"))
    with pytest.raises(ReloadNotConfirmed, match=rf"failed in workers \[{os.getpid()}\]"):
        receiving.load("m")
    assert other.repository.get("m").warmed_up  # the other worker keeps serving what it had
    with pytest.raises(DefinitionError, match=r"unknown layer type 'Nope' in layer"):
        other.repository.load("m")  # because its folder is broken
