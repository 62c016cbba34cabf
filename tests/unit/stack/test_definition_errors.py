"""Definition errors that point: the layer by name, the file and line, the likely meaning of a typo."""

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from service.cli import main
from service.errors import DefinitionError
from service.stack import load_stack
from service.stack.definition import DefinitionLoader

ROOT = Path(__file__).resolve().parents[3]

TYPO = """\
description: a layer type misspelt
inputs:
  - {name: x, shape: [4]}
init: {seed: 0}
layers:
  - {name: fc1, type: Linear, out_features: 8}
  - name: ln1
    type: LayerNrom
"""


def write(folder: Path, text: str, name: str = "model.yaml") -> Path:
    folder.mkdir(parents=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_misspelt_layer_type_names_the_layer_its_line_and_the_nearest_type(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_stack(write(tmp_path / "m", TYPO))
    assert info.value.message == (
        "unknown layer type 'LayerNrom' in layer 'ln1' (model.yaml line 7); did you mean 'LayerNorm'?; "
        "`layerserve validate --types` lists them all"
    )


def test_a_misspelt_parameter_is_one_problem_with_its_likely_meaning(tmp_path):
    text = TYPO.replace("type: LayerNrom", "type: LayerNorm\n    epsilon: 0.001").replace(
        "out_features: 8", "out_feature: 8"
    )
    with pytest.raises(DefinitionError) as info:
        load_stack(write(tmp_path / "m", text))
    assert info.value.message == (
        "model.yaml line 6: layer 'fc1' (Linear): 'out_feature' is not a field of Linear; did you mean 'out_features'?"
    )


def test_shape_errors_give_the_line_of_the_layer(tmp_path):
    text = TYPO.replace("type: LayerNrom", "type: Linear\n    in_features: 5\n    out_features: 1")
    with pytest.raises(DefinitionError, match=r"^model\.yaml line 7: layer 'ln1' \(#1, Linear\) expects 5 features"):
        load_stack(write(tmp_path / "m", text))


def test_json_definitions_give_the_line_of_the_layer_too(tmp_path):
    text = json.dumps(yaml.load(TYPO, Loader=DefinitionLoader), indent=2)
    line = 1 + next(number for number, row in enumerate(text.splitlines()) if '"name": "ln1"' in row)
    with pytest.raises(DefinitionError) as info:
        load_stack(write(tmp_path / "m", text, "model.json"))
    assert f"in layer 'ln1' (model.json line {line}); did you mean 'LayerNorm'?" in info.value.message


def test_the_loader_keeps_safe_load_semantics():
    text = "a: 1e-6\nb: [1, {c: 2}]\n"
    loaded = yaml.load(text, Loader=DefinitionLoader)
    assert loaded == {"a": 1e-6, "b": [1, {"c": 2}]}
    assert (loaded.line, loaded["b"][1].line) == (1, 2)
    with pytest.raises(yaml.YAMLError):
        yaml.load("!!python/object/apply:os.system [echo]", Loader=DefinitionLoader)


def test_the_readme_model_validates_as_the_readme_says(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Write your own model", 1)[1]
    model = re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)
    claimed = re.search(r"validate models/tiny\s+# (ok .*)", section).group(1)
    write(tmp_path / "tiny", model)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "tiny")])
    assert (result.exit_code, result.output.strip()) == (0, claimed)
    typo = re.search(r"A typo is pointed at: `(.*?)`", section.replace("\n", " ")).group(1)
    bad = tmp_path / "bad" / "tiny"
    write(bad, model.replace("type: Linear, out_features: 16", "type: Linaer, out_features: 16"))
    with pytest.raises(DefinitionError) as info:
        load_stack(bad)
    assert info.value.message.startswith(typo)
