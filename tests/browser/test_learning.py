"""The explorer as a learner uses it: weights as the lessons draw them, sums written out term by
term, the tents of sine, the seed's point on dense's grid, and the what-if panel."""

import re

import pytest
import torch
from playwright.sync_api import expect

pytestmark = pytest.mark.integration


def positions(page, plot: str) -> list[list[str]]:
    points = page.locator(f'svg[data-plot="{plot}"] circle[data-point]')
    expect(points).to_have_count(121)
    return points.evaluate_all("points => points.map(p => [p.getAttribute('cx'), p.getAttribute('cy')])")


def wait_redrawn(page) -> None:
    page.locator('.trace-place[data-status="ready"]').wait_for()
    page.locator('.pictures-place[data-status="ready"]').wait_for()


def test_dense_writes_each_neurons_sum_term_by_term(explorer):
    page = explorer.open("dense")
    sums = page.locator('[data-sums="dense1"][data-sample="0"] li')
    expect(sums).to_have_count(3)
    expect(sums.nth(0)).to_contain_text("0.5·0.2 + 1.0·(−0.9) = −0.8")
    expect(sums.nth(1)).to_contain_text("0.5·0.8 + 1.0·0.2 = 0.6")
    expect(sums.nth(2)).to_contain_text("0.5·(−0.5) + 1.0·0.4 = 0.15")
    expect(page.locator('[data-trace-layer="dense1"] [data-step="terms"]')).to_contain_text("xᵢ·Wᵢⱼ")
    expect(page.locator('[data-trace-layer="dense1"] [data-step="product"]')).to_contain_text("x·W")


def test_weights_are_drawn_inputs_by_neurons_for_dense_and_neurons_by_inputs_for_linear(explorer):
    page = explorer.open("dense")
    table = page.locator('[data-weights="dense1"]')
    expect(table).to_have_attribute("data-layout", "inputs × neurons")
    expect(table.locator("thead th")).to_have_text(["W", "neuron 0", "neuron 1", "neuron 2"])
    first_row = table.locator("tbody tr").first.locator("input")
    assert [cell.input_value() for cell in first_row.all()] == ["0.2", "0.8", "-0.5"]
    expect(table.locator("tr.bias-row input")).to_have_count(3)
    page = explorer.open("recipe")
    table = page.locator('[data-weights="linear"]')
    expect(table).to_have_attribute("data-layout", "neurons × inputs")
    expect(table.locator("thead th")).to_have_text(["W", "input 0", "input 1", "input 2", "bias"])
    expect(table.locator("tbody tr")).to_have_count(2)


def test_the_seeds_point_is_marked_on_denses_grid_with_all_three_coordinates(explorer):
    page = explorer.open("dense")
    for plot in ("grid-input", "grid-linear", "grid-activation"):
        expect(page.locator(f'svg[data-plot="{plot}"] path.mark')).to_have_count(1)
    expect(page.locator('[data-marked-point="0"]')).to_have_text(
        "(0.5, 1) → dense1 (1.2, 3.6, 0.65) → activation1 (1.2, 3.6, 0.65)"
    )


def test_sine_draws_its_65_tents_after_its_67_ramps(explorer):
    page = explorer.open("sine")
    expect(page.locator('svg[data-plot="units"][data-layer="ramp_act"] path[data-unit]')).to_have_count(67)
    tents = page.locator('svg[data-plot="units"][data-layer="tent_act"] path[data-unit]')
    expect(tents).to_have_count(65)
    # the form's batch: one or two of 65 tents alive at each x, the rest exactly 0
    dead = page.locator('svg[data-histogram="tent_act"] [data-label="dead-fraction"]')
    expect(dead).to_have_text(re.compile(r"dead 9[78]\.\d%"))


def test_norm_layers_show_their_steps(explorer):
    page = explorer.open("norms")
    batch = page.locator('[data-trace-layer="batch_norm"]')
    expect(batch.locator('[data-step="mean"]')).to_contain_text("running statistics")
    rms = page.locator('[data-trace-layer="rms_norm"] [data-step="rms"]')
    expect(rms).to_contain_text("√(mean(x²) + 1e-06)")
    expect(rms.locator("td.num")).to_have_text(["2.739"])


def test_changing_folds_activation_to_sigmoid_changes_the_grid(explorer):
    page = explorer.open("fold")
    before = positions(page, "grid-activation")
    linear_before = positions(page, "grid-linear")
    page.locator('select[data-activation="act"]').select_option("Sigmoid")
    expect(page.locator('[data-trace-layer="act"] .type')).to_have_text("Sigmoid")
    wait_redrawn(page)
    expect(page.locator('svg[data-plot="grid-activation"]')).to_contain_text("Sigmoid")
    assert positions(page, "grid-activation") != before
    assert positions(page, "grid-linear") == linear_before  # the linear step is what it was
    expect(page.locator('[data-formula="act"]')).to_have_text("Sigmoid(x) = 1 / (1 + exp(−x))")


def test_editing_a_weight_changes_the_trace_to_what_torch_computes(explorer):
    page = explorer.open("fold")
    cell = page.locator('[data-weights="linear"] input[data-weight="weight.0.0"]')
    expect(cell).to_have_value("1")
    cell.fill("2.5")
    cell.dispatch_event("change")
    expect(page.locator('[data-trace-layer="linear"] .badge.what-if')).to_contain_text("weight replaced")
    wait_redrawn(page)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # the form's example batch
    weight = torch.tensor([[2.5, 0.5], [-0.5, 1.0]])
    expected = torch.nn.functional.linear(x, weight).flatten().tolist()
    cells = page.locator('[data-trace-output="linear"] tbody td.num')
    expect(cells).to_have_text([f"{value:g}" for value in expected])
    relu = torch.relu(torch.tensor(expected)).tolist()
    expect(page.locator('[data-trace-output="act"] tbody td.num')).to_have_text([f"{value:g}" for value in relu])
    expect(page.locator('[data-sums="linear"][data-sample="0"] li').first).to_contain_text("1.0·2.5 + 0.0·0.5 = 2.5")
    # the served model is unchanged: the form's outputs are still the declared fold
    expect(page.locator('[data-output="act"] tbody td.num')).to_have_text(["1", "0", "0.5", "1", "1.5", "0.5"])
