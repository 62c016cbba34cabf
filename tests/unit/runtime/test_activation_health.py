"""The activation-health counters shared by forked workers."""

import os

import torch

from service.runtime.activation_health import HealthMonitor
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


def test_a_model_each_worker_loads_itself_counts_in_the_same_file(models_dir, tmp_path):
    """A hot reload: every worker builds its own monitor for the new model, after the fork."""
    _, stack = load_stack(models_dir / "fold")
    counters = tmp_path / "health-fold.bin"
    values = stack.run(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    children = []
    for _ in range(3):
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            HealthMonitor(stack, sample_every=1, counters_file=counters).record(values, rows=3)
            os._exit(0)
        children.append(child)
    for child in children:
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    summary = HealthMonitor(stack, sample_every=1, counters_file=counters).summary(max_values=100)
    assert summary["samples"] == 9
    assert summary["forward_passes"] == 3
    (act,) = summary["layers"]
    assert act["per_neuron"] == (values["act"].numpy() == 0).mean(axis=0).tolist()


def test_without_a_counters_file_each_monitor_counts_alone(models_dir):
    _, stack = load_stack(models_dir / "fold")
    values = stack.run(torch.tensor([[1.0, 0.0]]))
    HealthMonitor(stack, sample_every=1).record(values, rows=1)
    assert HealthMonitor(stack, sample_every=1).summary(max_values=100)["samples"] == 0


def test_a_counters_file_that_cannot_be_used_leaves_the_monitor_counting_alone(models_dir, tmp_path, caplog):
    _, fold = load_stack(models_dir / "fold")
    _, sine = load_stack(models_dir / "sine")  # another layout: more neurons
    shared = tmp_path / "health-shared.bin"
    HealthMonitor(fold, sample_every=1, counters_file=shared)
    for counters_file in (shared, tmp_path / "missing" / "health.bin"):
        monitor = HealthMonitor(sine, sample_every=1, counters_file=counters_file)
        monitor.record(sine.run(torch.zeros(2, 1)), rows=2)
        assert monitor.summary(max_values=10)["samples"] == 2
    assert "another layout" in caplog.text and "No such file or directory" in caplog.text
