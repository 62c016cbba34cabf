"""Every ```console example in docs/ runs, and prints what the page says it prints.

Each page runs in a fresh directory holding `.venv` (this virtualenv) and a copy of `models/`,
so the commands read as a user types them in a checkout. A page whose examples call
`localhost:8000` gets its own real server (gunicorn, two workers, like `make run`) over that
copy, started when the first command runs; `localhost:8000` is rewritten to its port, and
LAYERSERVE_URL points the command line at it.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.docs.console import matches, normalise, read_blocks, server_environment
from tests.integration.conftest import ROOT, ServerProcess

DOCS = ROOT / "docs"
PAGES = sorted(page for page in DOCS.glob("*.md") if read_blocks(page))
COMMAND_TIMEOUT_S = 300


def test_the_examples_are_found():
    """The fence the runner reads is the one the pages use: a renamed fence would skip them all."""
    assert len(PAGES) >= 5
    assert sum(len(read_blocks(page)) for page in PAGES) >= 20


@pytest.fixture
def workdir(tmp_path):
    os.symlink(sys.prefix, tmp_path / ".venv")
    shutil.copytree(ROOT / "models", tmp_path / "models")
    return tmp_path


@pytest.mark.integration
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_console_examples_print_what_the_page_shows(page, workdir):
    server = None
    environment = server_environment(page)
    failures = []
    try:
        for block in read_blocks(page):
            for command in block:
                if environment is not None and server is None and _needs_server(command.text):
                    settings = dict(environment)
                    workers = int(settings.pop("LAYERSERVE_WORKERS", 2))
                    server = ServerProcess(workdir / "models", workers=workers, env=settings).start()
                text = command.text
                env = {**os.environ, "PATH": f"{sys.prefix}/bin:{os.environ['PATH']}"}
                env.pop("LAYERSERVE_URL", None)
                if server is not None:
                    text = text.replace("localhost:8000", f"127.0.0.1:{server.port}")
                    env["LAYERSERVE_URL"] = server.url
                result = subprocess.run(
                    ["bash", "-c", text],
                    cwd=workdir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=COMMAND_TIMEOUT_S,
                )
                actual = result.stdout
                if server is not None:
                    actual = actual.replace(f"127.0.0.1:{server.port}", "localhost:8000")
                if not matches(command.expected, actual):
                    failures.append(
                        f"{page.name}:{command.line}: $ {command.text}\n"
                        f"--- the page shows\n{normalise(command.expected)}\n--- it printed\n{normalise(actual)}"
                    )
    finally:
        if server is not None:
            server.stop()
    assert not failures, "\n\n".join(failures)


def _needs_server(command: str) -> bool:
    return "localhost:8000" in command or "layerserve predict" in command


def test_no_answer_is_shown_outside_a_console_block():
    """A command in a ```sh block with its answer in the ```text block below is never run:
    such an example goes in a ```console block, where the tests compare the answer."""
    pair = re.compile(r"^```sh\n(.*?)^```\n\s*```text\n", re.MULTILINE | re.DOTALL)
    shown = [
        f"{page.name}: {match.group(1).splitlines()[0]}"
        for page in DOCS.glob("*.md")
        for match in pair.finditer(page.read_text(encoding="utf-8"))
    ]
    assert not shown
