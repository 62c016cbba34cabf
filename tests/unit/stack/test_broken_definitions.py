"""Broken model folders: each is refused with a DefinitionError that says where and what."""

import json
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
import yaml

from service.errors import DefinitionError
from service.stack import load_stack
from service.stack.limits import ModelLimits

FOLDER = "model"


@dataclass(frozen=True)
class Broken:
    id: str
    definition: dict | str | bytes | None  # a document to dump, raw text, or no definition file at all
    fragments: tuple[str, ...]  # each must appear in the message
    file: str = "model.yaml"
    setup: Callable[[Path], None] | None = None  # writes weight files, links, ... into the folder
    check: Callable[[Path], None] | None = None  # after the refusal
    folder: str = FOLDER


def doc(*layers: dict, inputs=None, **top) -> dict:
    return {"inputs": inputs or [{"name": "x", "shape": [3]}], "layers": list(layers), **top}


def seeded(*layers: dict, inputs=None, **top) -> dict:
    return doc(*layers, inputs=inputs, init={"seed": 0}, **top)


FC = {"name": "fc", "type": "Linear", "out_features": 2}
FC_INLINE = {**FC, "weight": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "bias": [0.5, -0.5]}
WEIGHTS = "weights.safetensors"


def tensors(**arrays) -> Callable[[Path], None]:
    """A setup writing weights.safetensors with these tensors (names with `__` for `.`)."""
    return lambda folder: safetensors.numpy.save_file(
        {k.replace("__", "."): v for k, v in arrays.items()}, folder / WEIGHTS
    )


def fc_tensors(dtype=np.float32, **overrides) -> Callable[[Path], None]:
    arrays = {"fc__weight": np.ones((2, 3), dtype), "fc__bias": np.zeros(2, dtype)}
    return tensors(**{**arrays, **overrides})


