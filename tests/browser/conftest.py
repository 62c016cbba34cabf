"""Browser tests: the explorer page in Debian's headless Chromium, against a real gunicorn server.

One server for the session, started by the integration tests' machinery (the container's own
command on a free port), over the example models plus one that fails to load. One browser
page for the session too; each test gets it fresh from about:blank, and everything that goes
wrong on it fails the test at teardown: a console error, an uncaught exception, a failed
request, an HTTP error the test did not provoke, a request to anywhere but the server.
"""

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response, sync_playwright

from tests.integration.conftest import ROOT, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (make system-deps), not a Playwright download
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE_MODELS = sorted(folder.name for folder in (ROOT / "models").iterdir() if (folder / "model.yaml").is_file())
VIEW_TIMEOUT_MS = 15_000

# A model that fails to load, served beside the examples: fc2 expects 5 features, fc1 gives 4.
BROKEN_MODEL = "broken"
BROKEN_YAML = (
    "inputs: [{name: x, shape: [3]}]\n"
    "init: {seed: 0}\n"
    "layers:\n"
    "  - {name: fc1, type: Linear, in_features: 3, out_features: 4}\n"
    "  - {name: fc2, type: Linear, in_features: 5, out_features: 1}\n"
)
BROKEN_REASON = (
    "layer 'fc2' (#1, Linear) expects 5 features in the last dimension, but layer 'fc1' gives per-sample shape [4]"
)


class PageProblems:
    """Everything that went wrong on the page since reset(), minus the HTTP errors a test expects."""

    def __init__(self, page: Page, origin: str):
        self.origin = origin
        self.reset()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._request_failed)
        page.on("request", self._request)
        page.on("response", self._response)

    def reset(self) -> None:
        self.expected: list[tuple[int, str]] = []
        self.console: list[ConsoleMessage] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []
        self.http_errors: list[tuple[int, str]] = []
        self.elsewhere: list[str] = []

    def expect_http_error(self, status: int, path_end: str) -> None:
        """The test provokes this error response (and Chromium's console line about it)."""
        self.expected.append((status, path_end))

    def _is_expected(self, status: int | None, url: str) -> bool:
        path = urlsplit(url).path
        return any((status is None or status == want) and path.endswith(end) for want, end in self.expected)

    def _console(self, message: ConsoleMessage):
        if message.type == "error":
            self.console.append(message)

    def _request(self, request: Request):
        if not request.url.startswith((self.origin + "/", "about:blank")):
            self.elsewhere.append(request.url)

    def _request_failed(self, request: Request):
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response: Response):
        if response.status >= 400 and not self._is_expected(response.status, response.url):
            self.http_errors.append((response.status, response.url))

    def unexpected(self) -> list[str]:
        console = [
            f"console error: {message.text} ({message.location.get('url')})"
            for message in self.console
            if not (
                message.text.startswith("Failed to load resource")
                and self._is_expected(None, message.location.get("url", ""))
            )
        ]
        return [
            *console,
            *(f"uncaught: {error}" for error in self.page_errors),
            *(f"request failed: {failure}" for failure in self.failed),
            *(f"HTTP {status}: {url}" for status, url in self.http_errors),
            *(f"request outside the server: {url}" for url in self.elsewhere),
        ]


class Explorer:
    """The explorer page of the session's server."""

    def __init__(self, page: Page, base_url: str, problems: PageProblems):
        self.page = page
        self.base_url = base_url
        self.problems = problems

    def open(self, model: str | None = None) -> Page:
        """Load the page afresh (the list, or one model's view); wait until everything on it is drawn."""
        self.page.goto("about:blank")  # a new document even if only the #fragment changes
        self.page.goto(f"{self.base_url}/explorer/" + (f"#/models/{model}" if model else ""))
        view = self.page.locator(f'main#view[data-model="{model or ""}"]:not([data-status="loading"])')
        view.wait_for()
        assert view.get_attribute("data-status") == "ready", view.inner_text()
        return self.page

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"explorer-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def explorer_server(tmp_path_factory):
    """The example models and a broken one, served like the container serves them."""
    models = tmp_path_factory.mktemp("explorer") / "models"
    shutil.copytree(ROOT / "models", models)
    (models / BROKEN_MODEL).mkdir()
    (models / BROKEN_MODEL / "model.yaml").write_text(BROKEN_YAML)
    server = ServerProcess(models).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def session_page(explorer_server):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make system-deps)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(VIEW_TIMEOUT_MS)
        page = context.new_page()
        yield page, PageProblems(page, explorer_server)
        browser.close()  # before the server stops: no open connection holds up its exit


@pytest.fixture
def explorer(session_page, explorer_server) -> Explorer:
    page, problems = session_page
    problems.reset()
    yield Explorer(page, explorer_server, problems)
    found = problems.unexpected()
    page.goto("about:blank")
    assert not found, "the page had problems:\n" + "\n".join(found)
