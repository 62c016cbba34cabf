"""Compile a marshmallow schema into a plain checker for the hot path.

marshmallow's load costs ~40 µs per small request; the inference route cannot afford that.
The checker enforces the same schema (required and unknown fields, types, Length and Range)
with marshmallow's messages and field paths, so the schema stays the one specification and
the OpenAPI document and the hot path cannot drift apart.
"""

from collections.abc import Callable

from marshmallow import RAISE, Schema, ValidationError, fields

from ..errors import BadRequest, cut, join_clipped

Check = Callable[[object, tuple], None]


def compile_schema(schema: type[Schema]) -> Callable[[dict], None]:
    check = _object_check(schema())

    def run(document: dict) -> None:
        check(document, ())

    return run


def _fail(path: tuple, message: str):
    raise BadRequest(f"invalid request: {_format(path)}: {message}" if path else f"invalid request: {message}")


def _format(path: tuple) -> str:
    """('inputs', 0, 'shape') as inputs[0].shape; built only when a check fails."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{cut(key)}" if text else cut(key)
    return text


def _object_check(schema: Schema) -> Check:
    if schema.unknown != RAISE:
        raise NotImplementedError("only schemas that refuse unknown fields are compiled")
    checks = {name: _field_check(field) for name, field in schema.fields.items()}
    required = [name for name, field in schema.fields.items() if field.required]

    def check(value, path):
        if not isinstance(value, dict):
            _fail(path, "Invalid input type.")
        # Unknown and missing together: a misspelled field explains the missing one it stands for.
        problems = [f"{_format((*path, n))}: Unknown field." for n in value if n not in checks]
        problems += [f"{_format((*path, n))}: Missing data for required field." for n in required if n not in value]
        if problems:
            raise BadRequest("invalid request: " + join_clipped(problems))
        for name, item in value.items():
            checks[name](item, (*path, name))

    return check


def _field_check(field: fields.Field) -> Check:
    kind = _kind_check(field)
    limits = [_validator_check(v) for v in field.validators]
    allow_none = field.allow_none

    def check(value, path):
        if value is None:
            if not allow_none:
                _fail(path, "Field may not be null.")
            return
        kind(value, path)
        for limit in limits:
            limit(value, path)

    return check


def _kind_check(field: fields.Field) -> Check:
    if isinstance(field, fields.Nested):
        return _object_check(field.schema)
    if isinstance(field, fields.List):
        inner = _field_check(field.inner)

        def check_list(value, path):
            if not isinstance(value, list):
                _fail(path, "Not a valid list.")
            for index, item in enumerate(value):
                inner(item, (*path, index))

        return check_list
    for field_type, python_type, message in _SCALARS:
        if type(field) is field_type:
            return _scalar_check(python_type, message, strict=getattr(field, "strict", True))
    if type(field) is fields.Raw:
        return lambda value, path: None
    raise NotImplementedError(f"fastcheck cannot compile {type(field).__name__}")


_SCALARS = [
    (fields.String, str, "Not a valid string."),
    (fields.Integer, int, "Not a valid integer."),
    (fields.Boolean, bool, "Not a valid boolean."),
    (fields.Dict, dict, "Not a valid mapping type."),
]


def _scalar_check(python_type: type, message: str, strict: bool) -> Check:
    if python_type is int and not strict:
        raise NotImplementedError("only strict integers are compiled")

    def check(value, path):
        # bool is an int in Python, never in JSON.
        if not isinstance(value, python_type) or (python_type is int and isinstance(value, bool)):
            _fail(path, message)

    return check


def _validator_check(validator) -> Check:
    # marshmallow's validators are cheap plain callables: call them, keep their messages.
    def check(value, path):
        try:
            validator(value)
        except ValidationError as exc:
            _fail(path, " ".join(map(str, exc.messages)))

    return check
