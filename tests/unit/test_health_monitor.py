"""The activation-health counters shared by forked workers, and the lock that guards them."""

import os
import signal
import threading
import time

import torch

from service.health_monitor import HealthMonitor, ProcessSharedLock
from service.stack import load_stack


def test_a_process_killed_while_holding_the_lock_does_not_block_the_others():
    lock = ProcessSharedLock()
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        with lock.held():
            os.write(ready_write, b"x")
            time.sleep(60)
        os._exit(0)
    os.read(ready_read, 1)
    acquired = threading.Event()

    def take():
        with lock.held():
            acquired.set()

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    assert not acquired.wait(0.3), "the lock held by the child must exclude this process"
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    assert acquired.wait(5), "the lock of a killed holder must be released"


def test_threads_of_one_process_exclude_each_other():
    lock = ProcessSharedLock()
    inside, most = [0], [0]

    def work():
        for _ in range(200):
            with lock.held():
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_workers_forked_after_load_add_to_the_same_counters(models_dir):
    _, stack = load_stack(models_dir / "fold")
    monitor = HealthMonitor(stack, sample_every=1)
    values = stack.run(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    children = []
    for _ in range(3):
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            monitor.record(values, rows=3)
            os._exit(0)
        children.append(child)
    for child in children:
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    summary = monitor.summary(max_values=100)
    assert summary["samples"] == 9
    assert summary["forward_passes"] == 3
    (act,) = summary["layers"]
    zero = values["act"].numpy() == 0
    assert act["per_neuron"] == zero.mean(axis=0).tolist()
    assert act["dead"] == int(zero.all(axis=0).sum())
