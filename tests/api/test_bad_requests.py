"""Every way a request can be wrong gets its exact status and a JSON error that says what and where.

One table; each case names the app it runs against:
  models  — the bundled models (session-wide),
  own     — a folder of its own: a copy of fold, `small` (max_batch_size: 2) and `broken` (bad model.yaml),
  limited — a copy of fold behind a MAX_BODY_BYTES of LIMIT,
  timed   — a copy of fold behind an INFER_TIMEOUT so short that every pass is out of time.
"""

import json
import sys
from dataclasses import dataclass

import pytest

from .helpers import MODELS, app_over, error_of, infer_body, output, tensor, write_models

LIMIT = 256
BUNDLED_NAMES = ", ".join(sorted(p.name for p in MODELS.iterdir() if (p / "model.yaml").is_file()))

SMALL = """
max_batch_size: 2
inputs: [{name: x, shape: [2]}]
layers: [{name: act, type: ReLU}]
"""

BROKEN = """
inputs: [{name: x, shape: [2]}]
layers:
  - {name: wide, type: Linear, in_features: 3, out_features: 2}
"""
BROKEN_REASON = "model.yaml line 4: layer 'wide' (#0, Linear) expects 3 features in the last dimension"


@dataclass
class Case:
    id: str
    path: str
    status: int
    fragments: list[str]
    json: object = None  # sent as application/json
    data: bytes | str | None = None  # sent raw, with content_type
    content_type: str = "application/json"
    method: str = "post"
    app: str = "models"


FOLD = "/v2/models/fold/infer"
MATCHER = "/v2/models/matcher/infer"


def fold(data, shape=None, **kw):
    return infer_body("x", data, shape, **kw)


def raw_fold(data_text: str) -> str:
    return json.dumps(fold(None, [1, 2])).replace("null", data_text)


