"""The training set's [0, 1] check (poisoning.base.check_unit_range): its one-pass bit test agrees with the plain
min/max test on every kind of value, and its error names the range found."""

import numpy as np
import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.poisoning.base import check_unit_range, surely_in_unit_range

EDGES = [0.0, 1.0, 0.5, 1e-45, np.nextafter(np.float32(1), np.float32(0))]  # smallest subnormal, just below 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bit_test_accepts_exactly_the_unit_interval(dtype):
    inside = torch.tensor(EDGES, dtype=dtype).reshape(1, 1, 1, -1)
    assert surely_in_unit_range(inside)
    just_above_one = float(torch.nextafter(torch.tensor(1.0, dtype=dtype), torch.tensor(2.0, dtype=dtype)))
    for bad in (-1e-30, -0.5, just_above_one, 2.0, float("inf"), float("-inf"), float("nan")):
        outside = torch.cat([inside, torch.tensor([bad], dtype=dtype).reshape(1, 1, 1, 1)], dim=3)
        assert not surely_in_unit_range(outside), bad
        with pytest.raises(AdvlabError, match="must lie in \\[0, 1\\]"):
            check_unit_range(outside, "images")


def test_bit_test_agrees_with_min_max_on_random_tensors():
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        values = torch.randn(64, generator=generator) * 0.3 + 0.5
        assert surely_in_unit_range(values) == bool(values.min() >= 0 and values.max() <= 1)


def test_negative_zero_and_other_layouts_take_the_exact_path():
    negative_zero = torch.tensor([[-0.0, 0.5]])
    assert not surely_in_unit_range(negative_zero)  # its sign bit is set...
    check_unit_range(negative_zero, "images")  # ...but -0.0 >= 0, so the exact test passes it
    strided = torch.rand(4, 6)[:, ::2]
    assert not surely_in_unit_range(strided) and not surely_in_unit_range(torch.rand(3).half())
    check_unit_range(strided, "images")
    with pytest.raises(AdvlabError, match="found values in \\[-1, "):
        check_unit_range(torch.tensor([-1.0, 0.5]).half(), "images")
