"""The shared model state behind hot reload: published changes, worker slots, who still lags."""

import os
import subprocess
import sys

from service.reload import SharedModelState


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
