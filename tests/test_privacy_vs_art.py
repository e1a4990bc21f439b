"""advlab's shadow-model membership attack (Shokri et al. 2017) through `advlab privacy membership` beside IBM ART's
MembershipInferenceBlackBox fed by ART's ShadowModels, on the same target, the same shadow recipe and pool, and the
same balanced members and non-members (issue 17, "side by side with ART")."""

import json

import numpy as np
import pytest
import torch
from helpers import tiny_digits_target
from sklearn.metrics import roc_auc_score

from advlab.pipelines.security.membership_run import MembershipRunConfig, membership_run
from advlab.pipelines.train_classifier import build_classifier, classifier_config, load_classifier, run_split

SHADOWS = 4


def art_auc(run, rows: np.ndarray, is_member: np.ndarray) -> float:
    """The AUC of ART's black-box attack (its "nn" attack model on prediction vectors) trained on ART's shadow
    dataset: SHADOWS shadows of the run's architecture, optimiser, epochs and batch size on halves of the pool."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox, ShadowModels
    from art.estimators.classification import PyTorchClassifier

    config = classifier_config(run)

    class RecipeClassifier(PyTorchClassifier):
        """ART's PyTorch wrapper, its fit with the run's epochs and batch size (ShadowModels calls fit(x, y))."""

        def fit(self, x, y, batch_size=config.batch_size, nb_epochs=config.epochs, **kwargs):
            super().fit(x, y, batch_size=batch_size, nb_epochs=nb_epochs, **kwargs)

    model, _ = load_classifier(run, "cpu")
    data, _ = run_split(run)
    images, labels = data.data.numpy(), data.labels.numpy()
    shape, classes = tuple(images.shape[1:]), int(labels.max()) + 1
    loss = torch.nn.CrossEntropyLoss()
    target = PyTorchClassifier(model, loss, shape, classes, clip_values=(0.0, 1.0), device_type="cpu")
    torch.manual_seed(0)
    fresh = build_classifier(config.model, shape, classes, config.model_width)
    template = RecipeClassifier(fresh, loss, shape, classes, optimizer=torch.optim.Adam(fresh.parameters(), config.lr),
                                clip_values=(0.0, 1.0), device_type="cpu")
    one_hot = np.eye(classes, dtype=np.float32)[labels]
    (member_x, member_y, member_p), (other_x, other_y, other_p) = ShadowModels(
        template, num_shadow_models=SHADOWS, random_state=0).generate_shadow_dataset(images, one_hot, member_ratio=0.5)
    attack = MembershipInferenceBlackBox(target, input_type="prediction", attack_model_type="nn")
    attack.fit(member_x, member_y, other_x, other_y, member_p, other_p)
    scores = attack.infer(images[rows], one_hot[rows], probabilities=True)
    return float(roc_auc_score(is_member, np.asarray(scores).reshape(len(rows), -1)[:, -1]))


@pytest.mark.slow  # ~1 min here: a 40-epoch target, 4 shadows on each side, ART's 100-epoch attack model
def test_advlab_shadow_attack_is_within_a_few_points_of_art(tmp_path):
    run = tiny_digits_target(tmp_path / "target", width=128, epochs=60, test_fraction=0.8)  # 359 rows: overfit
    folder = membership_run(MembershipRunConfig(run, ("shadow", "loss"), shadows=SHADOWS, device="cpu",
                                                progress=False))
    record = json.loads((folder / "membership.json").read_text())
    with np.load(folder / "scores.npz", allow_pickle=False) as saved:
        rows, is_member = saved["rows"], saved["is_member"]
    ours, theirs = record["attacks"]["shadow"]["auc"], art_auc(run, rows, is_member)
    print(f"shadow-model attack AUC: advlab {ours:.4f}, ART {theirs:.4f}; loss threshold "
          f"{record['attacks']['loss']['auc']:.4f}")
    assert ours > 0.5 and theirs > 0.5
    assert abs(ours - theirs) < 0.05
