"""layerserve import and export: a PyTorch Sequential in, TorchScript and ONNX out, same outputs throughout."""

import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import yaml
from click.testing import CliRunner
from safetensors.torch import save_file
from torch import nn

from service.cli import main
from service.convert.check import load_served, probe_inputs
from service.convert.exporting import export_model
from service.convert.importing import import_sequential
from service.errors import ConversionError
from service.stack import LAYER_TYPES, load_stack
from service.stack.modules import Dense

MODELS = Path(__file__).parents[3] / "models"
BUNDLED = sorted(p.name for p in MODELS.iterdir() if (p / "model.yaml").is_file())


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def trained_mlp() -> nn.Sequential:
    """Norm layers with non-trivial statistics and affine values, as after training."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Sequential(nn.Linear(16, 8), nn.LayerNorm(8)),
        nn.GELU(approximate="tanh"),
        nn.Linear(8, 3),
    )
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(32, 6) * 3 + 1)
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model.eval()


def outputs_of(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def fresh_batch(shape, rows=7, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, *shape)).astype(np.float32)


# --- import ------------------------------------------------------------------------------------


def test_an_imported_sequential_serves_the_same_outputs(tmp_path):
    model = trained_mlp()
    import_sequential(model, tmp_path / "mlp")
    definition, stack = load_stack(tmp_path / "mlp")
    assert [layer.type.name for layer in definition.layers] == [
        "Linear",
        "BatchNorm1d",
        "ReLU",
        "Linear",
        "LayerNorm",
        "GELU",
        "Linear",
    ]
    assert [i.shape for i in definition.inputs] == [(6,)]
    x = fresh_batch((6,))
    served = load_served(tmp_path / "mlp", 64).infer({"input": x})
    np.testing.assert_allclose(served[definition.outputs[0]], outputs_of(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stack(torch.from_numpy(x))[0].numpy(), outputs_of(model, x), rtol=1e-5, atol=1e-6)


def test_import_names_layers_after_the_sequential_and_writes_readable_yaml(tmp_path):
    model = nn.Sequential(OrderedDict(fc=nn.Linear(3, 2), act=nn.LeakyReLU(0.2), probs=nn.Softmax(dim=-1)))
    import_sequential(model, tmp_path / "named", description="three layers")
    text = (tmp_path / "named" / "model.yaml").read_text()
    assert "  - {name: fc, type: Linear, in_features: 3, out_features: 2}\n" in text
    assert "  - {name: act, type: LeakyReLU, negative_slope: 0.2}\n" in text
    document = yaml.safe_load(text)
    assert document["outputs"] == ["probs"] and document["description"] == "three layers"


def test_import_with_an_input_shape_for_a_flatten_first(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2), nn.Tanh())
    with pytest.raises(ConversionError, match=r"does not tell the per-sample input shape"):
        import_sequential(model, tmp_path / "flat")
    import_sequential(model, tmp_path / "flat", input_shape=(3, 4), input_name="image")
    x = fresh_batch((3, 4))
    served = load_served(tmp_path / "flat", 64).infer({"image": x})
    np.testing.assert_allclose(next(iter(served.values())), outputs_of(model, x), rtol=1e-5, atol=1e-6)


def _initialized(module: nn.Module) -> nn.Module:
    """Random values for parameters and running statistics, so that every one of them counts."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return module