def raw_file(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def torch_pickle(folder: Path):
    torch.save({"fc.weight": torch.ones(2, 3), "fc.bias": torch.zeros(2)}, folder / "weights.pt")


def outside_file(folder: Path) -> Path:
    outside = folder.parent / "outside.safetensors"
    safetensors.numpy.save_file({"fc.weight": np.ones((2, 3), np.float32)}, outside)
    return outside


def symlink_outside(folder: Path):
    (folder / WEIGHTS).symlink_to(outside_file(folder))


def definition_symlink_outside(folder: Path):
    secrets = folder.parent / "settings.yaml"
    secrets.write_text("db_password: hunter2\napi_key: abc\n")
    (folder / "model.yaml").symlink_to(secrets)


def symlink_loop(folder: Path):
    (folder / WEIGHTS).symlink_to(WEIGHTS)


def nothing_created(folder: Path):
    assert not (folder / "pwned").exists()


CASES = [
    # --- the file itself ----------------------------------------------------------------------
    Broken("no_definition_file", None, ("model:", "no definition file", "model.yaml", "model.yml", "model.json")),
    Broken(
        "only_an_unknown_file",
        None,
        ("model:", "no definition file"),
        setup=raw_file("model.toml", b"name = 'model'\n"),
    ),
    Broken("invalid_yaml", "inputs: [a\nlayers: b\n", ("model.yaml", "invalid YAML", "line 2")),
    Broken("invalid_yaml_tab", "inputs:\n\t- a\n", ("model.yml", "invalid YAML", "line 2"), file="model.yml"),
    Broken(
        "yaml_python_tag",
        'inputs: !!python/object/apply:os.system ["echo hi"]\nlayers: []\n',
        ("model.yaml", "invalid YAML", "python/object/apply:os.system", "line 1"),
    ),
    Broken(
        "yaml_python_tag_with_side_effect",
        'name: !!python/object/apply:os.mkdir ["@FOLDER@/pwned"]\n',
        ("model.yaml", "invalid YAML", "python/object/apply:os.mkdir"),
        check=nothing_created,
    ),
    Broken("yaml_top_level_list", "- inputs\n- layers\n", ("model.yaml", "mapping", "list")),
    Broken("yaml_empty", "", ("model.yaml", "mapping", "NoneType")),
    Broken("yaml_nested_too_deeply", "inputs: " + "[" * 5000 + "]" * 5000 + "\n", ("model.yaml", "nest")),
    Broken("json_syntax", '{"inputs": [}', ("model.json", "invalid JSON", "line 1", "column 13"), file="model.json"),
    Broken(
        "json_syntax_multiline",
        '{\n  "inputs": [],\n  "layers": [,]\n}',
        ("model.json", "invalid JSON", "line 3"),
        file="model.json",
    ),
    Broken("json_top_level_string", '"model"', ("model.json", "mapping", "str"), file="model.json"),
    Broken("not_utf8", b"name: \xff\xfe\n", ("model.yaml", "not UTF-8")),
    # --- top-level fields -------------------------------------------------------------------------
    Broken("name_not_folder", doc(FC_INLINE, name="other"), ("model.yaml", "'other'", "'model'", "folder")),
    Broken(
        "unknown_top_level_field",
        doc(FC_INLINE, optimizer="adam"),
        ("model.yaml", "'optimizer' is not a field of the model definition"),
    ),
    Broken("missing_inputs", {"layers": [FC_INLINE]}, ("model.yaml", "missing the required field 'inputs'")),
    Broken(
        "missing_layers",
        {"inputs": [{"name": "x", "shape": [3]}]},
        ("model.yaml", "missing the required field 'layers'"),
    ),
    Broken("empty_layers", doc(), ("model.yaml", "layers", "Shorter than minimum length 1")),
    Broken("input_without_shape", doc(FC_INLINE, inputs=[{"name": "x"}]), ("model.yaml", "inputs[0].shape", "Missing")),
    Broken(
        "input_shape_zero",
        doc(FC_INLINE, inputs=[{"name": "x", "shape": [3, 0]}]),
        ("model.yaml", "inputs[0].shape[1]", "greater than or equal to 1"),
    ),
    Broken("dtype_float16", doc(FC_INLINE, dtype="float16"), ("model.yaml", "dtype", "float32, float64")),
    Broken("dtype_int8", doc(FC_INLINE, dtype="int8"), ("model.yaml", "dtype", "float32, float64")),
    Broken(
        "max_batch_size_0",
        doc(FC_INLINE, max_batch_size=0),
        ("model.yaml", "max_batch_size", "greater than or equal to 1"),
    ),
    Broken("version_0", doc(FC_INLINE, version=0), ("model.yaml", "version", "greater than or equal to 1")),
    Broken("version_string", doc(FC_INLINE, version="1.0"), ("model.yaml", "version", "Not a valid integer")),
    Broken("seed_negative", doc(FC, init={"seed": -1}), ("model.yaml", "init.seed", "greater than or equal to 0")),
    Broken("seed_bool", doc(FC, init={"seed": True}), ("model.yaml", "init.seed", "Not a valid integer")),
    # --- names --------------------------------------------------------------------------------
    Broken(
        "layer_without_name",
        doc({"type": "ReLU"}),
        ("model.yaml line 6: layer '#0'", "missing the required field 'name'"),
    ),
    Broken(
        "duplicate_layer_names",
        doc({"name": "act", "type": "ReLU"}, {"name": "act", "type": "Tanh"}),
        ("model.yaml line 8: layer 'act': name: also the name of layer #0",),
    ),
    Broken(
        "layer_named_like_input",
        doc({"name": "x", "type": "ReLU"}),
        ("model.yaml line 6: layer 'x': name: also the name of input #0",),
    ),
    Broken(
        "duplicate_input_names",
        doc(FC_INLINE, inputs=[{"name": "x", "shape": [3]}, {"name": "x", "shape": [3]}]),
        ("model.yaml: inputs[1].name: also the name of input #0",),
    ),
    Broken(
        "layer_name_with_dot",
        doc({"name": "fc.1", "type": "ReLU"}),
        ("model.yaml line 6: layer", "name: ", "letters, digits and underscores"),
    ),
    Broken(
        "layer_name_starting_with_digit",
        doc({"name": "1fc", "type": "ReLU"}),
        ("model.yaml line 6: layer", "name: ", "not starting with a digit"),
    ),
    Broken(
        "input_name_with_dash",
        doc({"name": "act", "type": "ReLU"}, inputs=[{"name": "x-in", "shape": [3]}]),
        ("model.yaml", "inputs[0].name", "letters, digits and underscores"),
    ),
    # --- layer types and hyper-parameters ---------------------------------------------------------
    Broken(
        "unknown_layer_type",
        doc({"name": "conv", "type": "Conv3d"}),
        ("unknown layer type 'Conv3d' in layer 'conv' (model.yaml line 6); did you mean 'Conv2d'?", "validate --types"),
    ),
    Broken(
        "missing_layer_type",
        doc({"name": "act"}),
        ("model.yaml line 6: layer 'act'", "missing the required field 'type'"),
    ),
    Broken(
        "misspelled_hyper_parameter",
        seeded({"name": "fc", "type": "Linear", "out_feature": 2}),
        (
            "model.yaml line 8: layer 'fc' (Linear)",
            "'out_feature' is not a field of Linear; did you mean 'out_features'?",
        ),
    ),
    Broken(
        "missing_out_features",
        seeded({"name": "fc", "type": "Linear"}),
        ("model.yaml", "'fc' (Linear)", "missing the required field 'out_features'"),
    ),
    Broken(
        "out_features_string",
        seeded({**FC, "out_features": "2"}),
        ("model.yaml", "'fc' (Linear)", "out_features", "Not a valid integer"),
    ),
    Broken(
        "out_features_float",
        seeded({**FC, "out_features": 2.0}),
        ("model.yaml", "'fc' (Linear)", "out_features", "Not a valid integer"),
    ),
    Broken(
        "out_features_bool",
        seeded({**FC, "out_features": True}),
        ("model.yaml", "'fc' (Linear)", "out_features", "Not a valid integer"),
    ),
    Broken(
        "out_features_zero",
        seeded({**FC, "out_features": 0}),
        ("model.yaml", "'fc' (Linear)", "out_features", "greater than or equal to 1"),
    ),
    Broken(
        "bias_not_a_bool",
        seeded({**FC, "bias": 3}),
        ("model.yaml", "'fc' (Linear)", "bias", "Not a valid boolean"),
    ),
    Broken(
        "dropout_p_bool",
        doc({"name": "drop", "type": "Dropout", "p": True}),
        ("model.yaml", "'drop' (Dropout)", "p:", "Not a valid number"),
    ),
    Broken(
        "dropout_p_above_one",
        doc({"name": "drop", "type": "Dropout", "p": 1.5}),
        ("model.yaml", "'drop' (Dropout)", "p:", "less than or equal to 1.0"),
    ),
    Broken(
        "leaky_slope_nan",
        doc({"name": "act", "type": "LeakyReLU", "negative_slope": float("nan")}),
        ("model.yaml", "'act' (LeakyReLU)", "negative_slope", "nan"),
    ),
    Broken(
        "gelu_unknown_approximation",
        doc({"name": "act", "type": "GELU", "approximate": "fast"}),
        ("model.yaml", "'act' (GELU)", "approximate", "none, tanh"),
    ),
    Broken(
        "softmax_dim_float",
        doc({"name": "sm", "type": "Softmax", "dim": 1.0}),
        ("model.yaml", "'sm' (Softmax)", "dim", "Not a valid integer"),
    ),
    Broken(
        "out_features_beyond_int64",
        seeded({**FC, "out_features": 2**63}),
        ("model.yaml", "'fc'", "torch cannot build it", "9223372036854775808"),
    ),
    Broken(
        "out_features_overflowing_storage",
        seeded({**FC, "out_features": 2**62}),
        ("model.yaml", "'fc'", "torch cannot build it", "overflow"),
    ),
    # --- wiring --------------------------------------------------------------------------------
    Broken(
        "linear_in_features_mismatch",
        seeded(
            {"name": "fc1", "type": "Linear", "out_features": 3},
            {"name": "fc2", "type": "Linear", "in_features": 4, "out_features": 2},
        ),
        ("model.yaml", "'fc2' (#1, Linear)", "4 features", "layer 'fc1'", "[3]"),
    ),
    Broken(
        "linear_in_features_mismatch_with_input",
        seeded({**FC, "in_features": 5}, inputs=[{"name": "pixels", "shape": [2, 3]}]),
        ("model.yaml", "'fc' (#0, Linear)", "5 features", "input 'pixels'", "[2, 3]"),
    ),
    Broken(
        "bilinear_with_one_input",
        seeded({"name": "bil", "type": "Bilinear", "inputs": ["x"], "out_features": 2}),
        ("model.yaml", "'bil' (#0, Bilinear)", "takes 2 input(s), got 1", "['x']"),
    ),
    Broken(
        "bilinear_without_inputs",
        seeded(
            {"name": "bil", "type": "Bilinear", "out_features": 2},
            inputs=[{"name": "a", "shape": [3]}, {"name": "b", "shape": [4]}],
        ),
        ("model.yaml", "'bil' (#0, Bilinear)", "inputs ['a', 'b']", "`inputs`"),
    ),
    Broken(
        "bilinear_leading_dims_mismatch",
        seeded(
            {"name": "bil", "type": "Bilinear", "inputs": ["a", "b"], "out_features": 2},
            inputs=[{"name": "a", "shape": [2, 3]}, {"name": "b", "shape": [5, 4]}],
        ),
        ("model.yaml", "'bil' (#0, Bilinear)", "leading dimensions [2]", "input 'b'", "[5, 4]"),
    ),
    Broken(
        "inputs_naming_a_later_layer",
        doc({"name": "act", "type": "ReLU", "inputs": ["late"]}, {"name": "late", "type": "Tanh"}),
        ("model.yaml", "'act' (#0, ReLU)", "input 'late'", "neither a model input nor an earlier layer", "(x)"),
    ),
    Broken(
        "inputs_naming_itself",
        doc({"name": "act", "type": "ReLU", "inputs": ["act"]}),
        ("model.yaml", "'act' (#0, ReLU)", "input 'act'", "neither"),
    ),
    Broken(
        "inputs_naming_an_unknown_name",
        doc({"name": "act", "type": "ReLU"}, {"name": "act2", "type": "ReLU", "inputs": ["nope"]}),
        ("model.yaml", "'act2' (#1, ReLU)", "input 'nope'", "x, act"),
    ),
    Broken(
        "inputs_not_a_list",
        doc({"name": "act", "type": "ReLU", "inputs": "x"}),
        ("model.yaml line 6: layer 'act'", "inputs: Not a valid list"),
    ),
    Broken(
        "outputs_naming_an_unknown_layer",
        doc({"name": "act", "type": "ReLU"}, outputs=["nope"]),
        ("model.yaml", "outputs", "'nope' is not a layer", "(act)"),
    ),
    Broken(
        "outputs_naming_an_input",
        doc({"name": "act", "type": "ReLU"}, outputs=["act", "x"]),
        ("model.yaml", "outputs", "'x' is not a layer"),
    ),
    Broken(
        "outputs_listing_a_layer_twice",
        doc({"name": "act", "type": "ReLU"}, outputs=["act", "act"]),
        ("model.yaml", "outputs", "listed more than once: act"),
    ),
    # --- shape rules -------------------------------------------------------------------------------
    Broken(
        "softmax_over_batch_dim",
        doc({"name": "sm", "type": "Softmax", "dim": 0}),
        ("model.yaml", "'sm' (#0, Softmax)", "dim: 0 is the batch dimension"),
    ),
    Broken(
        "log_softmax_dim_out_of_range",
        doc({"name": "lsm", "type": "LogSoftmax", "dim": -3}),
        ("model.yaml", "'lsm' (#0, LogSoftmax)", "dim: -3 is out of range", "[batch, 3]"),
    ),
    Broken(
        "flatten_start_dim_out_of_range",
        doc({"name": "flat", "type": "Flatten", "start_dim": 4}, inputs=[{"name": "x", "shape": [2, 3, 4]}]),
        ("model.yaml", "'flat' (#0, Flatten)", "start_dim: 4 is out of range", "[batch, 2, 3, 4]"),
    ),
    Broken(
        "flatten_start_after_end",
        doc(
            {"name": "flat", "type": "Flatten", "start_dim": 3, "end_dim": 2},
            inputs=[{"name": "x", "shape": [2, 3, 4]}],
        ),
        ("model.yaml", "'flat' (#0, Flatten)", "start_dim", "after end_dim"),
    ),
    Broken(
        "unflatten_sizes_not_matching",
        doc(
            {"name": "unflat", "type": "Unflatten", "dim": 1, "unflattened_size": [4, 2]},
            inputs=[{"name": "x", "shape": [6]}],
        ),
        ("model.yaml", "'unflat' (#0, Unflatten)", "size 8 in dimension 1", "input 'x'", "[6]"),
    ),
    Broken(
        "unflatten_minus_one_not_dividing",
        doc(
            {"name": "unflat", "type": "Unflatten", "dim": -1, "unflattened_size": [4, -1]},
            inputs=[{"name": "x", "shape": [6]}],
        ),
        ("model.yaml", "'unflat' (#0, Unflatten)", "divisible by 4", "[6]"),
    ),
    Broken(
        "unflatten_two_unknown_sizes",
        doc(
            {"name": "unflat", "type": "Unflatten", "dim": 1, "unflattened_size": [-1, -1]},
            inputs=[{"name": "x", "shape": [6]}],
        ),
        ("model.yaml", "'unflat' (#0, Unflatten)", "unflattened_size", "only one size may be -1"),
    ),
    Broken(
        "layer_norm_shape_not_trailing",
        seeded(
            {"name": "ln", "type": "LayerNorm", "normalized_shape": [3, 5]}, inputs=[{"name": "x", "shape": [3, 4]}]
        ),
        ("model.yaml", "'ln' (#0, LayerNorm)", "trailing dimensions [3, 5]", "input 'x'", "[3, 4]"),
    ),
    Broken(
        "layer_norm_shape_longer_than_input",
        seeded({"name": "ln", "type": "LayerNorm", "normalized_shape": [2, 3]}),
        ("model.yaml", "'ln' (#0, LayerNorm)", "trailing dimensions [2, 3]", "[3]"),
    ),
    Broken(
        "rms_norm_shape_not_trailing",
        seeded({"name": "rms", "type": "RMSNorm", "normalized_shape": [4]}),
        ("model.yaml", "'rms' (#0, RMSNorm)", "trailing dimensions [4]", "[3]"),
    ),
    Broken(
        "batch_norm_on_3d_sample",
        seeded({"name": "bn", "type": "BatchNorm1d"}, inputs=[{"name": "x", "shape": [2, 3, 4]}]),
        ("model.yaml", "'bn' (#0, BatchNorm1d)", "[C] or [C, L]", "[2, 3, 4]"),
    ),
    Broken(
        "batch_norm_channels_mismatch",
        seeded({"name": "bn", "type": "BatchNorm1d", "num_features": 4}, inputs=[{"name": "x", "shape": [3, 4]}]),
        ("model.yaml", "'bn' (#0, BatchNorm1d)", "4 channels", "[3, 4]"),
    ),
    # --- more of torch.nn: hyper-parameters ----------------------------------------------------------
    Broken(
        "hardtanh_bounds_reversed",
        doc({"name": "act", "type": "Hardtanh", "min_val": 1.0, "max_val": 0.5}),
        ("model.yaml", "'act' (Hardtanh)", "max_val: must be greater than min_val (1.0)"),
    ),
    Broken(
        "rrelu_bounds_reversed",
        doc({"name": "act", "type": "RReLU", "lower": 0.5, "upper": 0.1}),
        ("model.yaml", "'act' (RReLU)", "upper: must be at least lower (0.5)"),
    ),
    Broken(
        "threshold_without_value",
        doc({"name": "cut", "type": "Threshold", "threshold": 0.5}),
        ("model.yaml", "'cut' (Threshold)", "missing the required field 'value'"),
    ),
    Broken(
        "celu_alpha_zero",
        doc({"name": "act", "type": "CELU", "alpha": 0}),
        ("model.yaml", "'act' (CELU)", "alpha: must not be 0"),
    ),
    Broken(
        "softplus_beta_zero",
        doc({"name": "act", "type": "Softplus", "beta": 0}),
        ("model.yaml", "'act' (Softplus)", "beta: must not be 0"),
    ),
    Broken(
        "softshrink_negative_lambd",
        doc({"name": "act", "type": "Softshrink", "lambd": -1}),
        ("model.yaml", "'act' (Softshrink)", "lambd:", "greater than or equal to 0"),
    ),
    Broken(
        "prelu_num_parameters_zero",
        seeded({"name": "act", "type": "PReLU", "num_parameters": 0}),
        ("model.yaml", "'act' (PReLU)", "num_parameters:", "greater than or equal to 1"),
    ),
    Broken(
        "conv_kernel_size_missing",
        seeded({"name": "conv", "type": "Conv1d", "out_channels": 2}, inputs=[{"name": "x", "shape": [3, 8]}]),
        ("model.yaml", "'conv' (Conv1d)", "missing the required field 'kernel_size'"),
    ),
    Broken(
        "conv2d_kernel_size_of_three_dims",
        seeded(
            {"name": "conv", "type": "Conv2d", "out_channels": 2, "kernel_size": [3, 3, 3]},
            inputs=[{"name": "x", "shape": [3, 8, 8]}],
        ),
        ("model.yaml", "'conv' (Conv2d)", "kernel_size: must be an integer ≥ 1, or a list of 2 of them"),
    ),
    Broken(
        "conv_stride_zero",
        seeded(
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 3, "stride": 0},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (Conv1d)", "stride: must be an integer ≥ 1"),
    ),
    Broken(
        "conv_padding_word_unknown",
        seeded(
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 3, "padding": "full"},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (Conv1d)", "padding: must be an integer ≥ 0", "'same' or 'valid'"),
    ),
    Broken(
        "conv_padding_mode_unknown",
        seeded(
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 3, "padding_mode": "mirror"},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (Conv1d)", "padding_mode:", "zeros, reflect, replicate, circular"),
    ),
    Broken(
        "conv_groups_not_dividing_out_channels",
        seeded(
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 3, "groups": 3},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (#0, Conv1d): groups: out_channels 2 is not divisible by groups 3"),
    ),
    Broken(
        "conv_same_padding_with_stride",
        seeded(
            {"name": "conv", "type": "Conv1d", "out_channels": 3, "kernel_size": 3, "padding": "same", "stride": 2},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (#0, Conv1d): padding: 'same' needs stride 1"),
    ),
    Broken(
        "pool_padding_over_half_the_kernel",
        doc(
            {"name": "pool", "type": "MaxPool1d", "kernel_size": 2, "padding": 2},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'pool' (#0, MaxPool1d): padding: 2 is more than half the kernel size 2"),
    ),
    Broken(
        "avg_pool_divisor_zero",
        doc(
            {"name": "pool", "type": "AvgPool2d", "kernel_size": 2, "divisor_override": 0},
            inputs=[{"name": "x", "shape": [2, 4, 4]}],
        ),
        ("model.yaml", "'pool' (AvgPool2d)", "divisor_override: must not be 0"),
    ),
    Broken(
        "avg_pool1d_has_no_divisor_override",
        doc(
            {"name": "pool", "type": "AvgPool1d", "kernel_size": 2, "divisor_override": 2},
            inputs=[{"name": "x", "shape": [2, 4]}],
        ),
        ("model.yaml", "'pool' (AvgPool1d)", "'divisor_override' is not a field of AvgPool1d"),
    ),
    Broken(
        "adaptive_pool_output_size_zero",
        doc(
            {"name": "pool", "type": "AdaptiveAvgPool2d", "output_size": [0, 2]},
            inputs=[{"name": "x", "shape": [2, 4, 4]}],
        ),
        ("model.yaml", "'pool' (AdaptiveAvgPool2d)", "output_size: must be an integer ≥ 1 or null"),
    ),
    Broken(
        "group_norm_groups_not_dividing_channels",
        seeded({"name": "gn", "type": "GroupNorm", "num_groups": 4}, inputs=[{"name": "x", "shape": [6, 3]}]),
        ("model.yaml", "'gn' (#0, GroupNorm): num_groups: 6 channels do not split into 4 groups"),
    ),
    Broken(
        "group_norm_one_value_per_group",
        seeded({"name": "gn", "type": "GroupNorm", "num_groups": 3}, inputs=[{"name": "x", "shape": [3]}]),
        ("model.yaml", "'gn' (#0, GroupNorm): num_groups: 3 groups over per-sample shape [3]", "at least 2"),
    ),
    Broken(
        "embedding_padding_idx_out_of_range",
        seeded(
            {"name": "emb", "type": "Embedding", "num_embeddings": 5, "embedding_dim": 2, "padding_idx": 5},
            inputs=[{"name": "ids", "shape": [3], "dtype": "int64"}],
        ),
        ("model.yaml", "'emb' (Embedding)", "padding_idx: must be within num_embeddings: -5..4"),
    ),
    Broken(
        "embedding_without_num_embeddings",
        seeded(
            {"name": "emb", "type": "Embedding", "embedding_dim": 2},
            inputs=[{"name": "ids", "shape": [3], "dtype": "int64"}],
        ),
        ("model.yaml", "'emb' (Embedding)", "missing the required field 'num_embeddings'"),
    ),
    Broken(
        "embedding_max_norm_is_not_served",
        seeded(
            {"name": "emb", "type": "Embedding", "num_embeddings": 5, "embedding_dim": 2, "max_norm": 1.0},
            inputs=[{"name": "ids", "shape": [3], "dtype": "int64"}],
        ),
        ("model.yaml", "'emb' (Embedding)", "'max_norm' is not a field of Embedding"),
    ),
    # --- more of torch.nn: shapes, wiring and index inputs ----------------------------------------------
    Broken(
        "conv_channels_mismatch",
        seeded(
            {"name": "conv", "type": "Conv1d", "in_channels": 4, "out_channels": 2, "kernel_size": 3},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (#0, Conv1d)", "4 channels in the first dimension", "input 'x'", "[3, 8]"),
    ),
    Broken(
        "conv1d_on_a_flat_sample",
        seeded(
            {"name": "fc", "type": "Linear", "out_features": 8},
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 3},
        ),
        ("model.yaml", "'conv' (#1, Conv1d)", "per-sample shape [C, L]", "layer 'fc'", "[8]"),
    ),
    Broken(
        "conv2d_on_a_sequence",
        seeded(
            {"name": "conv", "type": "Conv2d", "out_channels": 2, "kernel_size": 3},
            inputs=[{"name": "x", "shape": [3, 8]}],
        ),
        ("model.yaml", "'conv' (#0, Conv2d)", "per-sample shape [C, H, W]", "input 'x'", "[3, 8]"),
    ),
    Broken(
        "conv_kernel_larger_than_input",
        seeded(
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 3},
            inputs=[{"name": "x", "shape": [3, 2]}],
        ),
        ("model.yaml", "'conv' (#0, Conv1d)", "spatial sizes of at least [3]", "input 'x'", "[3, 2]"),
    ),
    Broken(
        "conv_reflect_padding_beyond_input",
        seeded(
            {
                "name": "conv",
                "type": "Conv1d",
                "out_channels": 2,
                "kernel_size": 3,
                "padding": 2,
                "padding_mode": "reflect",
            },
            inputs=[{"name": "x", "shape": [3, 2]}],
        ),
        ("model.yaml", "'conv' (#0, Conv1d)", "above the padding [2] to reflect", "[3, 2]"),
    ),
    Broken(
        "pool_window_larger_than_input",
        doc({"name": "pool", "type": "MaxPool2d", "kernel_size": [2, 5]}, inputs=[{"name": "x", "shape": [1, 4, 4]}]),
        ("model.yaml", "'pool' (#0, MaxPool2d)", "spatial sizes of at least [2, 5]", "input 'x'", "[1, 4, 4]"),
    ),
    Broken(
        "instance_norm_over_one_value",
        doc({"name": "norm", "type": "InstanceNorm1d"}, inputs=[{"name": "x", "shape": [6, 1]}]),
        ("model.yaml", "'norm' (#0, InstanceNorm1d)", "a length of at least 2", "input 'x'", "[6, 1]"),
    ),
    Broken(
        "prelu_slopes_not_matching_channels",
        seeded({"name": "act", "type": "PReLU", "num_parameters": 3}, inputs=[{"name": "x", "shape": [6, 3]}]),
        ("model.yaml", "'act' (#0, PReLU)", "3 channels in the first dimension", "[6, 3]"),
    ),
    Broken(
        "glu_over_an_odd_size",
        doc({"name": "glu", "type": "GLU"}, inputs=[{"name": "x", "shape": [5]}]),
        ("model.yaml", "'glu' (#0, GLU)", "even size in dimension -1", "[5]"),
    ),
    Broken(
        "add_of_different_shapes",
        seeded(FC, {"name": "sum", "type": "Add", "inputs": ["x", "fc"]}),
        ("model.yaml", "'sum' (#1, Add)", "broadcasts with [3] from input 'x'", "layer 'fc'", "[2]"),
    ),
    Broken(
        "multiply_of_different_ranks",
        seeded(
            {"name": "grid", "type": "Unflatten", "dim": 1, "unflattened_size": [3, 1]},
            {"name": "gate", "type": "Multiply", "inputs": ["grid", "x"]},
        ),
        ("model.yaml", "'gate' (#1, Multiply)", "broadcasts with [3, 1] from layer 'grid'", "input 'x'", "[3]"),
    ),
    Broken(
        "add_of_one_input",
        doc({"name": "sum", "type": "Add"}),
        ("model.yaml", "'sum' (#0, Add): takes 2 or more inputs, got 1: ['x']"),
    ),
    Broken(
        "bilinear_as_first_layer_of_a_one_input_model",
        seeded({"name": "bil", "type": "Bilinear", "out_features": 2}),
        ("model.yaml", "'bil' (#0, Bilinear): takes 2 input(s), got 1: ['x']"),
    ),
    Broken(
        "concat_of_different_sizes_outside_dim",
        doc(
            {"name": "cat", "type": "Concat", "inputs": ["a", "b"]},
            inputs=[{"name": "a", "shape": [3, 2]}, {"name": "b", "shape": [2, 2]}],
        ),
        ("model.yaml", "'cat' (#0, Concat)", "[3, *] like input 'a'", "input 'b'", "[2, 2]"),
    ),
    Broken(
        "concat_over_the_batch",
        doc({"name": "cat", "type": "Concat", "inputs": ["x", "x"], "dim": 0}),
        ("model.yaml", "'cat' (#0, Concat): dim: 0 is the batch dimension"),
    ),
    Broken(
        "embedding_of_float_values",
        seeded({"name": "emb", "type": "Embedding", "num_embeddings": 5, "embedding_dim": 2}),
        (
            "model.yaml",
            "'emb' (#0, Embedding) looks up integer indices",
            "input 'x' holds float32 values",
            "dtype: int64",
        ),
    ),
    Broken(
        "embedding_of_a_layer",
        seeded(
            {"name": "act", "type": "ReLU"},
            {"name": "emb", "type": "Embedding", "num_embeddings": 5, "embedding_dim": 2},
        ),
        ("model.yaml", "'emb' (#1, Embedding) looks up integer indices", "layer 'act' holds float32 values"),
    ),
    Broken(
        "linear_on_indices",
        seeded(FC, inputs=[{"name": "ids", "shape": [3], "dtype": "int64"}]),
        (
            "model.yaml",
            "'fc' (#0, Linear) computes on float32 values",
            "input 'ids' holds int64 indices",
            "only Embedding",
        ),
    ),
    Broken(
        "input_dtype_float",
        doc({"name": "act", "type": "ReLU"}, inputs=[{"name": "x", "shape": [3], "dtype": "float64"}]),
        ("model.yaml", "inputs[0].dtype", "int32, int64"),
    ),
    Broken(
        "model_dtype_int64",
        doc({"name": "act", "type": "ReLU"}, dtype="int64"),
        ("model.yaml", "dtype", "float32, float64"),
    ),
    # --- inline tensors --------------------------------------------------------------------------
    Broken(
        "inline_weight_wrong_shape",
        doc({**FC_INLINE, "weight": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}),
        ("model.yaml", "'fc' (#0, Linear)", "weight has shape [3, 2], expected [2, 3]"),
    ),
    Broken(
        "inline_bias_wrong_shape_json",
        doc({**FC_INLINE, "bias": [[0.5, -0.5]]}),
        ("model.json", "'fc' (#0, Linear)", "bias has shape [1, 2], expected [2]"),
        file="model.json",
    ),
    Broken(
        "inline_weight_ragged",
        doc({**FC_INLINE, "weight": [[1.0, 2.0, 3.0], [4.0, 5.0]]}),
        ("model.yaml", "'fc' (#0, Linear)", "weight", "not a rectangular nested list"),
    ),
    Broken(
        "inline_weight_strings",
        doc({**FC_INLINE, "weight": [["1", "2", "3"], ["4", "5", "6"]]}),
        ("model.yaml", "'fc' (#0, Linear)", "weight", "values must be numbers"),
    ),
    Broken(
        "inline_bias_booleans",
        doc({**FC_INLINE, "bias": [True, False]}),
        ("model.yaml", "'fc' (#0, Linear)", "bias", "values must be numbers"),
    ),
    Broken(
        "inline_weight_nan",
        doc({**FC_INLINE, "weight": [[1.0, float("nan"), 3.0], [4.0, 5.0, 6.0]]}),
        ("model.yaml", "'fc' (#0, Linear)", "weight contains NaN"),
    ),
    Broken(
        "inline_weight_infinity_json",
        '{"inputs": [{"name": "x", "shape": [1]}], "layers": [{"name": "fc", "type": "Linear", "out_features": 1,'
        ' "weight": [[Infinity]], "bias": [0]}]}',
        ("model.json", "'fc' (#0, Linear)", "weight contains NaN or infinite"),
        file="model.json",
    ),
    Broken(
        "inline_weight_beyond_float32",
        doc({**FC_INLINE, "weight": [[1.0e39, 2.0, 3.0], [4.0, 5.0, 6.0]]}),
        ("model.yaml", "'fc' (#0, Linear)", "weight", "out of range for float32"),
    ),
    Broken(
        "inline_weight_huge_integer_json",
        doc({**FC_INLINE, "weight": [[10**400, 2, 3], [4, 5, 6]]}),
        ("model.json", "'fc' (#0, Linear)", "weight", "out of range for float32"),
        file="model.json",
    ),
    Broken(
        "inline_tensor_the_layer_has_not",
        doc({"name": "act", "type": "ReLU", "weight": [1.0, 2.0, 3.0]}),
        ("model.yaml", "'act' (#0, ReLU)", "has no tensor weight"),
    ),
    Broken(
        "inline_running_mean_on_linear",
        doc({**FC_INLINE, "bias": False, "running_mean": [0.0, 0.0]}),
        ("model.yaml", "'fc' (#0, Linear)", "has no tensor running_mean"),
    ),
    # --- tensors from anywhere ------------------------------------------------------------------
    Broken(
        "missing_tensors_without_init",
        doc(
            {"name": "fc", "type": "Linear", "out_features": 4, "weight": [[0.0, 0.0, 0.0] for _ in range(4)]},
            {"name": "bn", "type": "BatchNorm1d"},
            {"name": "act", "type": "ReLU"},
        ),
        (
            "model.yaml",
            "missing tensors ['bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.weight', 'fc.bias']",
            "seed",
        ),
    ),
    Broken(
        "weight_inline_and_in_file",
        doc(FC_INLINE, weights=WEIGHTS),
        ("model.yaml", "'fc' (#0, Linear)", "weight is given both inline and in weights.safetensors"),
        setup=tensors(fc__weight=np.ones((2, 3), np.float32)),
    ),
    # --- weights files -------------------------------------------------------------------------------
    Broken(
        "unexpected_tensor_in_file",
        doc(FC, weights=WEIGHTS),
        ("weights.safetensors", "unexpected tensors ['fc.extra', 'fc2.weight']"),
        setup=fc_tensors(fc__extra=np.ones(2, np.float32), fc2__weight=np.ones(2, np.float32)),
    ),
    Broken(
        "file_tensor_f64_in_float32_model",
        doc(FC, weights=WEIGHTS),
        ("weights.safetensors", "'fc.weight'", "F64", "float32", "F32"),
        setup=fc_tensors(fc__weight=np.ones((2, 3), np.float64)),
    ),
    Broken(
        "file_tensor_f32_in_float64_model",
        doc(FC, weights=WEIGHTS, dtype="float64"),
        ("weights.safetensors", "'fc.", "F32", "float64", "F64"),
        setup=fc_tensors(),
    ),
    Broken(
        "file_tensor_wrong_shape",
        doc(FC, weights=WEIGHTS),
        ("weights.safetensors", "'fc.weight'", "'fc' (#0, Linear)", "[3, 2]", "expected [2, 3]"),
        setup=fc_tensors(fc__weight=np.ones((3, 2), np.float32)),
    ),
    Broken(
        "file_tensor_nan",
        doc(FC, weights=WEIGHTS),
        ("weights.safetensors", "'fc.bias'", "'fc' (#0, Linear)", "NaN"),
        setup=fc_tensors(fc__bias=np.array([0.0, np.nan], np.float32)),
    ),
    Broken(
        "weights_file_missing",
        doc(FC, weights=WEIGHTS),
        ("model.yaml", "weights", "'weights.safetensors' not found"),
    ),
    Broken(
        "weights_file_is_a_folder",
        doc(FC, weights="sub"),
        ("model.yaml", "weights", "'sub' not found"),
        setup=lambda folder: (folder / "sub").mkdir(),
    ),
    Broken(
        "weights_path_escaping_with_dotdot",
        doc(FC, weights="../outside.safetensors"),
        ("model.yaml", "weights", "'../outside.safetensors'", "outside the model folder"),
        setup=outside_file,
    ),
    Broken(
        "weights_path_absolute",
        doc(FC, weights="/etc/hostname"),
        ("model.yaml", "weights", "'/etc/hostname' is absolute"),
    ),
    Broken(
        "weights_symlink_pointing_outside",
        doc(FC, weights=WEIGHTS),
        ("model.yaml", "weights", "'weights.safetensors'", "outside the model folder"),
        setup=symlink_outside,
    ),
    Broken(
        "definition_symlink_pointing_outside",
        None,
        ("model.yaml", "a symlink that points outside the model folder"),
        setup=definition_symlink_outside,
    ),
    Broken(
        "a_file_that_is_no_definition_has_its_keys_left_unquoted",
        "db_password: hunter2\napi_key: abc\n",
        ("model.yaml", "not a model definition (it has neither inputs nor layers)"),
    ),
    Broken(
        "weights_symlink_loop",
        doc(FC, weights=WEIGHTS),
        ("model.yaml", "weights", "'weights.safetensors'", "symlink loop"),
        setup=symlink_loop,
    ),
    Broken(
        "weights_path_with_nul",
        doc(FC, weights="weights\0.safetensors"),
        ("model.yaml", "weights", "NUL"),
    ),
    Broken(
        "weights_path_too_long",
        doc(FC, weights="w" * 300),
        ("model.yaml", "weights", "cannot be opened", "too long"),
    ),
    Broken(
        "weights_file_torch_save_pickle",
        doc(FC, weights="weights.pt"),
        ("weights.pt", "not a readable safetensors file"),
        setup=torch_pickle,
    ),
    Broken(
        "weights_file_pickle_bytes",
        doc(FC, weights=WEIGHTS),
        ("weights.safetensors", "not a readable safetensors file"),
        setup=raw_file(WEIGHTS, pickle.dumps({"fc.weight": np.ones((2, 3), np.float32)})),
    ),
    Broken(
        "weights_file_empty",
        doc(FC, weights=WEIGHTS),
        ("weights.safetensors", "not a readable safetensors file"),
        setup=raw_file(WEIGHTS, b""),
    ),
]


def write_case(tmp_path: Path, case: Broken) -> Path:
    folder = tmp_path / case.folder
    folder.mkdir()
    definition = case.definition
    if isinstance(definition, dict):
        definition = json.dumps(definition) if case.file == "model.json" else yaml.safe_dump(definition)
    if isinstance(definition, str):
        definition = definition.replace("@FOLDER@", str(folder)).encode()
    if definition is not None:
        (folder / case.file).write_bytes(definition)
    if case.setup:
        case.setup(folder)
    return folder


def test_the_table_has_unique_ids():
    assert len({case.id for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_definition_is_refused_with_a_clear_message(tmp_path, capfd, case):
    folder = write_case(tmp_path, case)
    with pytest.raises(DefinitionError) as info:
        load_stack(folder)
    message = info.value.message
    assert str(info.value) == message
    missing = [fragment for fragment in case.fragments if fragment not in message]
    assert not missing, f"{missing} not in {message!r}"
    assert str(tmp_path) not in message  # names files as the model folder does, not by server paths
    assert capfd.readouterr().out == ""  # nothing ran (no `echo hi`)
    if case.check:
        case.check(folder)


def test_a_billion_parameter_layer_is_refused_before_any_allocation(tmp_path):
    import tracemalloc

    folder = tmp_path / "huge"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [8]}]\ninit: {seed: 0}\n"
        "layers:\n  - {name: small, type: Linear, out_features: 100000}\n  - {name: huge, type: Linear, out_features: 10000}\n"
    )
    tracemalloc.start()
    with pytest.raises(DefinitionError) as caught:
        load_stack(folder, ModelLimits(max_parameters=10_000_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "layer 'huge' (#1, Linear): the model needs 1,000,910,000 parameter values" in caught.value.message
    assert "LAYERSERVE_MAX_MODEL_PARAMETERS" in caught.value.message
    assert peak < 50 * 1024 * 1024


def test_a_layer_with_a_huge_output_and_no_parameters_is_refused_before_it_runs(tmp_path):
    folder = tmp_path / "pool"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [1, 4, 4]}]\n"
        "layers:\n  - {name: blowup, type: AdaptiveAvgPool2d, output_size: [100000, 100000]}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_stack(folder)
    assert (
        "layer 'blowup' (#0, AdaptiveAvgPool2d): its output [1, 100000, 100000] brings the values one sample "
        "makes to 10,000,000,016, over the limit of 67,108,864 a request may make (LAYERSERVE_MAX_REQUEST_VALUES)"
    ) in caught.value.message


def test_a_huge_input_is_refused_before_any_layer(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [1, 100000, 100000]}]\n"
        "layers:\n  - {name: pool, type: AdaptiveAvgPool2d, output_size: [1, 1]}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_stack(folder)
    assert "input 'x' of shape [1, 100000, 100000] holds 10,000,000,000 values per sample" in caught.value.message
    assert "LAYERSERVE_MAX_REQUEST_VALUES" in caught.value.message


def test_an_answer_too_big_for_one_sample_is_refused(tmp_path):
    folder = tmp_path / "grow"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [1, 4]}]\nlayers:\n  - {name: grow, type: AdaptiveAvgPool1d, output_size: 1000}\n"
    )
    with pytest.raises(
        DefinitionError, match=r"outputs \['grow'\] hold 1,000 values per sample, over the limit of 999"
    ):
        load_stack(folder, ModelLimits(max_answer_values=999))
    assert load_stack(folder, ModelLimits(max_answer_values=1000))[1].answer_values == 1000


def test_the_values_one_sample_makes_are_counted_from_shape_inference(models_dir):
    _, stack = load_stack(models_dir / "fold")
    inputs = 2
    assert stack.sample_values == inputs + sum(math.prod(layer.output_shape) for layer in stack.built)


def test_an_oversized_definition_file_is_refused_unread(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [2]}]\nlayers:\n" + "  - {name: a, type: ReLU}\n" * 10
    )
    with pytest.raises(DefinitionError) as caught:
        load_stack(folder, ModelLimits(max_definition_bytes=100))
    assert "model.yaml: 300 bytes, over the limit of 100 (LAYERSERVE_MAX_DEFINITION_BYTES)" in caught.value.message


