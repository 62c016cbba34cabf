"""A health rule counts the same on a numpy array as on a torch tensor (served traffic hands it
numpy arrays from small models, tensors from the others; traces hand it tensors)."""

import numpy as np
import pytest
import torch

from service.stack.health_rules import ZERO, clamp, dead_at, saturation

OUTPUT = np.array([[0.0, 1.0, 0.995, -1.0], [0.0, 0.5, 0.001, -1.0], [0.2, 1.0, 0.5, 3.0]], dtype=np.float32)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ZERO, [2, 0, 0, 0]),
        (dead_at(-1.0), [0, 0, 0, 2]),
        (saturation(0.0, 1.0), [2, 2, 2, 3]),
        (clamp(0.0, 1.0), [2, 2, 0, 3]),
    ],
)
def test_numpy_and_torch_count_alike(rule, expected):
    from_numpy = rule.hits(OUTPUT)
    from_torch = rule.hits(torch.from_numpy(OUTPUT))
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.int64
    assert from_torch.dtype == torch.int64
    assert from_numpy.tolist() == from_torch.tolist() == expected


def test_per_sample_shapes_are_flattened():
    output = np.zeros((2, 2, 3), dtype=np.float32)
    output[0, 1, 2] = 5.0
    assert ZERO.hits(output).tolist() == [2, 2, 2, 2, 2, 1]