def every_single_input_type() -> list[tuple[nn.Sequential, tuple[int, ...]]]:
    """Sequentials that hold, between them, a module of each registry type that takes one input."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Unflatten(1, (2, 6)),
        nn.Flatten(),
        nn.Linear(12, 8),
        _initialized(Dense(8, 8)),
        _initialized(nn.BatchNorm1d(8)),
        nn.LayerNorm(8, bias=False),
        nn.RMSNorm(8, eps=1e-3),
        nn.LeakyReLU(0.3),
        nn.ELU(0.5),
        nn.Softplus(beta=2.0, threshold=10.0),
        nn.GELU(),
        nn.SiLU(),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.ReLU(),
        nn.ReLU6(),
        nn.RReLU(0.1, 0.3),
        _initialized(nn.PReLU(8)),
        nn.Threshold(0.1, 0.05),
        nn.Hardtanh(-2.0, 2.0),
        nn.Hardsigmoid(),
        nn.Hardswish(),
        nn.Hardshrink(0.3),
        nn.Softshrink(0.2),
        nn.Tanhshrink(),
        nn.LogSigmoid(),
        nn.Softsign(),
        nn.Mish(),
        nn.CELU(0.7),
        nn.SELU(),
        nn.Identity(),
        nn.Dropout(0.3),
        nn.Softmin(dim=1),
        nn.GLU(dim=-1),
        nn.Softmax(dim=1),
        nn.LogSoftmax(dim=-1),
    )
    one_d = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1, padding_mode="reflect"),
        _initialized(nn.InstanceNorm1d(4, affine=True, track_running_stats=True)),
        _initialized(nn.GroupNorm(2, 4)),
        nn.MaxPool1d(2),
        nn.AvgPool1d(2, count_include_pad=False),
        nn.AdaptiveAvgPool1d(3),
    )
    two_d = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same", groups=2),
        nn.MaxPool2d(2, stride=1, dilation=2),
        nn.AvgPool2d(2, divisor_override=3),
        nn.AdaptiveAvgPool2d((1, None)),
    )
    lookup = nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Flatten())
    return [(features, (12,)), (one_d, (2, 16)), (two_d, (2, 8, 8)), (lookup, (5,))]


def test_every_registry_type_with_one_input_imports_with_its_settings(tmp_path):
    chains = every_single_input_type()
    single_input = {name for name, layer_type in LAYER_TYPES.items() if layer_type.arity == 1}
    assert {type(m).__name__ for model, _ in chains for m in model} == single_input  # a new type belongs here
    layers = []
    for number, (model, shape) in enumerate(chains):
        folder = tmp_path / f"chain{number}"
        import_sequential(model.eval(), folder, input_shape=shape)
        layers += yaml.safe_load((folder / "model.yaml").read_text())["layers"]
        served = load_served(folder)
        inputs = probe_inputs(served)
        with torch.no_grad():
            expected = model(torch.from_numpy(inputs["input"])).numpy()
        np.testing.assert_allclose(next(iter(served.infer(inputs).values())), expected, rtol=1e-5, atol=1e-6)
    settings = {layer["type"]: {k: v for k, v in layer.items() if k not in ("name", "type")} for layer in layers}
    assert settings["Unflatten"] == {"dim": 1, "unflattened_size": [2, 6]}
    assert settings["LayerNorm"] == {"normalized_shape": [8], "bias": False}
    assert settings["RMSNorm"] == {"normalized_shape": [8], "eps": 1e-3}
    assert settings["Softplus"] == {"beta": 2.0, "threshold": 10.0}
    assert settings["Dropout"] == {"p": 0.3} and settings["Softmax"] == {"dim": 1}
    assert settings["Conv1d"] == {
        "in_channels": 2,
        "out_channels": 4,
        "kernel_size": [3],
        "padding": [1],
        "padding_mode": "reflect",
    }
    assert settings["Conv2d"]["padding"] == "same" and settings["Conv2d"]["groups"] == 2
    assert settings["MaxPool2d"] == {"kernel_size": 2, "stride": 1, "dilation": 2}
    assert settings["AdaptiveAvgPool2d"] == {"output_size": [1, None]}
    assert settings["Embedding"] == {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}


def test_an_embedding_first_reads_int64_indices(tmp_path):
    model = nn.Sequential(nn.Embedding(7, 3), nn.Flatten(), nn.Linear(6, 2)).eval()
    import_sequential(model, tmp_path / "lookup", input_shape=(2,))
    definition, _ = load_stack(tmp_path / "lookup")
    assert definition.inputs[0].dtype == "int64"
    indices = np.array([[0, 6], [3, 3]], dtype=np.int64)
    served = load_served(tmp_path / "lookup").infer({"input": indices})
    np.testing.assert_allclose(next(iter(served.values())), outputs_of(model, indices), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Conv3d(1, 1, 1)), r"module 2 \(Conv3d\) is not a layer type"),
        (nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Upsample(2))), r"module 1\.1 \(Upsample\)"),
        (nn.Sequential(nn.Embedding(4, 2, max_norm=1.0)), "max_norm rescales the weights"),
        (nn.Sequential(nn.Conv1d(1, 1, 1), nn.MaxPool1d(2, return_indices=True)), "return_indices=True"),
        (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False)), "track_running_stats=False"),
        (nn.Sequential(nn.Linear(4, 4).double(), nn.Linear(4, 2)), "mix dtypes"),
        (nn.Sequential(nn.Linear(4, 4).half()), "float16; layerserve serves float32, float64"),
        (nn.Linear(4, 4), "expected a torch.nn.Sequential, got Linear"),
    ],
)
def test_import_refuses_what_it_cannot_serve(tmp_path, model, message):
    with pytest.raises(ConversionError, match=message):
        import_sequential(model, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def test_import_never_replaces_a_model_unless_told(tmp_path):
    import_sequential(nn.Sequential(nn.Linear(2, 1)), tmp_path / "m")
    with pytest.raises(ConversionError, match="already exists"):
        import_sequential(nn.Sequential(nn.Linear(3, 1)), tmp_path / "m")
    (tmp_path / "m" / "train.py").write_text("# kept\n")
    import_sequential(nn.Sequential(nn.Linear(3, 1)), tmp_path / "m", replace=True)
    assert load_stack(tmp_path / "m")[0].inputs[0].shape == (3,)
    assert (tmp_path / "m" / "train.py").read_text() == "# kept\n"
    import_sequential(nn.Sequential(nn.ReLU()), tmp_path / "m", input_shape=(2,), replace=True)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.yaml", "train.py"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


MODEL_CODE = """
from torch import nn