CASES = [
    # --- the body as bytes and JSON ---
    Case("body not JSON", FOLD, 400, ["body is not valid JSON", "line 1, column 1"], data="inputs: x"),
    Case("body not UTF-8", FOLD, 400, ["not UTF-8", "position 12"], data=b'{"inputs": "\xff\xfe"}'),
    Case("body empty", FOLD, 400, ["body is empty", "JSON object"], data=b""),
    Case("body only whitespace", FOLD, 400, ["body is empty"], data=b" \n\t "),
    Case(
        "content-type text/plain",
        FOLD,
        415,
        ["Content-Type must be application/json", "'text/plain'"],
        data=json.dumps(fold([[1, 0]])),
        content_type="text/plain",
    ),
    Case(
        "JSON nested 100000 deep",
        FOLD,
        400,
        ["not valid JSON", "nested too deeply"],
        data="[" * 100_000 + "]" * 100_000,
    ),
    Case("top-level JSON list", FOLD, 400, ["body must be a JSON object", "list"], json=[fold([[1, 0]])]),
    Case("NaN literal", FOLD, 400, ["NaN", "non-finite numbers are not accepted"], data=raw_fold("[1, NaN]")),
    Case("Infinity literal", FOLD, 400, ["Infinity", "non-finite"], data=raw_fold("[1, Infinity]")),
    Case("-Infinity literal", FOLD, 400, ["-Infinity", "non-finite"], data=raw_fold("[-Infinity, 1]")),
    Case(
        "integer longer than Python reads",
        FOLD,
        400,
        ["not valid JSON", f"more than {sys.get_int_max_str_digits()} digits"],
        data=raw_fold("[1, %s]" % ("9" * (sys.get_int_max_str_digits() + 1))),
    ),
    # --- the request's fields ---
    Case("missing inputs", FOLD, 400, ["invalid request", "inputs: Missing data for required field"], json={}),
    Case(
        "misspelled inputs",
        FOLD,
        400,
        ["inptus: Unknown field", "inputs: Missing data"],
        json={"inptus": fold([[1, 0]])["inputs"]},
    ),
    Case("extra unknown field", FOLD, 400, ["extra: Unknown field"], json=fold([[1, 0]], extra=1)),
    Case(
        "unknown field in a tensor",
        FOLD,
        400,
        ["inputs[0].dtype: Unknown field"],
        json={"inputs": [{**tensor("x", [[1, 0]]), "dtype": "FP32"}]},
    ),
    Case("inputs empty", FOLD, 400, ["inputs: Shorter than minimum length 1"], json={"inputs": []}),
    Case("inputs not a list", FOLD, 400, ["inputs: Not a valid list"], json={"inputs": tensor("x", [[1, 0]])}),
    Case("shape not integers", FOLD, 400, ["inputs[0].shape[0]: Not a valid integer"], json=fold([1, 0], [1.5, 2])),
    Case("negative shape", FOLD, 400, ["inputs[0].shape[0]", "greater than or equal to 0"], json=fold([1, 0], [-1, 2])),
    Case(
        "shape beyond int64",
        FOLD,
        400,
        ["inputs[0].shape[0]", "less than or equal to 9223372036854775807"],
        json=fold([1, 0], [2**63, 2]),
    ),
    Case("id not a string", FOLD, 400, ["id: Not a valid string"], json=fold([[1, 0]], id=7)),
    # --- which model, which version ---
    Case(
        "unknown model",
        "/v2/models/nope/infer",
        404,
        ["unknown model 'nope'", f"known models: {BUNDLED_NAMES}"],
        json=fold([[1, 0]]),
    ),
    Case("unknown model metadata", "/v2/models/nope", 404, ["unknown model 'nope'", BUNDLED_NAMES], method="get"),
    Case(
        "unknown version",
        "/v2/models/fold/versions/2/infer",
        404,
        ["'fold' has no version '2'", "versions: 1"],
        json=fold([[1, 0]]),
    ),
    Case(
        "unknown version of layers",
        "/v2/models/fold/versions/0/layers",
        404,
        ["no version '0'", "versions: 1"],
        method="get",
    ),
    # --- which inputs and outputs ---
    Case(
        "unknown input name",
        FOLD,
        400,
        ["model 'fold' has no input 'y'", "its inputs: x"],
        json=infer_body("y", [[1, 0]]),
    ),
    Case(
        "unknown input of a two-input model",
        MATCHER,
        400,
        ["'matcher' has no input 'x'", "its inputs: x1, x2"],
        json=infer_body("x", [[1, 2, 3, 4, 5]]),
    ),
    Case(
        "input given twice",
        FOLD,
        400,
        ["input 'x' is given more than once"],
        json={"inputs": [tensor("x", [[1, 0]]), tensor("x", [[0, 1]])]},
    ),
    Case(
        "missing input of matcher",
        MATCHER,
        400,
        ["'matcher' needs inputs x1, x2", "missing: x2"],
        json=infer_body("x1", [[1, 2, 3, 4, 5]]),
    ),
    Case(
        "matcher inputs of different batch sizes",
        MATCHER,
        400,
        ["different batch sizes: [1, 2]"],
        json={"inputs": [tensor("x1", [[1, 2, 3, 4, 5]]), tensor("x2", [[1, 2, 3, 4]] * 2)]},
    ),
    Case(
        "unknown output",
        FOLD,
        400,
        ["'fold' has no output 'logits'", "its outputs: act"],
        json=fold([[1, 0]], outputs=[{"name": "logits"}]),
    ),
    # --- shapes ---
    Case(
        "wrong per-sample shape",
        FOLD,
        400,
        ["input 'x'", "expected shape [-1, 2]", "got [1, 3]"],
        json=fold([[1, 2, 3]]),
    ),
    Case(
        "shape without batch dimension",
        FOLD,
        400,
        ["input 'x'", "expected shape [-1, 2]", "got [2]"],
        json=fold([1, 2], [2]),
    ),
    Case(
        "more dimensions than numpy has",
        FOLD,
        400,
        ["input 'x'", "expected shape [-1, 2]", "got [1, 1, 1"],
        json=fold([1], [1] * 70),
    ),
    Case(
        "shape and data length disagree",
        FOLD,
        400,
        ["input 'x'", "shape [2, 2] needs 4 values", "data has 3"],
        json=fold([1, 2, 3], [2, 2]),
    ),
    Case("ragged nested data", FOLD, 400, ["input 'x'", "ragged"], json=fold([[1, 2], [3]], [2, 2])),
    Case(
        "nested data disagrees with shape",
        FOLD,
        400,
        ["input 'x'", "nested data has shape [3, 2]", "shape says [2, 2]"],
        json=fold([[1, 2], [3, 4], [5, 6]], [2, 2]),
    ),
    Case("batch of zero", FOLD, 400, ["batch size 0 is outside 1..1024", "'fold'"], json=fold([], [0, 2])),
    Case(
        "batch over max_batch_size",
        "/v2/models/small/infer",
        400,
        ["batch size 3 is outside 1..2", "'small'"],
        json=fold([[1, 0]] * 3),
        app="own",
    ),
    # --- datatypes and values ---
    Case(
        "unknown datatype",
        FOLD,
        400,
        ["input 'x'", "unknown datatype 'FP33'", "FP32"],
        json=fold([[1, 0]], datatype="FP33"),
    ),
    Case(
        "datatype of another model",
        FOLD,
        400,
        ["input 'x'", "datatype INT64 does not match the model's FP32"],
        json=fold([[1, 0]], datatype="INT64"),
    ),
    Case(
        "strings in data", FOLD, 400, ["input 'x'", "values must all be numbers", "a string"], json=fold([["1", "0"]])
    ),
    Case(
        "booleans in data",
        FOLD,
        400,
        ["input 'x'", "values must all be numbers", "a boolean"],
        json=fold([[True, False]]),
    ),
    Case("a boolean among numbers", FOLD, 400, ["input 'x'", "a boolean"], json=fold([[1, 0], [0.5, True]])),
    Case("null in data", FOLD, 400, ["input 'x'", "values must all be numbers", "null"], json=fold([[1, None]])),
    Case("object in data", FOLD, 400, ["input 'x'", "an object"], json=fold([[1, {"v": 0}]])),
    Case(
        "data a bare number",
        FOLD,
        400,
        ["input 'x'", "data must be a list of numbers", "got a number"],
        json=fold(3, [1, 2]),
    ),
    Case("data null", FOLD, 400, ["inputs[0].data: Field may not be null"], json=fold(None, [1, 2])),
    Case("1e400 overflows to inf", FOLD, 400, ["not valid JSON", "number is infinity"], data=raw_fold("[1, 1e400]")),
    Case("integer beyond FP32", FOLD, 400, ["input 'x'", "overflow FP32"], data=raw_fold(f"[1, {2**129}]")),
    Case("1e39 overflows FP32", FOLD, 400, ["input 'x'", "overflow FP32"], data=raw_fold("[1e39, 1]")),
    # --- size, methods and routes ---
    Case(
        "body over MAX_BODY_BYTES",
        FOLD,
        413,
        [f"larger than the limit of {LIMIT} bytes", "MAX_BODY_BYTES"],
        json=fold([[1, 0]], id="p" * LIMIT),
        app="limited",
    ),
    Case(
        "GET on infer",
        FOLD,
        405,
        ["method GET is not allowed on /v2/models/fold/infer", "allowed: POST"],
        method="get",
    ),
    Case("POST on metadata", "/v2/models/fold", 405, ["method POST is not allowed", "GET"], json=fold([[1, 0]])),
    Case("unknown route", "/v3/models/fold", 404, ["no such endpoint: GET /v3/models/fold"], method="get"),
    Case(
        "binary_data_output not a boolean",
        FOLD,
        400,
        ["parameters.binary_data_output must be true or false, got 'yes'"],
        json=fold([[1, 0]], parameters={"binary_data_output": "yes"}),
    ),
    Case(
        "binary_data not a boolean",
        FOLD,
        400,
        ["outputs[0].parameters.binary_data must be true or false, got 1"],
        json=fold([[1, 0]], outputs=[{"name": "act", "parameters": {"binary_data": 1}}]),
    ),
    # --- the v1 predict protocol ---
    Case(
        "v1 missing instances",
        "/v1/models/fold:predict",
        400,
        ["instances: Missing data for required field"],
        json={"inputs": [[1, 0]]},
    ),
    Case(
        "v1 instances not a list",
        "/v1/models/fold:predict",
        400,
        ["instances: Not a valid list"],
        json={"instances": {"x": [1, 0]}},
    ),
    Case(
        "v1 instances empty",
        "/v1/models/fold:predict",
        400,
        ["instances: Shorter than minimum length 1"],
        json={"instances": []},
    ),
    Case(
        "v1 instance null",
        "/v1/models/fold:predict",
        400,
        ["instances[0]: Field may not be null"],
        json={"instances": [None]},
    ),
    Case(
        "v1 ragged instances",
        "/v1/models/fold:predict",
        400,
        ["instances", "ragged"],
        json={"instances": [[1, 0], [1]]},
    ),
    Case(
        "v1 wrong instance size",
        "/v1/models/fold:predict",
        400,
        ["input 'x'", "expected shape [-1, 2]", "got [1, 3]"],
        json={"instances": [[1, 0, 1]]},
    ),
    Case(
        "v1 instance overflows FP32",
        "/v1/models/fold:predict",
        400,
        ["instances", "overflow FP32"],
        data='{"instances": [[1e39, 0]]}',
    ),
    Case(
        "v1 matcher instance missing a key",
        "/v1/models/matcher:predict",
        400,
        ["instances[1]", "keys ['x1', 'x2']", "got ['x1']"],
        json={"instances": [{"x1": [1, 2, 3, 4, 5], "x2": [1, 2, 3, 4]}, {"x1": [1, 2, 3, 4, 5]}]},
    ),
    Case(
        "v1 matcher instance not an object",
        "/v1/models/matcher:predict",
        400,
        ["instances[0]", "got list"],
        json={"instances": [[1, 2, 3, 4, 5]]},
    ),
    Case(
        "v1 matcher strings in one input",
        "/v1/models/matcher:predict",
        400,
        ["instances[*].x2", "values must all be numbers", "a string"],
        json={"instances": [{"x1": [1, 2, 3, 4, 5], "x2": [1, 2, 3, "4"]}]},
    ),
    Case(
        "v1 unknown model",
        "/v1/models/nope:predict",
        404,
        ["unknown model 'nope'", BUNDLED_NAMES],
        json={"instances": [[1, 0]]},
    ),
    # --- layers ---
    Case(
        "unknown layer by name",
        "/v2/models/dense/layers/dense2",
        404,
        ["model 'dense' has no layer 'dense2'", "by name or index 0-1", "dense1, activation1"],
        method="get",
    ),
    Case(
        "layer index out of range",
        "/v2/models/dense/layers/2",
        404,
        ["model 'dense' has no layer '2'", "dense1, activation1"],
        method="get",
    ),
    Case("negative layer index", "/v2/models/dense/layers/-1", 404, ["no layer '-1'", "index 0-1"], method="get"),
    Case(
        "layer index of 5000 digits",
        "/v2/models/dense/layers/" + "9" * 5000,
        404,
        ["has no layer", "0-1"],
        method="get",
    ),
    Case("superscript digit as layer index", "/v2/models/dense/layers/%C2%B2", 404, ["no layer '²'"], method="get"),
    Case(
        "values not a boolean",
        "/v2/models/dense/layers/0?values=maybe",
        400,
        ["values", "Not a valid boolean"],
        method="get",
    ),
    # --- out of time ---
    Case(
        "infer past INFER_TIMEOUT",
        FOLD,
        504,
        ["ran past the time limit of 1e-09 s (LAYERSERVE_INFER_TIMEOUT)", "stopped before layer 'linear'"],
        json=fold([[1, 0]]),
        app="timed",
    ),
    Case(
        "predict past INFER_TIMEOUT",
        "/v1/models/fold:predict",
        504,
        ["ran past the time limit", "before layer 'linear'"],
        json={"instances": [[1, 0]]},
        app="timed",
    ),
    Case(
        "trace past INFER_TIMEOUT",
        "/v2/models/fold/trace",
        504,
        ["ran past the time limit", "before layer 'linear'"],
        json=fold([[1, 0]]),
        app="timed",
    ),
    # --- a model that failed to load ---
    Case(
        "infer on a broken model",
        "/v2/models/broken/infer",
        400,
        ["model 'broken' is unavailable", BROKEN_REASON],
        json=fold([[1, 0]]),
        app="own",
    ),
    Case(
        "broken model not ready",
        "/v2/models/broken/ready",
        400,
        ["'broken' is unavailable", BROKEN_REASON],
        method="get",
        app="own",
    ),
    Case("layers of a broken model", "/v2/models/broken/layers", 400, [BROKEN_REASON], method="get", app="own"),
    Case("metadata of a broken model", "/v2/models/broken", 400, [BROKEN_REASON], method="get", app="own"),
]


