"""Backdoor repair: a cleaned copy of a backdoored classifier, and a record of what was done.

    fine_pruning                  Liu, Dolan-Gavitt & Garg 2018   prune dormant channels, fine-tune   (fine_pruning.py)
    neural_cleanse_unlearning     Wang et al. 2019, sec. VI-C     unlearn the reversed trigger        (unlearning.py)
    knn_sanitize                  Paudice et al. 2018             relabel by the neighbours' vote     (knn_sanitize.py)

The weight repairs (``REPAIRS``) take (model, clean images, labels, **options) and return (a new model, a dict);
the model given is never modified. ``knn_sanitize(images, labels, ...)`` returns (new labels, the rows changed) of a
training set, to train on afresh.
"""

from __future__ import annotations

from advlab.poisoning.repair.fine_pruning import clean_accuracy, fine_pruning, fine_tune
from advlab.poisoning.repair.knn_sanitize import knn_sanitize
from advlab.poisoning.repair.unlearning import neural_cleanse_unlearning

REPAIRS = {
    "fine-pruning": fine_pruning,
    "neural-cleanse": neural_cleanse_unlearning,
}

__all__ = ["REPAIRS", "clean_accuracy", "fine_pruning", "fine_tune", "knn_sanitize", "neural_cleanse_unlearning"]