def build():
    return nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(),
        nn.Sequential(nn.Linear(16, 8), nn.LayerNorm(8)), nn.GELU(approximate="tanh"), nn.Linear(8, 3),
    )
"""


@pytest.fixture
def model_code(tmp_path) -> Path:
    path = tmp_path / "net.py"
    path.write_text(MODEL_CODE)
    return path


@pytest.mark.parametrize("weights", ["state.pt", "state.safetensors"])
def test_cli_import_from_code_and_a_state_dict(tmp_path, model_code, weights):
    trained = trained_mlp()
    if weights.endswith(".pt"):
        torch.save(trained.state_dict(), tmp_path / weights)
    else:
        save_file(trained.state_dict(), str(tmp_path / weights))
    result = run("import", f"{model_code}:build", "mlp", "--state-dict", tmp_path / weights, "--models", tmp_path)
    assert result.exit_code == 0, result.output
    assert "served outputs match the original" in result.output
    x = fresh_batch((6,))
    served = load_served(tmp_path / "mlp", 64).infer({"input": x})
    np.testing.assert_allclose(next(iter(served.values())), outputs_of(trained, x), rtol=1e-5, atol=1e-6)


class Payload:
    """Stands for any object in a pickle: weights_only loading must refuse to build it."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_cli_import_refuses_a_state_dict_that_is_more_than_tensors(tmp_path, model_code, capfd):
    state = {**trained_mlp().state_dict(), "extra": Payload()}
    torch.save(state, tmp_path / "state.pt")
    result = run("import", f"{model_code}:build", "mlp", "--state-dict", tmp_path / "state.pt", "--models", tmp_path)
    assert result.exit_code == 1
    assert "holds more than tensors" in result.output
    assert "unpickled!" not in capfd.readouterr().out + result.output


def test_cli_import_a_saved_module_only_with_trust_pickle(tmp_path):
    trained = trained_mlp()
    torch.save(trained, tmp_path / "whole.pt")
    refused = run("import", tmp_path / "whole.pt", "whole", "--models", tmp_path)
    assert refused.exit_code == 1 and "--trust-pickle" in refused.output
    assert not (tmp_path / "whole").exists()
    result = run("import", tmp_path / "whole.pt", "whole", "--trust-pickle", "--models", tmp_path)
    assert result.exit_code == 0, result.output
    x = fresh_batch((6,))
    served = load_served(tmp_path / "whole", 64).infer({"input": x})
    np.testing.assert_allclose(next(iter(served.values())), outputs_of(trained, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.py:build", "m"], "no such file 'nowhere.py'"),
        (["{code}:missing", "m"], "has no 'missing'"),
        (["{code}:build", "m", "--input-shape", "2,x"], "positive integers separated by commas"),
        (["{code}:build", "9m"], "letters, digits and underscores"),
        (["no_such_module_here:build", "m"], "cannot import 'no_such_module_here'"),
        (["missing.pt", "m", "--trust-pickle"], "no such file 'missing.pt'"),
        (["missing.pt", "m"], "no such file 'missing.pt'"),
    ],
)
def test_cli_import_errors_are_one_line(tmp_path, model_code, args, message):
    result = run("import", *[a.format(code=model_code) for a in args], "--models", tmp_path)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_import_reports_a_state_dict_that_does_not_fit(tmp_path, model_code):
    torch.save(nn.Sequential(nn.Linear(6, 4)).state_dict(), tmp_path / "other.pt")
    result = run("import", f"{model_code}:build", "m", "--state-dict", tmp_path / "other.pt", "--models", tmp_path)
    assert result.exit_code == 1
    assert "size mismatch for 0.weight" in result.output


