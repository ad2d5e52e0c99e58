"""core.inputs.samples: the sample photos, read as shipped."""

from __future__ import annotations

import numpy as np
import pytest

from core.inputs.io import load_image
from core.inputs.samples import SAMPLES, load_sample, sample_bytes


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_bytes_decode_to_the_sample_pixels(name):
    # The shipped JPEG, not a re-encoding: the upload path sees exactly load_sample's pixels.
    data = sample_bytes(name)
    assert data[:2] == b"\xff\xd8"
    np.testing.assert_array_equal(load_image(data), load_sample(name))


def test_unknown_sample_says_which_exist():
    with pytest.raises(ValueError, match="China"):
        sample_bytes("Mars")
