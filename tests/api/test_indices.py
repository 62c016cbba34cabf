"""Inputs of integer indices, for Embedding: INT64/INT32 tensors in, out-of-range indices refused with 400."""

import json

import numpy as np
import pytest

from .helpers import app_over, error_of, infer_body, output, write_models

# Four words as two-dimensional vectors, looked up for three words per sample and scaled.
WORDS = """\
inputs:
  - {name: ids, shape: [3], dtype: int64}
  - {name: scale, shape: [1]}
layers:
  - name: emb
    type: Embedding
    inputs: [ids]
    num_embeddings: 4
    embedding_dim: 2
    padding_idx: 0
    weight: [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
  - {name: flat, type: Flatten}
  - {name: scaled, type: Multiply, inputs: [flat, scale]}
outputs: [scaled]
"""
WORDS32 = WORDS.replace("dtype: int64", "dtype: int32")
IDS = [[1, 2, 3], [0, 0, 2]]
SCALE = [[3.0], [3.0]]
EXPECTED = [[3.0, 0.0, 0.0, 3.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0, 3.0]]  # 3 · (e1, e2, e3), 3 · (e0, e0, e2)


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    models = write_models(tmp_path_factory.mktemp("models"), {"words": WORDS, "words32": WORDS32})
    return app_over(models).test_client()


def body(ids, datatype="INT64", scale=SCALE, **extra) -> dict:
    ids_tensor = infer_body("ids", ids, datatype=datatype)["inputs"][0]
    return {"inputs": [ids_tensor, infer_body("scale", scale)["inputs"][0]], **extra}


def test_metadata_names_the_integer_datatype(words):
    inputs = words.get("/v2/models/words").get_json()["inputs"]
    assert inputs == [
        {"name": "ids", "datatype": "INT64", "shape": [-1, 3]},
        {"name": "scale", "datatype": "FP32", "shape": [-1, 1]},
    ]


@pytest.mark.parametrize(("model", "datatype"), [("words", "INT64"), ("words32", "INT32")])
def test_indices_are_looked_up(words, model, datatype):
    response = words.post(f"/v2/models/{model}/infer", json=body(IDS, datatype))
    found = output(response, "scaled")
    assert found["datatype"] == "FP32"
    assert np.allclose(np.reshape(found["data"], found["shape"]), EXPECTED)


def test_binary_indices(words):
    ids = np.array(IDS, dtype="<i8")
    scale = np.array(SCALE, dtype="<f4")
    header = {
        "inputs": [
            {"name": "ids", "shape": [2, 3], "datatype": "INT64", "parameters": {"binary_data_size": ids.nbytes}},
            {"name": "scale", "shape": [2, 1], "datatype": "FP32", "parameters": {"binary_data_size": scale.nbytes}},
        ]
    }
    head = json.dumps(header).encode()
    response = words.post(
        "/v2/models/words/infer",
        data=head + ids.tobytes() + scale.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(head))},
        content_type="application/octet-stream",
    )
    assert np.allclose(np.reshape(output(response, "scaled")["data"], (2, 6)), EXPECTED)


def test_predict_with_indices(words):
    instances = [{"ids": ids, "scale": scale} for ids, scale in zip(IDS, SCALE)]
    response = words.post("/v1/models/words:predict", json={"instances": instances})
    assert response.status_code == 200, response.get_json()
    assert np.allclose(response.get_json()["predictions"], EXPECTED)


def test_trace_shows_the_indices_and_the_lookup(words):
    response = words.post("/v2/models/words/trace", json=body(IDS))
    assert response.status_code == 200, response.get_json()
    document = response.get_json()
    assert document["inputs"][0]["data"] == [1, 2, 3, 0, 0, 2]
    (emb,) = [layer for layer in document["layers"] if layer["name"] == "emb"]
    assert emb["output"]["shape"] == [2, 3, 2] and emb["output"]["data"][:6] == [1, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        (body([[1, 2, 4], [0, 0, 0]]), "input 'ids': index 4 is out of range for layer 'emb', which has 4 embeddings"),
        (body([[1, -1, 2], [0, 0, 0]]), "input 'ids': index -1 is out of range for layer 'emb'"),
        (body([[1, 2, 2**40], [0, 0, 0]]), "index 1099511627776 is out of range"),
        (body([[1.0, 2, 3], [0, 0, 0]]), "input 'ids': values must all be integers (a float found)"),
        (body([[1.5, 2, 3], [0, 0, 0]]), "values must all be integers (a float found)"),
        (body([[True, 2, 3], [0, 0, 0]]), "values must all be integers (a boolean found)"),
        (body(IDS, datatype="FP32"), "input 'ids': datatype FP32 does not match the model's INT64"),
        (body(IDS, datatype="INT32"), "input 'ids': datatype INT32 does not match the model's INT64"),
        (
            {
                "inputs": [
                    {"name": "ids", "shape": [0, 3], "datatype": "INT64", "data": []},
                    {"name": "scale", "shape": [0, 1], "datatype": "FP32", "data": []},
                ]
            },
            "batch size 0 is outside 1..1024",
        ),
    ],
)
def test_bad_indices_are_refused_with_400(words, request_body, fragment):
    for endpoint in ("infer", "trace"):
        response = words.post(f"/v2/models/words/{endpoint}", json=request_body)
        assert response.status_code == 400, response.get_json()
        assert fragment in error_of(response)


def test_indices_beyond_int64_are_refused(words):
    """orjson reads an integer beyond 64 bits as a float: refused as one."""
    text = json.dumps(body([[1, 2, 2**64], [0, 0, 0]]))
    response = words.post("/v2/models/words/infer", data=text, content_type="application/json")
    assert response.status_code == 400
    assert "values must all be integers (a float found)" in error_of(response)


def test_int32_indices_beyond_int32_are_refused(words):
    response = words.post("/v2/models/words32/infer", json=body([[1, 2, 2**31], [0, 0, 0]], "INT32"))
    assert response.status_code == 400
    assert "too large for INT32" in error_of(response)


def test_out_of_range_indices_over_v1_are_refused(words):
    instances = [{"ids": [1, 2, 9], "scale": [1.0]}]
    response = words.post("/v1/models/words:predict", json={"instances": instances})
    assert response.status_code == 400
    assert "index 9 is out of range for layer 'emb'" in error_of(response)