ALIAS_BOMB = """
inputs: [{name: x, shape: [2]}]
layers:
  - name: fc
    type: Linear
    out_features: 2
    bias: [0, 0]
    weight: &a [[1, 1], [1, 1]]
    extra: [*a, *a]
"""


def test_yaml_aliases_are_refused_before_any_value_is_built(tmp_path):
    bomb = "a: &a [" + ", ".join(["0"] * 10) + "]\n"
    for level in "bcdefghijkl":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    folder = tmp_path / "bomb"
    folder.mkdir()
    (folder / "model.yaml").write_text("inputs: [{name: x, shape: [2]}]\nlayers: [{name: r, type: ReLU}]\n" + bomb)
    with pytest.raises(DefinitionError) as caught:
        load_stack(folder)  # 10¹² leaves if anything walked them
    assert caught.value.message.startswith("model.yaml: line 3, column 4: this value is repeated by a YAML alias")
    (folder / "model.yaml").write_text(ALIAS_BOMB)
    with pytest.raises(DefinitionError, match="line 8, column 13: .* anchors and aliases are not accepted"):
        load_stack(folder)


@pytest.mark.parametrize(
    ("weight", "fragment"),
    [
        ("[[1, 1, 1], [1, 1, 1]]", "weight has shape [2, 3], expected [2, 2]"),
        ("[" + ", ".join(["[1, 1]"] * 5000) + "]", "weight has shape [5000, 2], expected [2, 2]"),
        ("[[1, 1], [1, 1, 1, 1, 1, 1]]", "weight: not a rectangular nested list of numbers"),
        ("[[1, 1], [1, true]]", "weight: values must be numbers"),
    ],
)
def test_an_inline_tensor_is_measured_against_its_shape_before_it_is_read(tmp_path, weight, fragment):
    folder = tmp_path / "inline"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [2]}]\n"
        f"layers: [{{name: fc, type: Linear, out_features: 2, bias: [0, 0], weight: {weight}}}]\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_stack(folder)
    assert f"model.yaml line 2: layer 'fc' (#0, Linear): {fragment}" in caught.value.message