@pytest.fixture(scope="module")
def clients(app, tmp_path_factory):
    own = write_models(tmp_path_factory.mktemp("own"), {"fold": None, "small": SMALL, "broken": BROKEN})
    limited = write_models(tmp_path_factory.mktemp("limited"), {"fold": None})
    return {
        "models": app.test_client(),
        "own": app_over(own).test_client(),
        "limited": app_over(limited, MAX_BODY_BYTES=LIMIT).test_client(),
        "timed": app_over(limited, INFER_TIMEOUT=1e-9).test_client(),
    }


def send(client, case: Case):
    call = getattr(client, case.method)
    if case.data is not None:
        return call(case.path, data=case.data, content_type=case.content_type)
    if case.json is not None:
        return call(case.path, json=case.json)
    return call(case.path)


def test_the_table_is_large_and_unambiguous():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_request(clients, case):
    response = send(clients[case.app], case)
    assert response.status_code != 500, response.get_json()
    assert response.status_code == case.status, response.get_json()
    message = error_of(response)
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("app_name", ["models", "own", "limited"])
def test_the_app_still_serves_after_all_that(clients, app_name):
    client = clients[app_name]
    response = client.post(FOLD, json=fold([[1, 0], [0, 1], [1, 1]]))
    assert output(response, "act")["data"] == pytest.approx([1, 0, 0.5, 1, 1.5, 0.5])
    assert client.get("/v2/health/ready").status_code == 200


