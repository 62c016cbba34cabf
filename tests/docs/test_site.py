"""The documentation site builds with --strict: a broken link or anchor, or a table its
generator cannot make from the code, fails here as it fails `make docs`."""

import subprocess
import sys

from tests.integration.conftest import ROOT


def test_the_site_builds_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    reference = (tmp_path / "site" / "writing-a-model" / "index.html").read_text(encoding="utf-8")
    from service.stack.layers import LAYER_TYPES

    assert all(f"<code>{name}</code>" in reference for name in LAYER_TYPES)  # generated from the registry
    settings = (tmp_path / "site" / "operating" / "index.html").read_text(encoding="utf-8")
    assert "<code>LAYERSERVE_ACTIVE_REQUESTS</code>" in settings
