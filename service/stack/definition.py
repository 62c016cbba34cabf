"""Read a model folder's definition file and validate it, before any torch code runs."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from marshmallow import RAISE, ValidationError

from ..errors import DefinitionError, join_clipped
from .deadline import LoadDeadline
from .layers import LAYER_TYPES, LayerType
from .limits import DEFAULT_MAX_DEFINITION_BYTES
from .schema import TENSOR_FIELDS, DefinitionSchema, flatten_messages

DEFINITION_FILES = ("model.yaml", "model.yml", "model.json")


class DefinitionLoader(yaml.SafeLoader):
    """The safe loader (no python tags), reading 1e-6 as a number as YAML 1.2 and JSON do."""


DefinitionLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True)
class InputDef:
    name: str
    shape: tuple[int, ...]
    dtype: str | None = None  # int64 or int32 for Embedding indices; None: the model's dtype


@dataclass(frozen=True)
class LayerDef:
    file: str  # the definition file's name, which messages about the layer start with
    index: int
    name: str
    type: LayerType
    inputs: list[str] | None  # None: the previous layer's output (or the only model input)
    params: dict
    tensors: dict = field(default_factory=dict)  # inline values, by torch state-dict name

    @property
    def label(self) -> str:
        return f"layer {self.name!r} (#{self.index}, {self.type.name})"

    @property
    def where(self) -> str:
        return f"{self.file}: {self.label}"


@dataclass(frozen=True)
class Definition:
    folder: Path
    file: Path
    name: str
    version: int
    description: str
    dtype: str
    max_batch_size: int | None
    inputs: list[InputDef]
    layers: list[LayerDef]
    outputs: list[str]
    weights: str | None
    seed: int | None
    dynamic_batching: dict | None = None
    example: dict | None = None  # a batch per input name, as nested lists; checked by inference.check_example


def find_definition_file(folder: Path) -> Path:
    """The definition file, refused if it is a symlink out of the model folder (as weights are)."""
    for name in DEFINITION_FILES:
        if (folder / name).is_file():
            if not (folder / name).resolve().is_relative_to(folder.resolve()):
                raise DefinitionError(f"{name}: a symlink that points outside the model folder")
            return folder / name
    raise DefinitionError(f"{folder.name}: no definition file (looked for {', '.join(DEFINITION_FILES)})")


def read_document(file: Path, max_bytes: int = DEFAULT_MAX_DEFINITION_BYTES):
    """Parse YAML (safe loader only: no python tags) or JSON."""
    size = file.stat().st_size
    if size > max_bytes:
        raise DefinitionError(
            f"{file.name}: {size:,} bytes, over the limit of {max_bytes:,} (LAYERSERVE_MAX_DEFINITION_BYTES); "
            "put large tensors in a weights file"
        )
    try:
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json":
            return json.loads(text)
        return parse_yaml(file, text)
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{file.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"{file.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{file.name}: invalid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise DefinitionError(f"{file.name}: lists or mappings nested too deeply to parse") from None


# libyaml's parser, where PyYAML has it, with the definition's resolvers and constructors: it
# reads a large definition tens of times faster than the pure-Python one.
_PARSER = (
    type("CDefinitionLoader", (yaml.CSafeLoader, DefinitionLoader), {}) if yaml.__with_libyaml__ else DefinitionLoader
)


def parse_yaml(file: Path, text: str):
    """The document in `text`, composed, checked for aliases, then constructed. An alias makes
    one node stand for many: nested ones grow a few hundred bytes into 10¹² values, which every
    later step would walk. A definition is written out in full."""
    loader = _PARSER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        seen, pending = set(), [root]
        while pending:
            node = pending.pop()
            if id(node) in seen:
                mark = node.start_mark
                raise DefinitionError(
                    f"{file.name}: line {mark.line + 1}, column {mark.column + 1}: this value is repeated by a "
                    "YAML alias (*); anchors and aliases are not accepted in a definition, write each value out"
                )
            seen.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                pending.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                pending.extend(item for pair in node.value for item in pair)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_definition(
    folder: Path, max_bytes: int = DEFAULT_MAX_DEFINITION_BYTES, deadline: LoadDeadline | None = None
) -> Definition:
    folder = Path(folder)
    file = find_definition_file(folder)
    document = read_document(file, max_bytes)
    if deadline is not None:
        deadline.check(f"after reading {file.name}")
    if not isinstance(document, dict):
        raise DefinitionError(f"{file.name}: expected a mapping at the top level, got {type(document).__name__}")
    if "inputs" not in document and "layers" not in document:
        # not a definition at all: its keys are none of our business, and may be secrets
        raise DefinitionError(f"{file.name}: not a model definition (it has neither inputs nor layers)")
    try:
        data = DefinitionSchema().load(document)
    except ValidationError as exc:
        raise DefinitionError(f"{file.name}: " + join_clipped(flatten_messages(exc.messages))) from None
    if data.get("name", folder.name) != folder.name:
        raise DefinitionError(f"{file.name}: name {data['name']!r} does not match its folder {folder.name!r}")
    layers = [_layer(file, index, raw) for index, raw in enumerate(data["layers"])]
    return Definition(
        folder=folder,
        file=file,
        name=folder.name,
        version=data["version"],
        description=data["description"],
        dtype=data["dtype"],
        max_batch_size=data["max_batch_size"],
        inputs=[InputDef(i["name"], tuple(i["shape"]), i["dtype"]) for i in data["inputs"]],
        layers=layers,
        outputs=data.get("outputs") or [layers[-1].name],
        weights=data["weights"],
        seed=data["init"]["seed"] if data["init"] else None,
        dynamic_batching=data["dynamic_batching"],
        example=data["example"],
    )


def _layer(file: Path, index: int, raw: dict) -> LayerDef:
    layer_type = LAYER_TYPES[raw["type"]]
    rest = {k: v for k, v in raw.items() if k not in ("name", "type", "inputs")}
    # `bias: false` is torch's switch; `bias: [..]` is the tensor.
    tensors = {k: rest.pop(k) for k in TENSOR_FIELDS if k in rest and isinstance(rest[k], list)}
    where = f"{file.name}: layers[{index}] {raw['name']!r} ({layer_type.name})"
    try:
        params = layer_type.params(unknown=RAISE).load(rest)
    except ValidationError as exc:
        raise DefinitionError(f"{where}: " + join_clipped(flatten_messages(exc.messages))) from None
    return LayerDef(file.name, index, raw["name"], layer_type, raw.get("inputs"), params, tensors)
