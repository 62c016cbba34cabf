"""The rendered OpenAPI document at /docs: Swagger UI, loaded from the server alone."""

import pytest
import requests
from playwright.sync_api import expect

from .conftest import ARTIFACTS

pytestmark = pytest.mark.integration


@pytest.fixture
def docs_page(session_page, explorer_server):
    page, problems = session_page
    problems.reset()
    yield page
    found = problems.unexpected()  # includes any request to anywhere but the server
    page.goto("about:blank")
    assert not found, "the page had problems:\n" + "\n".join(found)


def test_the_docs_page_renders_every_operation_of_the_openapi_document(docs_page, explorer_server):
    paths = requests.get(f"{explorer_server}/openapi.json", timeout=5).json()["paths"]
    operations = sum(len([m for m in item if m in ("get", "post", "put", "delete")]) for item in paths.values())
    docs_page.goto(f"{explorer_server}/docs")
    blocks = docs_page.locator(".opblock")
    expect(blocks).to_have_count(operations)
    expect(docs_page.locator(".opblock-summary-path", has_text="/v2/models/{name}/infer")).to_have_count(1)
    expect(docs_page.locator(".info .title")).to_contain_text("layerserve")
    docs_page.locator(".opblock-summary-path", has_text="/v2/models/{name}/infer").click()
    expect(docs_page.locator(".opblock-body").first).to_contain_text("Inference-Header-Content-Length")
    ARTIFACTS.mkdir(exist_ok=True)
    docs_page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=False)
