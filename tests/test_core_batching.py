"""advlab.core.batching.images_per_pass: a cache-sized number of images per forward pass on a CPU."""

import torch

from advlab.core.batching import CPU_VALUES_PER_PASS, images_per_pass


def test_cpu_pass_holds_the_value_budget():
    assert images_per_pass(torch.zeros(5000, 1, 28, 28)) == CPU_VALUES_PER_PASS // 784 == 83
    assert images_per_pass(torch.zeros(10, 1, 16, 16)) == 256
    assert images_per_pass(torch.zeros(10, 3, 32, 32)) == 21


def test_limits_hold_at_both_ends():
    assert images_per_pass(torch.zeros(2, 3, 512, 512)) == 1  # one image larger than the budget
    assert images_per_pass(torch.zeros(2, 1, 2, 2), limit=100) == 100
    assert images_per_pass(torch.zeros(0, 1, 28, 28)) >= 1
    assert images_per_pass(torch.zeros(4, 2)) == 1024  # 2 values an image: the budget allows more than the limit


def test_meta_device_gets_the_device_limit():
    assert images_per_pass(torch.zeros(8, 1, 28, 28, device="meta")) == 1024
    assert images_per_pass(torch.zeros(8, 1, 28, 28, device="meta"), limit=7) == 7