# --- export ------------------------------------------------------------------------------------


def served_and_probe(folder: Path):
    served = load_served(folder, 64)
    inputs = {name: array[:3] for name, array in probe_inputs(served, seed=7).items()}  # not the checked rows
    return served.infer(inputs), inputs


@pytest.mark.parametrize("model", BUNDLED)
def test_exported_models_compute_the_served_outputs(tmp_path, model):
    written = export_model(MODELS / model, tmp_path, ["exported_program", "torchscript", "onnx"])
    assert {name: path.name for name, (path, _) in written.items()} == {
        "exported_program": f"{model}.pt2",
        "torchscript": f"{model}.pt",
        "onnx": f"{model}.onnx",
    }
    expected, inputs = served_and_probe(MODELS / model)

    program = torch.export.load(str(tmp_path / f"{model}.pt2"))
    user_inputs = [spec for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"]
    assert len(user_inputs) == len(inputs)
    with torch.no_grad():
        got = program.module()(*(torch.from_numpy(a) for a in inputs.values()))
    for got_tensor, want in zip(got if isinstance(got, tuple) else (got,), expected.values(), strict=True):
        np.testing.assert_allclose(got_tensor.numpy(), want, rtol=1e-4, atol=1e-5)

    session = onnxruntime.InferenceSession(str(tmp_path / f"{model}.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(inputs)
    assert [o.name for o in session.get_outputs()] == list(expected)
    for got, want in zip(session.run(None, inputs), expected.values()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    with pytest.warns(DeprecationWarning):  # torch 2.13 deprecates TorchScript, still loads it
        scripted = torch.jit.load(str(tmp_path / f"{model}.pt"))
    with torch.no_grad():
        got = scripted(*(torch.from_numpy(a) for a in inputs.values()))
    for got_tensor, want in zip(got if isinstance(got, tuple) else (got,), expected.values()):
        np.testing.assert_allclose(got_tensor.numpy(), want, rtol=1e-4, atol=1e-5)


def test_cli_export_writes_the_exported_program_and_onnx_by_default(tmp_path):
    result = run("export", "fold", "--models", MODELS, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold.onnx", "fold.pt2"]
    assert f"wrote {tmp_path / 'fold.pt2'} (exported_program): matches the served outputs" in result.output


def test_cli_export_one_format(tmp_path):
    result = run("export", "dense", "--models", MODELS, "--format", "onnx", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {tmp_path / 'dense.onnx'} (onnx): matches the served outputs")
    assert [p.name for p in tmp_path.iterdir()] == ["dense.onnx"]


def test_import_then_export_round_trip(tmp_path):
    model = trained_mlp()
    import_sequential(model, tmp_path / "models" / "mlp")
    export_model(tmp_path / "models" / "mlp", tmp_path / "out", ["onnx"])
    x = fresh_batch((6,), rows=11)
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "mlp.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    np.testing.assert_allclose(got, outputs_of(model, x), rtol=1e-4, atol=1e-5)


def test_cli_import_from_a_module_path_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(MODEL_CODE + "\nNET = build()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # import adds the current directory to it
    result = run("import", "mynets:NET", "mlp", "--models", tmp_path / "models")
    assert result.exit_code == 0, result.output
    assert load_stack(tmp_path / "models" / "mlp")[0].inputs[0].shape == (6,)


def test_a_float64_model_imports_and_exports_as_float64(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 2)).double().eval()
    import_sequential(model, tmp_path / "models" / "wide")
    assert load_stack(tmp_path / "models" / "wide")[0].dtype == "float64"
    export_model(tmp_path / "models" / "wide", tmp_path / "out", ["onnx"])
    x = np.random.default_rng(2).standard_normal((4, 4))
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "wide.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, outputs_of(model, x), rtol=1e-10, atol=1e-12)
