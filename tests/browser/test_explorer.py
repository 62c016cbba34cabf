"""The explorer page: the model list, a model's diagram and layer table, the try-it form, the trace."""

import pytest
import requests
from playwright.sync_api import expect

from .conftest import BROKEN_MODEL, BROKEN_REASON, EXAMPLE_MODELS

pytestmark = pytest.mark.integration


def cell_texts(page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def run_with(page, input_name: str, text: str) -> None:
    page.locator(f'textarea[data-input="{input_name}"]').fill(text)
    page.locator('button[data-action="run"]').click()


def test_the_front_page_redirects_to_the_explorer_which_loads_only_from_the_server(explorer_server):
    front = requests.get(f"{explorer_server}/", allow_redirects=False, timeout=5)
    assert front.status_code == 302
    assert front.headers["Location"].endswith("/explorer/")
    page = requests.get(f"{explorer_server}/explorer/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    script = requests.get(f"{explorer_server}/explorer/static/app.js", timeout=5)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]


def test_the_model_list_shows_every_example_model_ready_and_the_broken_one_with_its_error(explorer):
    page = explorer.open()
    listed = page.locator("#model-list li")
    expect(listed).to_have_count(len(EXAMPLE_MODELS) + 1)
    states = {item.get_attribute("data-model"): item.get_attribute("data-state") for item in listed.all()}
    assert states == {**dict.fromkeys(EXAMPLE_MODELS, "READY"), BROKEN_MODEL: "UNAVAILABLE"}
    expect(page.locator(f'[data-reason="{BROKEN_MODEL}"]')).to_contain_text(BROKEN_REASON)
    overview = page.locator("table.overview tbody tr")
    expect(overview).to_have_count(len(EXAMPLE_MODELS) + 1)
    expect(page.locator(f'table.overview tr[data-model="{BROKEN_MODEL}"] .reason')).to_contain_text(BROKEN_REASON)


def test_a_broken_models_view_shows_its_load_error(explorer):
    page = explorer.open(BROKEN_MODEL)
    expect(page.locator('main#view h1 [data-state="UNAVAILABLE"]')).to_be_visible()
    expect(page.locator('[data-error="load"]')).to_contain_text(BROKEN_REASON)
    assert explorer.screenshot(BROKEN_MODEL).stat().st_size > 10_000


def test_the_dense_form_runs_the_model(explorer):
    page = explorer.open("dense")
    expect(page.locator('textarea[data-input="point"]')).to_have_value("[[0.5, 1]]")
    outputs = page.locator('[data-output="activation1"] tbody td.num')

    run_with(page, "point", "[[-1, 0]]")
    expect(outputs).to_have_text(["1.8", "2.2", "1"])
    run_with(page, "point", "[[0.5, 1.0]]")
    expect(outputs).to_have_text(["1.2", "3.6", "0.65"])


def test_the_fold_form_returns_the_three_folded_rows(explorer):
    page = explorer.open("fold")
    run_with(page, "x", "[[1, 0], [0, 1], [1, 1]]")
    expect(page.locator('[data-output="act"] tbody tr')).to_have_count(3)
    expect(page.locator('[data-output="act"] tbody td.num')).to_have_text(["1", "0", "0.5", "1", "1.5", "0.5"])


def test_the_form_shows_the_servers_error_message(explorer):
    page = explorer.open("dense")
    explorer.problems.expect_http_error(400, "/infer")
    explorer.problems.expect_http_error(400, "/trace")

    run_with(page, "point", "[[0.5, 1.0, 2.0]]")
    expect(page.locator('[data-error="infer"]')).to_contain_text(
        "input 'point': expected shape [-1, 2] (batch first), got [1, 3]"
    )
    expect(page.locator('[data-error="trace"]')).to_contain_text("expected shape [-1, 2]")

    run_with(page, "point", "[[0.5, 1.0]")
    expect(page.locator('[data-error="input"]')).to_contain_text("input 'point': not JSON")


def test_the_dense_trace_shows_product_bias_and_output(explorer):
    page = explorer.open("dense")
    dense = page.locator('[data-trace-layer="dense1"]')
    expect(dense.locator('[data-step="product"] td.num')).to_have_text(["-0.8", "0.6", "0.15"])
    expect(dense.locator('[data-step="bias"] td.num')).to_have_text(["2", "3", "0.5"])
    expect(dense.locator('[data-step="output"] td.num')).to_have_text(["1.2", "3.6", "0.65"])
    relu = page.locator('[data-trace-layer="activation1"]')
    expect(relu).to_have_attribute("data-layer-type", "ReLU")
    expect(relu.locator('[data-trace-output="activation1"] td.num')).to_have_text(["1.2", "3.6", "0.65"])
    expect(relu.locator('[data-stat="max"]')).to_contain_text("3.6")


def test_the_layer_table_lists_parameters_bytes_and_macs(explorer):
    page = explorer.open("dense")
    dense = page.locator('table.layers tr[data-layer="dense1"]')
    expect(dense).to_contain_text("Dense")
    expect(dense).to_contain_text("in_features=2")
    expect(dense).to_contain_text("[B, 2]")
    expect(dense.locator('[data-column="parameters"]')).to_contain_text("9")
    expect(dense.locator('[data-column="bytes"]')).to_have_text("36 B")
    expect(dense.locator('[data-column="macs"]')).to_have_text("6")
    expect(page.locator("table.layers tbody tr")).to_have_count(2)


def test_the_matcher_diagram_draws_both_inputs_into_the_bilinear_box(explorer):
    page = explorer.open("matcher")
    diagram = page.locator('svg[data-diagram="matcher"]')
    bilinear = diagram.locator('g[data-node="bilinear"]')
    expect(bilinear).to_have_attribute("data-node-type", "Bilinear")
    arrows = diagram.locator('path.edge[data-edge-to="bilinear"]')
    expect(arrows).to_have_count(2)
    assert sorted(arrow.get_attribute("data-edge-from") for arrow in arrows.all()) == ["x1", "x2"]
    # where each arrow ends, and the box's edges, in page pixels
    ends = arrows.evaluate_all(
        """arrows => arrows.map(arrow => {
            const end = arrow.getPointAtLength(arrow.getTotalLength()).matrixTransform(arrow.getScreenCTM());
            return [end.x, end.y];
        })"""
    )
    box = bilinear.locator("rect").bounding_box()
    for x, y in ends:
        assert box["x"] - 4 <= x <= box["x"] and box["y"] < y < box["y"] + box["height"]
    assert abs(ends[0][1] - ends[1][1]) > 10  # two arrowheads, not one on top of the other
    for source in ("x1", "x2"):
        expect(diagram.locator(f'g[data-node="{source}"][data-node-kind="input"]')).to_be_visible()


@pytest.mark.parametrize("model", [None, *EXAMPLE_MODELS], ids=lambda model: model or "list")
def test_every_view_loads_cleanly_and_is_saved_as_a_screenshot(explorer, model):
    page = explorer.open(model)
    if model:
        expect(page.locator("main#view h1")).to_contain_text(model)
        expect(page.locator("[data-trace-model] [data-trace-layer]").first).to_be_visible()
    path = explorer.screenshot(model or "list")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000


def test_the_model_list_is_sorted_whatever_order_the_server_sends(explorer):
    """A hot-loaded model comes last in the server's list; the page sorts by name."""
    page = explorer.page

    def reversed_models(route):
        response = route.fetch()
        document = response.json()
        document["models"].reverse()
        route.fulfill(response=response, json=document)

    page.route("**/v2/models", reversed_models)
    try:
        explorer.open()
        listed = page.locator("#model-list li[data-model]").evaluate_all("items => items.map(i => i.dataset.model)")
        assert listed == sorted([*EXAMPLE_MODELS, BROKEN_MODEL])
        rows = page.locator("table.overview tr[data-model]").evaluate_all("rows => rows.map(r => r.dataset.model)")
        assert rows == listed
    finally:
        page.unroute("**/v2/models")


def test_a_long_stack_wraps_into_bands_that_fit_the_panel(explorer):
    page = explorer.open("classifier")
    diagram = page.locator('svg[data-diagram="classifier"]')
    assert int(diagram.get_attribute("data-bands")) > 1
    panel = page.locator("section#stack").bounding_box()
    for node in diagram.locator("g[data-node]").all():
        box = node.locator("rect").bounding_box()
        assert panel["x"] < box["x"] and box["x"] + box["width"] < panel["x"] + panel["width"], node.get_attribute(
            "data-node"
        )
    scroll = page.locator("section#stack .diagram-scroll")
    assert scroll.evaluate("element => element.scrollWidth <= element.clientWidth")
    # the arrow from the end of one band reaches the first box of the next
    last_of_first_band = diagram.locator('g[data-band="0"]').last.get_attribute("data-node")
    expect(diagram.locator(f'path.edge[data-edge-from="{last_of_first_band}"]')).to_have_count(1)


def test_sizes_stay_on_one_line(explorer):
    page = explorer.open("classifier")
    cell = page.locator('table.layers tr[data-layer="fc1"] [data-column="bytes"]')
    expect(cell).to_have_text("392.5 KiB")
    lines = cell.evaluate(
        """cell => { const range = document.createRange(); range.selectNodeContents(cell);
                     return new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size; }"""
    )
    assert lines == 1
