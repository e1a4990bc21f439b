import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from victims import train_digits_victim  # noqa: E402


@pytest.fixture(scope="session")
def digits_cnn():
    """A SmallCNN trained on 80% of scikit-learn's digits; held-out images and labels."""
    return train_digits_victim("cnn")


@pytest.fixture(scope="session")
def digits_mlp():
    """An MLPClassifier trained on the same split."""
    return train_digits_victim("mlp")
