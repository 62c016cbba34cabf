"""The model repository: every folder becomes a ready model or a failed one with its reason."""

import numpy as np
import pytest

from service.errors import ModelNotReady
from service.repository import ModelRepository


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
    with pytest.raises(ModelNotReady, match="warm-up"):
        repository.get("recipe")
    assert repository.ready
    fold = repository.get("fold").infer({"x": np.array([[1.0, 0.0]], np.float32)})
    assert fold["act"].tolist() == [[1.0, 0.0]]
