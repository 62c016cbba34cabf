"""The bundled `digits` model is really trained: its held-out images, sent through the API, are classified."""

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from ..digits_training import MIN_ACCURACY, load_training_script
from .helpers import infer_body, output


@pytest.fixture(scope="module")
def training():
    return load_training_script()


def test_held_out_images_are_classified_through_the_api(client, training):
    _, _, images, labels = training.split()
    assert images.shape == (360, 8, 8)  # every fifth of 1,797 images, never trained on
    probs = output(client.post("/v2/models/digits/infer", json=infer_body("image", images.tolist())), "probs")
    assert probs["shape"] == [360, 10]
    predicted = np.array(probs["data"]).reshape(360, 10).argmax(axis=1)
    assert (predicted == labels).mean() >= MIN_ACCURACY


def test_rerunning_the_training_script_reproduces_the_committed_weights(training, models_dir, tmp_path):
    model = training.train()
    training.write(model, tmp_path / "digits")
    committed = load_file(models_dir / "digits" / "weights.safetensors")
    retrained = load_file(tmp_path / "digits" / "weights.safetensors")
    assert sorted(retrained) == sorted(committed)
    for key, value in committed.items():
        np.testing.assert_allclose(retrained[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
    assert (tmp_path / "digits" / "model.yaml").read_text() == (models_dir / "digits" / "model.yaml").read_text()
    _, _, images, labels = training.split()
    assert training.accuracy(model, images, labels) >= MIN_ACCURACY
    assert not torch.are_deterministic_algorithms_enabled()  # train() restores the caller's settings
