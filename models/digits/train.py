"""Train the `digits` model: an MLP over scikit-learn's bundled handwritten digits.

Data: sklearn.datasets.load_digits, 1,797 images of 8x8 pixels with values 0..16, shipped
inside scikit-learn (nothing is downloaded). The model reads those raw values as [8, 8].

Split (fixed): every fifth image, index % 5 == 0, is held out: 360 images, never trained on.
The other 1,437 train the model.

Training is deterministic: a fixed seed for the initial weights and the shuffling, one CPU
thread and torch's deterministic algorithms, so a rerun on the same machine writes the same
weights. It takes about a second. The trained nn.Sequential goes through the same converter as
`layerserve import`, which writes model.yaml and weights.safetensors beside this file once the
served model reproduces the trained one.

Run: .venv/bin/python models/digits/train.py  (needs scikit-learn: pip install 'layerserve[train]')
"""

from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

SEED = 0
HELD_OUT_EVERY = 5  # image i is held out when i % HELD_OUT_EVERY == 0
EPOCHS = 40
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
HIDDEN = 64
FOLDER = Path(__file__).parent
DESCRIPTION = (
    "An MLP trained by train.py on the 8x8 handwritten digits bundled with scikit-learn (pixel values 0 to 16), "
    "giving the probability of each digit 0-9; every fifth image is held out from training."
)


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, held-out images, held-out labels); images float32 [n, 8, 8]."""
    digits = load_digits()
    images, labels = digits.images.astype(np.float32), digits.target.astype(np.int64)
    held_out = np.arange(len(images)) % HELD_OUT_EVERY == 0
    return images[~held_out], labels[~held_out], images[held_out], labels[held_out]


def build() -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            hidden=nn.Linear(64, HIDDEN),
            hidden_act=nn.ReLU(),
            logits=nn.Linear(HIDDEN, 10),
            probs=nn.Softmax(dim=-1),
        )
    )


@contextmanager
def reproducible():
    """One thread and deterministic kernels while training; the caller's settings afterwards."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def train() -> nn.Sequential:
    with reproducible():
        return _train()


def _train() -> nn.Sequential:
    torch.manual_seed(SEED)
    images, labels, _, _ = split()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    model = build()
    logits = model[:-1]  # the loss takes logits; the served model ends in Softmax
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    shuffle = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(x), generator=shuffle).split(BATCH_SIZE):
            optimizer.zero_grad()
            nn.functional.cross_entropy(logits(x[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        predicted = model(torch.from_numpy(images)).argmax(dim=1).numpy()
    return float((predicted == labels).mean())


def write(model: nn.Sequential, folder: Path = FOLDER) -> None:
    from service.convert.importing import import_sequential

    import_sequential(model, folder, input_shape=(8, 8), input_name="image", description=DESCRIPTION, replace=True)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(FOLDER.parents[1]))  # the repository, for `service`
    import service  # noqa: F401 (first: it sets MKL's reproducible mode, as in the tests that rerun this)

    trained = train()
    _, _, held_images, held_labels = split()
    write(trained)
    print(f"wrote {FOLDER} (seed {SEED}); held-out accuracy {accuracy(trained, held_images, held_labels):.4f}")
