import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from victims import train_digits_victim  # noqa: E402

# Two intra-op threads on a busy 2-core machine run 5-20x slower than one (measured on the attack
# tests); the suite's models are small, so one thread costs little even on an idle machine.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def restore_threads():
    """Commands given --threads N set torch's thread count for the process; every test gets the suite's back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory):
    """Feature networks (advlab.metrics.features) train into one temporary cache, never the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ADVLAB_CACHE", str(tmp_path_factory.mktemp("advlab-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def digits_cnn():
    """A SmallCNN trained on 80% of scikit-learn's digits; held-out images and labels."""
    return train_digits_victim("cnn")


@pytest.fixture(scope="session")
def digits_mlp():
    """An MLPClassifier trained on the same split."""
    return train_digits_victim("mlp")
