"""Poll mode: a scan of the models folder reloads what changed once it has settled, in every worker."""

import os

import pytest

from service.errors import ModelUnavailable
from service.runtime.repository import ModelRepository
from service.server.reload import SharedModelState, WorkerSync
from service.server.repository_poll import RepositoryPoller

DEFINITION = "version: {version}\ninputs: [{{name: x, shape: [2]}}]\nlayers: [{{name: act, type: {layer}}}]\n"


def write(root, name: str, version: int, layer: str = "ReLU") -> None:
    """As a deployer should: a new file renamed over the old one, so no scan sees half of it."""
    (root / name).mkdir(parents=True, exist_ok=True)
    partial = root / name / ".model.yaml.new"
    partial.write_text(DEFINITION.format(version=version, layer=layer))
    partial.rename(root / name / "model.yaml")


@pytest.fixture
def poller(tmp_path):
    root = tmp_path / "models"
    write(root, "m", 1)
    repository = ModelRepository(root, max_batch_size=4)
    repository.load_all()
    repository.warm_up()
    sync = WorkerSync(repository, SharedModelState(), confirm_timeout_s=10)
    sync.start(watch=False)
    return RepositoryPoller(sync, interval_s=1)


def served_version(poller, name="m") -> str:
    return poller.sync.repository.get(name).version


def test_nothing_changed_nothing_reloaded(poller):
    assert poller.poll_once() == []
    assert served_version(poller) == "1"


def test_a_changed_model_is_reloaded_once_two_scans_see_it_the_same(poller):
    root = poller.sync.repository.root
    write(root, "m", 2)
    assert poller.poll_once() == []  # just changed: perhaps still being written
    assert served_version(poller) == "1"
    assert poller.poll_once() == ["m"]
    assert served_version(poller) == "2"
    assert poller.poll_once() == []  # applied: not loaded again


def test_a_folder_still_changing_waits(poller):
    root = poller.sync.repository.root
    write(root, "m", 2)
    poller.poll_once()
    write(root, "m", 3)
    assert poller.poll_once() == []
    assert poller.poll_once() == ["m"]
    assert served_version(poller) == "3"


def test_a_broken_change_keeps_the_old_version_serving_and_is_not_retried(poller, caplog):
    root = poller.sync.repository.root
    write(root, "m", 2, layer="Nope")
    poller.poll_once()
    assert poller.poll_once() == ["m"]
    assert served_version(poller) == "1"
    assert "model m changed on disk; load failed: unknown layer type 'Nope'" in caplog.text
    assert poller.poll_once() == []  # the same broken files are not tried again
    write(root, "m", 3)
    poller.poll_once()
    assert poller.poll_once() == ["m"]
    assert served_version(poller) == "3"


def test_a_new_folder_is_loaded_and_a_removed_one_unloaded(poller):
    root = poller.sync.repository.root
    write(root, "newcomer", 5)
    poller.poll_once()
    assert poller.poll_once() == ["newcomer"]
    assert served_version(poller, "newcomer") == "5"
    (root / "m" / "model.yaml").unlink()
    os.rmdir(root / "m")
    poller.poll_once()
    assert poller.poll_once() == ["m"]
    with pytest.raises(ModelUnavailable, match="unloaded"):
        poller.sync.repository.get("m")
