"""The activation-health counters shared by forked workers."""

import os

import torch

from service.health_monitor import HealthMonitor
from service.stack import load_stack


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
