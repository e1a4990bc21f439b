"""train_classifier(rows=...): a run trained on rows its caller chose (shadow models) records and rebuilds them."""

import json

import pytest
import torch

from advlab.core.errors import AdvlabError
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import run_split, train_classifier


def config(tmp_path):
    return ClassifierTrainConfig(out=str(tmp_path / "shadow"), data="digits", epochs=1, device="cpu", model="mlp",
                                 width=16)


def test_given_rows_are_trained_on_recorded_and_rebuilt(tmp_path):
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(3))
    run = train_classifier(config(tmp_path), progress=False, report=False, rows=(order[:700], order[700:1000]))
    _, (train_rows, test_rows) = run_split(run.root)
    assert torch.equal(train_rows, order[:700]) and torch.equal(test_rows, order[700:1000])
    summary = json.loads((run.root / "summary.json").read_text())
    assert summary["train_size"] == 700 and summary["test_size"] == 300 and summary["split"]["kind"] == "given"


@pytest.mark.parametrize("rows, message", [
    ((torch.arange(10), torch.arange(5, 20)), "disjoint"),
    ((torch.arange(0), torch.arange(5)), "non-empty"),
    ((torch.arange(5), torch.arange(0)), "non-empty"),
    ((torch.tensor([0, 1797]), torch.arange(2, 5)), r"\[0, 1797\)"),
])
def test_bad_given_rows_are_one_clear_error(tmp_path, rows, message):
    with pytest.raises(AdvlabError, match=message):
        train_classifier(config(tmp_path), progress=False, report=False, rows=rows)


def test_logreg_is_one_linear_layer_on_the_pixels_and_refuses_a_width():
    from advlab.pipelines.train_classifier import build_classifier

    model = build_classifier("logreg", (1, 8, 8), 10, 1)
    linear = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    assert len(linear) == 1 and linear[0].weight.shape == (10, 64)
    assert sum(p.numel() for p in model.parameters()) == 64 * 10 + 10
    with pytest.raises(AdvlabError, match="drop --width"):
        ClassifierTrainConfig(data="digits", model="logreg", width=4).validate()
