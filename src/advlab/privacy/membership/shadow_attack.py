"""The shadow-model attack: an attack model per class, learned from shadows that imitate the target.

Shokri, Stronati, Song & Shmatikov 2017, "Membership Inference Attacks Against Machine Learning Models"
(IEEE S&P), sec. IV. Shadow models are trained like the target on data of the same distribution (sec. IV-B);
each shadow's prediction vectors on its own training rows are labelled IN, on the rows it did not see OUT
(sec. IV-C), and one binary attack model per class learns IN from OUT on the vectors of that class's
examples (sec. IV-D: "a collection of k attack models, one for each output class"). The target's prediction
vector on (x, y), given to class y's attack model, gives the score P(IN). The paper's attack models are small
neural networks (its Amazon/Google services aside); ``attack_model`` also offers logistic regression and a
random forest. Attack models come from scikit-learn, seeded.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from torch import Tensor

from advlab.core.checks import check_int
from advlab.core.errors import AdvlabError
from advlab.privacy.membership.base import DEFAULT_SHADOWS, MembershipAttack
from advlab.privacy.membership.signals import shadow_log_probabilities

ATTACK_MODELS = ("mlp", "logistic", "forest")
MLP_EPOCHS = 200


def make_attack_model(kind: str, hidden: int, seed: int):
    """An unfitted scikit-learn binary classifier of `kind` (see ATTACK_MODELS), seeded."""
    if kind == "mlp":
        return MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=MLP_EPOCHS, random_state=seed)
    if kind == "logistic":
        return LogisticRegression(max_iter=1000)
    return RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=seed, n_jobs=1)


class ShadowAttack(MembershipAttack):
    """Shokri et al. 2017's attack (sec. IV): one attack model per class on the shadows' prediction vectors.

    Args:
        shadows: shadow models `fit` trains, each on a random half of the pool.
        attack_model: "mlp" (a small fully connected network, the paper's), "logistic" or "forest".
        hidden: hidden units of the "mlp" attack model.
        seed: seed of the attack models' training.
    """

    name = "the shadow-model attack"
    needs_scores = True
    needs_shadows = True

    def __init__(self, shadows: int = DEFAULT_SHADOWS, attack_model: Literal["mlp", "logistic", "forest"] = "mlp",
                 hidden: int = 64, seed: int = 0):
        if attack_model not in ATTACK_MODELS:
            raise AdvlabError(f"the shadow-model attack: unknown attack_model {attack_model!r}; valid models are: "
                              f"{', '.join(ATTACK_MODELS)}")
        self.shadows = check_int("the shadow-model attack: shadows", shadows, 1)
        self.attack_model, self.hidden = attack_model, check_int("the shadow-model attack: hidden", hidden, 1)
        self.seed = check_int("the shadow-model attack: seed", seed, 0)

    def learn_from_shadows(self) -> None:
        """Train one attack model per class on the shadows' probability vectors of the pool, labelled IN/OUT."""
        log_probabilities = shadow_log_probabilities(self.shadow_set.models, self.pool_images, 0, False)
        vectors = log_probabilities[:, 0].exp().numpy()  # (S, N, K)
        members = self.shadow_set.members.numpy()
        labels = self.pool_labels.numpy()
        self.attack_models = {}
        for label in np.unique(labels):
            rows = labels == label
            inside = members[:, rows].reshape(-1)
            if inside.all() or not inside.any():
                raise AdvlabError(f"the shadow-model attack needs IN and OUT shadow examples of every class, but "
                                  f"class {label} has only {'IN' if inside.all() else 'OUT'} ones; train more shadows")
            model = make_attack_model(self.attack_model, self.hidden, self.seed + int(label))
            self.attack_models[int(label)] = model.fit(vectors[:, rows].reshape(-1, vectors.shape[-1]), inside)

    def score(self, victim, images: Tensor, labels: Tensor, pool_rows: Tensor | None = None) -> Tensor:
        images, labels = self.check_examples(images, labels)
        victim = self.victim(victim)
        self.check_fitted()
        missing = sorted(set(labels.unique().tolist()) - set(self.attack_models))
        if missing:
            raise AdvlabError(f"the shadow-model attack has no attack model for class(es) {missing}: the shadows' "
                              f"pool had none of them; give a pool with every class")
        vectors = victim.probabilities(images, self.name).numpy()
        scores = np.zeros(len(images))
        for label, model in self.attack_models.items():
            rows = labels.numpy() == label
            if rows.any():
                scores[rows] = model.predict_proba(vectors[rows])[:, list(model.classes_).index(True)]
        return torch.from_numpy(scores)


__all__ = ["ATTACK_MODELS", "ShadowAttack"]
