"""Read a model folder's definition file and validate it, before any torch code runs."""

import difflib
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


class LineDict(dict):
    """A mapping that knows the line it starts on in its file (None where the format has none)."""

    line: int | None = None


class DefinitionLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader (no python tags; the C one where PyYAML has it), reading 1e-6 as a number
    as YAML 1.2 and JSON do, and recording the line of every mapping for error messages."""

    def construct_line_mapping(self, node):
        data = LineDict()
        data.line = node.start_mark.line + 1
        yield data
        data.update(self.construct_mapping(node))


DefinitionLoader.add_constructor("tag:yaml.org,2002:map", DefinitionLoader.construct_line_mapping)
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
    line: int | None = None  # where the layer starts in the file

    @property
    def label(self) -> str:
        return f"layer {self.name!r} (#{self.index}, {self.type.name})"

    @property
    def where(self) -> str:
        return f"{_at(self.file, self.line)}: {self.label}"


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
        if "nesting depth" in str(exc):  # the C parser's limit; the Python one hits RecursionError
            raise DefinitionError(f"{file.name}: lists or mappings nested too deeply to parse") from None
        raise DefinitionError(f"{file.name}: invalid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise DefinitionError(f"{file.name}: lists or mappings nested too deeply to parse") from None


def parse_yaml(file: Path, text: str):
    """The document in `text`, composed, checked for aliases, then constructed. An alias makes
    one node stand for many: nested ones grow a few hundred bytes into 10¹² values, which every
    later step would walk. A definition is written out in full."""
    loader = DefinitionLoader(text)
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
    lines = _layer_lines(file, document)
    try:
        data = DefinitionSchema().load(document)
    except ValidationError as exc:
        raise DefinitionError(_schema_errors(file.name, exc.messages, document, lines)) from None
    if data.get("name", folder.name) != folder.name:
        raise DefinitionError(f"{file.name}: name {data['name']!r} does not match its folder {folder.name!r}")
    layers = [_layer(file, index, raw, lines[index]) for index, raw in enumerate(data["layers"])]
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


def _layer(file: Path, index: int, raw: dict, line: int | None) -> LayerDef:
    at = _at(file.name, line)
    if raw["type"] not in LAYER_TYPES:
        raise DefinitionError(
            f"unknown layer type {raw['type']!r} in layer {raw['name']!r} ({at}){_did_you_mean(raw['type'], LAYER_TYPES)}; "
            "`layerserve validate --types` lists them all"
        )
    layer_type = LAYER_TYPES[raw["type"]]
    rest = {k: v for k, v in raw.items() if k not in ("name", "type", "inputs")}
    # `bias: false` is torch's switch; `bias: [..]` is the tensor.
    tensors = {k: rest.pop(k) for k in TENSOR_FIELDS if k in rest and isinstance(rest[k], list)}
    schema = layer_type.params(unknown=RAISE)
    try:
        params = schema.load(rest)
    except ValidationError as exc:
        known = [*schema.fields, *TENSOR_FIELDS, "name", "type", "inputs"]
        problems = _field_problems(exc.messages, known, layer_type.name)
        raise DefinitionError(f"{at}: layer {raw['name']!r} ({layer_type.name}): {join_clipped(problems)}") from None
    return LayerDef(file.name, index, raw["name"], layer_type, raw.get("inputs"), params, tensors, line)


def _at(file_name: str, line: int | None) -> str:
    return f"{file_name} line {line}" if line else file_name


def _did_you_mean(word: str, choices) -> str:
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def closest(word: str, choices) -> str | None:
    """The choice `word` most likely misspells, case aside ('Relu' → 'ReLU'), or None."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _field_problems(messages: dict, known: list[str], owner: str) -> list[str]:
    """marshmallow's messages in plain words: a misspelt field is named with its likely meaning."""
    unknown = [name for name, texts in messages.items() if "Unknown field." in texts]
    missing = [name for name, texts in messages.items() if "Missing data for required field." in texts]
    problems, explained = [], set()
    for name in unknown:
        close = closest(name, known)
        if close in missing:
            explained.add(close)  # the misspelling is why it is missing
        hint = f"; did you mean {close!r}?" if close else ""
        problems.append(f"{name!r} is not a field of {owner}{hint}")
    problems += [f"missing the required field {name!r}" for name in missing if name not in explained]
    for name, texts in messages.items():
        if name not in unknown and name not in missing:
            problems += [f"{name}: {line}" for line in flatten_messages(texts)]
    return problems


def _schema_errors(file_name: str, messages: dict, document: dict, lines: list[int | None]) -> str:
    """Top-level errors in plain words; errors inside a layer name the layer and its line."""
    problems = []
    layer_messages = messages.get("layers") if isinstance(messages.get("layers"), dict) else {}
    layers = document.get("layers") if isinstance(document.get("layers"), list) else []
    for index, texts in sorted(layer_messages.items(), key=lambda item: str(item[0])):
        raw = layers[index] if isinstance(index, int) and index < len(layers) else None
        if isinstance(raw, dict) and isinstance(texts, dict):
            name = raw.get("name", f"#{index}")
            at = _at(file_name, lines[index] if index < len(lines) else None)
            fields = _field_problems(texts, ["name", "type", "inputs"], "a layer")
            problems.append(f"{at}: layer {name!r}: {'; '.join(fields)}")
        else:
            problems += [f"{file_name}: {line}" for line in flatten_messages(texts, f"layers[{index}]")]
    rest = {key: value for key, value in messages.items() if not (key == "layers" and layer_messages)}
    if rest:
        top = [key for key in rest if isinstance(rest[key], list)]
        known = [*_definition_fields()]
        plain = _field_problems({key: rest[key] for key in top}, known, "the model definition")
        nested = {key: value for key, value in rest.items() if key not in top}
        problems.append(f"{file_name}: " + "; ".join([*plain, *flatten_messages(nested)]))
    return join_clipped(problems)


def _definition_fields() -> list[str]:
    return list(DefinitionSchema().fields)


def _layer_lines(file: Path, document) -> list[int | None]:
    """The line each layer starts on: recorded by the YAML loader, searched for by name in JSON."""
    layers = document.get("layers") if isinstance(document, dict) else None
    if not isinstance(layers, list):
        return []
    if file.suffix != ".json":
        return [getattr(layer, "line", None) for layer in layers]
    text = file.read_text(encoding="utf-8")
    return [_json_line(text, layer.get("name")) if isinstance(layer, dict) else None for layer in layers]


def _json_line(text: str, name) -> int | None:
    match = re.search(r'"name"\s*:\s*' + re.escape(json.dumps(name)), text) if isinstance(name, str) else None
    return text.count("\n", 0, match.start()) + 1 if match else None
