import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from victims import train_digits_victim  # noqa: E402

# Two intra-op threads on a busy 2-core machine run 5-20x slower than one (measured on the attack
# tests); the suite's models are small, so one thread costs little even on an idle machine.
torch.set_num_threads(1)


def pytest_configure(config):
    """xdist hands out whole files (--dist loadfile) in the collection order below, not by its own count."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


FILE_SECONDS = json.loads((Path(__file__).parent / "file_seconds.json").read_text())


def pytest_collection_modifyitems(config, items):
    """The longest files first (longest processing time first), so that the run does not end on one long file.

    xdist deals whole files out in this order (--dist loadfile), and a worker asks for its next file while two tests
    of its current one are left: with xdist's own order (most tests first) the one-test slow files came last and one
    of them ran alone while the other worker sat idle. A file's seconds come from file_seconds.json (its tests'
    durations summed, from ``pytest -n auto --dist loadfile --durations=0`` on the 2-core machine; only the order
    matters, so it need not be fresh); a file not listed counts 30 s if it has a slow test or is a bench page's quick
    run, else 0.3 s a test. Each file's tests keep their order."""
    counts: dict = {}
    for item in items:
        counts[item.path] = counts.get(item.path, 0) + 1
    heavy = {item.path for item in items if item.get_closest_marker("slow") or item.path.name.startswith("test_bench_")}

    def seconds(path) -> float:
        return FILE_SECONDS.get(path.name, 30.0 if path in heavy else 0.3 * counts[path])

    items.sort(key=lambda item: (-seconds(item.path), str(item.path)))


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
