"""Poll mode under real gunicorn: a model folder changed on disk is served by every worker, with no
request to the server; when the polling worker dies, another one polls."""

import os
import re
import signal
import time

import pytest

from ..api.helpers import write_models
from .test_hot_reload import SCALED, ask_every_worker, first_output, worker_pids

pytestmark = pytest.mark.integration

POLL_S = 0.2
CHANGE_DEADLINE_S = 30.0


def replace_scaled(models, factor: float, version: int) -> None:
    """A new definition renamed over the old one: no scan sees it half-written."""
    partial = models / "scaled" / ".model.yaml.new"
    partial.write_text(SCALED.format(factor=factor, version=version))
    partial.rename(models / "scaled" / "model.yaml")


def wait_until_every_worker_serves(server, factor: float, label: str) -> None:
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    for attempt in range(1_000_000):
        try:
            responses = ask_every_worker(server, f"{label}-{attempt}", worker_pids(server))
        except AssertionError:
            # a worker busy applying the change (or just started) left every connection to its
            # sibling this time; it is asked again until the deadline
            if time.monotonic() > deadline:
                raise
            continue
        outputs = {first_output(r) for r in responses}
        if outputs == {factor}:
            return
        assert time.monotonic() < deadline, f"after {CHANGE_DEADLINE_S:g} s the workers still serve {outputs}"
        time.sleep(POLL_S)


def polling_workers(server) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker (\d+) polls the models folder", server.log())]


@pytest.fixture
def polled(start_server, tmp_path):
    models = write_models(tmp_path / "models", {"fold": None})
    (models / "scaled").mkdir()
    replace_scaled(models, 2.0, 1)
    server = start_server(models, workers=2, env={"LAYERSERVE_REPOSITORY_POLL_S": str(POLL_S)})
    return models, server


def test_a_changed_folder_reaches_every_worker_without_a_request(polled):
    models, server = polled
    assert {first_output(r) for r in ask_every_worker(server, "before", worker_pids(server))} == {2.0}
    replace_scaled(models, 3.0, 2)
    wait_until_every_worker_serves(server, 3.0, "after")
    assert len(polling_workers(server)) == 1  # one worker polls; the others follow its loads


def test_another_worker_polls_when_the_polling_one_dies(polled):
    models, server = polled
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    while not polling_workers(server):
        assert time.monotonic() < deadline, "no worker started polling"
        time.sleep(0.05)
    (poller,) = polling_workers(server)
    os.kill(poller, signal.SIGKILL)
    while len(polling_workers(server)) < 2:
        assert time.monotonic() < deadline, "no other worker took over the polling"
        time.sleep(0.05)
    assert polling_workers(server)[-1] != poller
    while not server.every_worker_warm():  # the killed worker's replacement, before it is asked
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.05)
    replace_scaled(models, 4.0, 2)
    wait_until_every_worker_serves(server, 4.0, "after-takeover")
