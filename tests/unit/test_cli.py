"""The layerserve command line: validate and inspect, without a server."""

import re

from click.testing import CliRunner

from service.cli import main


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def test_inspect_prints_the_layer_table_with_totals(models_dir):
    result = run("inspect", str(models_dir / "classifier"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("classifier v1")
    fc1 = next(line for line in lines if re.match(r"\s*1\s+fc1\s", line))
    assert "Linear" in fc1 and "[-1, 128]" in fc1 and "100,480" in fc1 and "100,352" in fc1
    total = next(line for line in lines if "total" in line)
    assert total.split()[-3:] == ["111,562", "446,248", "111,136"]
    assert "serving path: flatten -> fc1+bn1 -> act1" in result.output


def test_inspect_finds_a_model_by_name_in_the_models_directory(models_dir):
    result = run("inspect", "dense", "--models", str(models_dir))
    assert result.exit_code == 0
    assert re.search(r"0\s+dense1\s+Dense\s+point\s+\[-1, 3\]\s+9\s+36\s+6", result.output)


def test_inspect_reports_a_broken_model_in_one_line(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.yaml").write_text("inputs: [{name: x, shape: [2]}]\nlayers: [{name: a, type: Relu}]\n")
    result = run("inspect", str(folder))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "unknown layer type 'Relu' in layer 'a' (model.yaml line 2); did you mean 'ReLU'?" in result.output
    assert "Linear" not in result.output  # the full list only where asked for


def test_validate_types_lists_every_layer_type():
    from service.stack.layers import LAYER_TYPES

    result = run("validate", "--types")
    assert result.exit_code == 0
    assert result.output.split() == list(LAYER_TYPES)


def test_validate_says_an_empty_folder_has_no_model_yaml(tmp_path):
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"no model.yaml (nor model.yml, model.json) in {tmp_path}" in result.output


def test_predict_reads_the_server_address_from_layerserve_url(tmp_path):
    inputs = tmp_path / "points.json"
    inputs.write_text("[[0.5, 1.0]]")
    result = run("predict", "dense", str(inputs), env={"LAYERSERVE_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/v2/models/dense" in result.output


def test_inspect_an_unknown_model(tmp_path):
    result = run("inspect", "nope", "--models", str(tmp_path))
    assert result.exit_code == 1 and "no model folder 'nope'" in result.output


def test_validate_lists_every_model_and_fails_on_a_broken_one(models_dir, tmp_path):
    assert run("validate", str(models_dir)).exit_code == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.yaml").write_text("inputs: []\nlayers: []\n")
    result = run("validate", str(models_dir), str(broken))
    assert result.exit_code == 1
    assert "ok   fold v1: 2 layers, 6 parameters" in result.output
    assert "FAIL broken: model.yaml: inputs: Shorter than minimum length 1." in result.output
    (broken / "model.yaml").write_text(
        "inputs: [{name: x, shape: [2]}]\nlayers: [{name: a, type: ReLU}]\nexample: {x: [1]}\n"
    )
    result = run("validate", str(broken))
    assert result.exit_code == 1
    assert "FAIL broken: model.yaml: example: input 'x'" in result.output


def test_validate_refuses_what_the_server_would_refuse_under_its_settings(tmp_path, monkeypatch):
    wide = tmp_path / "wide"
    wide.mkdir()
    (wide / "model.yaml").write_text(
        "inputs: [{name: x, shape: [1, 100000, 100000]}]\n"
        "layers: [{name: pool, type: AdaptiveAvgPool2d, output_size: [1, 1]}]\n"
    )
    result = run("validate", str(wide))
    assert result.exit_code == 1
    assert "FAIL wide: model.yaml: input 'x' of shape [1, 100000, 100000] holds 10,000,000,000 values" in result.output
    monkeypatch.setenv("LAYERSERVE_MAX_REQUEST_VALUES", str(10**11))
    monkeypatch.setenv("LAYERSERVE_MAX_REQUEST_MACS", str(10**12))
    assert run("validate", str(wide)).exit_code == 0
