"""A model made by `layerserve import` is served like any other: same outputs as the PyTorch original."""

import numpy as np
import torch
from torch import nn

from service.convert.importing import import_sequential

from .helpers import app_over, infer_body, output


def test_an_imported_sequential_answers_infer_like_the_original(tmp_path):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.LayerNorm(12), nn.Linear(12, 4))
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(16, 5) * 2)
    model.eval()
    import_sequential(model, tmp_path / "models" / "imported", input_name="x")

    x = np.random.default_rng(0).standard_normal((9, 5)).astype(np.float32)
    client = app_over(tmp_path / "models").test_client()
    served = output(client.post("/v2/models/imported/infer", json=infer_body("x", x.tolist())), "linear_4")
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert served["shape"] == [9, 4]
    np.testing.assert_allclose(np.array(served["data"]).reshape(9, 4), expected, rtol=1e-5, atol=1e-5)