def test_broken_model_is_listed_with_its_reason_and_the_good_ones_serve(clients):
    client = clients["own"]
    listing = {m["name"]: m for m in client.get("/v2/models").get_json()["models"]}
    assert sorted(listing) == ["broken", "fold", "small"]
    broken = listing["broken"]
    assert (broken["state"], broken["ready"], broken["versions"]) == ("UNAVAILABLE", False, [])
    assert BROKEN_REASON in broken["reason"]
    assert (listing["fold"]["state"], listing["fold"]["reason"]) == ("READY", None)
    # a broken model does not hold the server's readiness; the good models serve
    assert client.get("/v2/health/ready").status_code == 200
    assert output(client.post(FOLD, json=fold([[1, 1]])), "act")["data"] == pytest.approx([1.5, 0.5])
    assert output(client.post("/v2/models/small/infer", json=fold([[-1, 2]] * 2)), "act")["data"] == [0, 2, 0, 2]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("get", FOLD, "POST"), ("post", "/v2/models/fold", "GET, HEAD, OPTIONS"), ("delete", "/v2", "GET, HEAD, OPTIONS")],
)
def test_method_not_allowed_says_which_are_in_the_allow_header(clients, method, path, allowed):
    response = getattr(clients["models"], method)(path)
    assert response.status_code == 405
    assert sorted(response.headers["Allow"].split(", ")) == allowed.split(", ")
    assert response.is_json


@pytest.mark.parametrize(
    ("declared", "status", "fragment"), [("ten", 400, "'ten', not a number"), ("9" * 5000, 413, "limit")]
)
def test_a_content_length_that_is_no_length_is_refused(clients, declared, status, fragment):
    response = clients["models"].post(
        FOLD,
        data=json.dumps(fold([[1, 0]])),
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": declared},
    )
    assert response.status_code == status
    assert fragment in error_of(response)
