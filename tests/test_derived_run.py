"""write_derived_run: a classifier run with new weights and the source's data, split and curves."""

import copy
import json

import pytest
import torch

from advlab import AdvlabError
from advlab.core.config import from_mapping
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.security.derived_run import write_derived_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    config = from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "mlp", "width": 16, "epochs": 2,
                                                  "device": "cpu", "threads": 1,
                                                  "out": str(tmp_path_factory.mktemp("derived") / "source")})
    return train_classifier(config, progress=False, report=False).root


def test_the_derived_run_loads_the_new_weights_and_keeps_the_split(source, tmp_path):
    model, _ = load_classifier(source, device="cpu")
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.net[-1].bias += torch.arange(10.0)  # a different model, same architecture
    run = write_derived_run(source, changed, tmp_path / "new", {"repair": "test"})
    loaded, config = load_classifier(run.root, device="cpu")
    images, labels = held_out_split(run.root)
    assert torch.equal(images, held_out_split(source)[0])
    assert torch.allclose(loaded(images), changed(images))
    assert not torch.allclose(loaded(images), model(images))
    summary = json.loads(run.summary.read_text())
    expected = float((changed(images).argmax(1) == labels).float().mean())
    assert summary["test_accuracy"] == pytest.approx(expected)
    assert summary["repair"] == "test" and summary["derived_from"] == str(source)
    assert config.out == str(tmp_path / "new")
    assert (run.root / "metrics.jsonl").read_text() == (source / "metrics.jsonl").read_text()


def test_the_source_is_never_overwritten(source, tmp_path):
    model, _ = load_classifier(source, device="cpu")
    with pytest.raises(AdvlabError, match="the run being changed"):
        write_derived_run(source, model, source, {})
    write_derived_run(source, model, tmp_path / "once", {})
    with pytest.raises(AdvlabError, match="already holds a run"):
        write_derived_run(source, model, tmp_path / "once", {})
