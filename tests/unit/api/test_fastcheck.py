"""The hot path's compiled schema check agrees with marshmallow on what it accepts."""

import copy

import pytest
from marshmallow import ValidationError

from service.api.fastcheck import compile_schema
from service.api.schemas import InferRequestSchema
from service.errors import BadRequest

VALID = {
    "id": "r1",
    "parameters": {"binary_data_output": True},
    "inputs": [
        {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.0], "parameters": {}},
        {"name": "y", "shape": [2], "datatype": "FP32", "data": [[1], [2]]},
    ],
    "outputs": [{"name": "act", "parameters": {"binary_data": True}}],
}
REPLACEMENTS = [None, 0, -1, 1.5, True, "s", [], [1], {}, {"k": 1}]


def paths(document, prefix=()):
    """Every key path in a request document, nested lists and objects included."""
    items = document.items() if isinstance(document, dict) else enumerate(document)
    for key, value in items:
        yield (*prefix, key)
        if isinstance(value, (dict, list)):
            yield from paths(value, (*prefix, key))


def mutations():
    for path in paths(VALID):
        for replacement in REPLACEMENTS:
            yield f"{path}={replacement!r}", replaced(path, replacement)
        yield f"del {path}", deleted(path)
    for path in [(), ("inputs", 0), ("outputs", 0)]:
        yield f"extra at {path}", replaced((*path, "extra"), 1)


def replaced(path, value):
    document = copy.deepcopy(VALID)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, list) and path[-1] >= len(parent):
        return document
    parent[path[-1]] = value
    return document


def deleted(path):
    document = copy.deepcopy(VALID)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return document


CASES = list(mutations())
check = compile_schema(InferRequestSchema)


def accepted_by_marshmallow(document) -> bool:
    try:
        InferRequestSchema().load(document)
    except ValidationError:
        return False
    return True


def accepted_by_fastcheck(document) -> bool:
    try:
        check(document)
    except BadRequest:
        return False
    return True


def test_the_valid_request_passes_both():
    assert accepted_by_marshmallow(VALID) and accepted_by_fastcheck(VALID)


@pytest.mark.parametrize(("label", "document"), CASES, ids=[label for label, _ in CASES])
def test_fastcheck_agrees_with_marshmallow(label, document):
    assert accepted_by_fastcheck(document) == accepted_by_marshmallow(document)


def test_the_corpus_holds_both_outcomes():
    outcomes = {accepted_by_marshmallow(document) for _, document in CASES}
    assert outcomes == {True, False}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"inptus": []}, "invalid request: inptus: Unknown field.; inputs: Missing data for required field."),
        ({"inputs": []}, "invalid request: inputs: Shorter than minimum length 1."),
        (
            {"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}]},
            "invalid request: inputs[0].shape[0]: Must be greater than or equal to 0 and less than or equal to 9223372036854775807.",
        ),
        ({"inputs": [{"name": 3, "shape": [], "datatype": "FP32", "data": []}]}, "inputs[0].name: Not a valid string."),
        ({"inputs": [{"name": "x", "shape": [True], "datatype": "FP32", "data": []}]}, "Not a valid integer."),
    ],
)
def test_messages_name_the_field_like_marshmallow(document, message):
    with pytest.raises(BadRequest) as caught:
        check(document)
    assert message in caught.value.message


def test_fields_it_cannot_compile_are_refused_at_compile_time():
    from marshmallow import Schema, fields

    class WithEmail(Schema):
        email = fields.Email()

    with pytest.raises(NotImplementedError):
        compile_schema(WithEmail)


def test_every_mutation_is_distinct():
    labels = [label for label, _ in CASES]
    assert len(labels) == len(set(labels))
