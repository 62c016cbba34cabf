"""The explorer's pictures: sine's curve and ramps, fold's grid before and after, activation histograms."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.integration


def path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def test_sine_is_drawn_against_sin_with_every_hidden_ramp(explorer):
    page = explorer.open("sine")
    curve = page.locator('svg[data-plot="curve"]')
    model_points = path_points(curve.locator('path[data-series="model"]').get_attribute("d"))
    target_points = path_points(curve.locator('path[data-series="target"]').get_attribute("d"))
    assert len(model_points) >= 100 and len(target_points) == len(model_points)
    heights = [y for _, y in model_points]
    assert max(heights) - min(heights) > 100  # pixels: a whole period, not a flat line
    # the model interpolates sin to about 0.0012: the two curves coincide to a fraction of a pixel
    assert max(abs(m[1] - t[1]) for m, t in zip(model_points, target_points)) < 1.0

    units = page.locator('svg[data-plot="units"][data-layer="ramp_act"] path[data-unit]')
    expect(units).to_have_count(67)  # ramp_act: Linear(1, 67) then ReLU
    for unit in (0, 33, 66):
        assert len(path_points(units.nth(unit).get_attribute("d"))) == len(model_points)


def test_fold_shows_the_grid_before_after_the_linear_step_and_after_the_relu(explorer):
    page = explorer.open("fold")
    centres = {}
    for plot in ("grid-input", "grid-linear", "grid-activation"):
        points = page.locator(f'svg[data-plot="{plot}"] circle[data-point]')
        expect(points).to_have_count(121)
        centres[plot] = points.evaluate_all("points => points.map(p => [p.getAttribute('cx'), p.getAttribute('cy')])")
    assert centres["grid-input"] != centres["grid-linear"] != centres["grid-activation"]
    colours = page.locator('svg[data-plot="grid-input"] circle').evaluate_all(
        "points => points.map(p => p.getAttribute('fill'))"
    )
    assert len(set(colours)) == 121  # each point keeps its own colour through the layers


def test_folds_relu_has_a_histogram_with_its_dead_fraction(explorer):
    page = explorer.open("fold")
    histogram = page.locator('svg[data-histogram="act"]')
    expect(histogram).to_have_attribute("data-rule", "zero")
    # [[1, 0], [0, 1], [1, 1]] → [[1, 0], [0.5, 1], [1.5, 0.5]]: one of six outputs is 0
    expect(histogram.locator('[data-label="dead-fraction"]')).to_have_text("dead 16.7%")
    counts = [int(bar.get_attribute("data-count")) for bar in histogram.locator("rect.bar").all()]
    assert sum(counts) == 6


def test_every_activation_with_health_gets_a_histogram(explorer):
    page = explorer.open("sine")
    for layer in ("ramp_act", "tent_act"):
        histogram = page.locator(f'svg[data-histogram="{layer}"]')
        expect(histogram.locator('[data-label="dead-fraction"]')).to_contain_text("dead ")
        assert int(histogram.get_attribute("data-values")) > 0
