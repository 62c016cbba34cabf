"""Shared fixtures: where the bundled example models live."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return ROOT / "models"


def pytest_collection_modifyitems(items):
    """Every test under integration/ or browser/ starts real processes: mark it so, in one place,
    so that `make test-fast` (`-m "not integration"`) never starts a server."""
    for item in items:
        folder = Path(item.path).relative_to(ROOT / "tests").parts[0]
        if folder in ("integration", "browser"):
            item.add_marker(pytest.mark.integration)
        if folder == "browser":
            item.add_marker(pytest.mark.browser)
