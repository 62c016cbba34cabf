"""Shared fixtures: where the bundled example models live."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return ROOT / "models"
