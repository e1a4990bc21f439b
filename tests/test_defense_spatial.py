"""Spatial smoothing: ART's name (SpatialSmoothing, window_size) for the median filter of Xu et al. 2018, pixel for
pixel equal to ART's, even windows and edges included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import raises_one_line

from advlab.data import load_digits_images
from advlab.defenses.feature_squeezing import MedianSmoothing, SpatialSmoothing
from advlab.defenses.preprocessed import transform_class


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5])
def test_spatial_smoothing_equals_arts_pixel_for_pixel(window):
    from art.defences.preprocessor import SpatialSmoothing as ARTSpatialSmoothing

    images = torch.rand(3, 3, 7, 9, generator=torch.Generator().manual_seed(window))
    ours = SpatialSmoothing(window)(images).numpy()
    first, _ = ARTSpatialSmoothing(window_size=window, channels_first=True)(images.numpy().copy())
    last, _ = ARTSpatialSmoothing(window_size=window)(images.permute(0, 2, 3, 1).numpy().copy())
    assert np.array_equal(ours, first)  # edges mirrored ("reflect"), the upper median of an even window
    assert np.array_equal(ours, last.transpose(0, 3, 1, 2))


def test_on_digits_too_and_the_default_is_arts_window_of_three():
    from art.defences.preprocessor import SpatialSmoothing as ARTSpatialSmoothing

    images = load_digits_images().data[:50]  # many ties: pixels are multiples of 1/16
    theirs, _ = ARTSpatialSmoothing(channels_first=True)(images.numpy().copy())
    assert SpatialSmoothing().window_size == 3 and np.array_equal(SpatialSmoothing()(images).numpy(), theirs)
    assert torch.equal(SpatialSmoothing(2)(images), MedianSmoothing(2)(images))


def test_the_name_is_registered_and_bad_windows_are_one_line_errors():
    assert transform_class("spatial-smoothing") is SpatialSmoothing
    for window in (0, 2.5, True):
        raises_one_line(lambda size=window: SpatialSmoothing(size), "spatial-smoothing", "window_size", repr(window))
    raises_one_line(lambda: SpatialSmoothing(9)(torch.rand(1, 1, 8, 8)), "spatial-smoothing", "window_size 9",
                    "8x8")
    raises_one_line(lambda: MedianSmoothing(0), "median", "size")
