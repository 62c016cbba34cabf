"""The explorer on a server that asks for an inference token: the page asks for it once, sends
it with every request, and a refused token leaves the server's own message on the page."""

import shutil

import pytest
from playwright.sync_api import expect

from tests.integration.conftest import ROOT, ServerProcess

from .conftest import VIEW_TIMEOUT_MS

pytestmark = pytest.mark.integration

TOKEN = "explorer-token"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    models = tmp_path_factory.mktemp("token") / "models"
    shutil.copytree(ROOT / "models" / "fold", models / "fold")
    server = ServerProcess(models, workers=1, env={"LAYERSERVE_INFER_TOKEN": TOKEN}).start()
    yield server.url
    server.stop()


@pytest.fixture
def page(session_page):
    """A page of its own (its own session storage) in the session's browser."""
    context = session_page[0].context.browser.new_context()
    context.set_default_timeout(VIEW_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def open_fold(page, server_url: str, answer: str | None) -> list[str]:
    """Open fold's view answering the page's questions with `answer` (None: cancel); what it asked."""
    asked = []

    def reply(dialog):
        asked.append(dialog.message)
        dialog.accept(answer) if answer is not None else dialog.dismiss()

    page.on("dialog", reply)
    page.goto(f"{server_url}/explorer/#/models/fold")
    page.locator('main#view[data-model="fold"]:not([data-status="loading"])').wait_for()
    return asked


def test_the_page_asks_once_for_the_token_and_traces_with_it(page, server_url):
    sent = []
    page.on("request", lambda request: sent.append(request.headers.get("authorization")))
    asked = open_fold(page, server_url, TOKEN)
    page.locator('.trace-place[data-status="ready"]').wait_for()
    expect(page.locator('[data-trace-layer="linear"] [data-step="product"]')).to_contain_text("x·Wᵀ")
    assert len(asked) == 1 and "LAYERSERVE_INFER_TOKEN" in asked[0]
    assert f"Bearer {TOKEN}" in sent


def test_without_the_token_the_page_shows_the_servers_refusal(page, server_url):
    asked = open_fold(page, server_url, None)
    assert asked
    expect(page.locator("main#view")).to_contain_text("inference needs a bearer token")
