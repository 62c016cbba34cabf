"""API test fixtures in the style of Flask's tutorial: an app from the factory, and its test client.

`app`/`client` serve the bundled example models, built once per session for speed; `model_folders`
and `make_app` give a test its own models directory under tmp_path.
"""

import os
from pathlib import Path

import pytest

from .helpers import MODELS, app_over, write_models


@pytest.fixture(scope="session", autouse=True)
def clean_environment():
    """LAYERSERVE_* variables of the shell running pytest must not leak into the apps under test."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in [v for v in os.environ if v.startswith("LAYERSERVE_")]:
            patch.delenv(variable)
        yield


@pytest.fixture(scope="session")
def app():
    return app_over(MODELS)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def model_folders(tmp_path):
    """model_folders(fold=None, mine="<yaml>") → a models directory holding those folders."""

    def make(**folders) -> Path:
        return write_models(tmp_path / "models", folders)

    return make


@pytest.fixture
def make_app(model_folders):
    """make_app({"fold": None, ...}, MAX_BODY_BYTES=...) → an app over its own models directory."""

    def make(folders: dict, **config):
        return app_over(model_folders(**folders), **config)

    return make
