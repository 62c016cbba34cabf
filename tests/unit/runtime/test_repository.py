"""The model repository: every folder becomes a ready model or a failed one with its reason."""

import numpy as np
import pytest

from service.errors import ModelUnavailable
from service.runtime.repository import ModelRepository


def test_a_model_whose_warm_up_fails_is_reported_and_the_others_serve(models_dir, monkeypatch):
    repository = ModelRepository(models_dir, max_batch_size=16)
    repository.load_all()

    def failing_warm_up():
        raise RuntimeError("a kernel the build did not foresee")

    monkeypatch.setattr(repository.entry("recipe").model, "warm_up", failing_warm_up)
    repository.warm_up()

    recipe = repository.entry("recipe").listing()
    assert recipe["state"] == "UNAVAILABLE"
    assert "warm-up" in recipe["reason"]
    with pytest.raises(ModelUnavailable, match="warm-up"):
        repository.get("recipe")
    assert repository.ready
    fold = repository.get("fold").infer({"x": np.array([[1.0, 0.0]], np.float32)})
    assert fold["act"].tolist() == [[1.0, 0.0]]


EXAMPLE_MODEL = """
inputs: [{name: x, shape: [2]}, {name: words, shape: [3], dtype: int64}]
init: {seed: 0}
layers:
  - {name: embed, type: Embedding, inputs: [words], num_embeddings: 5, embedding_dim: 2}
  - {name: flat, type: Flatten}
  - {name: joined, type: Concat, inputs: [x, flat]}
example: %s
"""


@pytest.mark.parametrize(
    ("example", "fragments"),
    [
        (
            "{x: [[1, 2]], words: [[0, 1, 4]], y: [[1]]}",
            ["model.yaml: example: no input named 'y'", "inputs: x, words"],
        ),
        ("{x: [[1, 2]]}", ["model.yaml: example:", "missing: words"]),
        ("{x: [[1, 2, 3]], words: [[0, 1, 4]]}", ["model.yaml: example:", "input 'x'", "[1, 3]"]),
        ("{x: [[1, 2]], words: [[0, 1, 5]]}", ["model.yaml: example:", "words", "5"]),
        ("{x: [[1, true]], words: [[0, 1, 4]]}", ["model.yaml: example: input 'x'", "a boolean"]),
        ("{x: [[1, 2], [3, 4]], words: [[0, 1, 4]]}", ["model.yaml: example:", "batch sizes: [1, 2]"]),
    ],
)
def test_an_example_the_model_would_refuse_as_a_request_fails_the_load(tmp_path, example, fragments):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.yaml").write_text(EXAMPLE_MODEL % example)
    repository = ModelRepository(tmp_path, max_batch_size=16)
    repository.load_all()
    listing = repository.entry("m").listing()
    assert listing["state"] == "UNAVAILABLE"
    missing = [fragment for fragment in fragments if fragment not in listing["reason"]]
    assert not missing, f"{missing} not in {listing['reason']!r}"


def test_a_fitting_example_is_served_as_written_in_the_metadata(tmp_path):
    from service.app import create_app

    for name, example in (("m", "{x: [[1, 2.5]], words: [[0, 1, 4]]}"), ("plain", "null")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.yaml").write_text(EXAMPLE_MODEL % example)
    client = create_app({"MODELS_DIR": str(tmp_path), "REQUEST_LOG": False}).test_client()
    assert client.get("/v2/models/m").get_json()["example"] == {"x": [[1, 2.5]], "words": [[0, 1, 4]]}
    assert "example" not in client.get("/v2/models/plain").get_json()
