"""Activation clustering: a backdoored class splits into two clusters in the penultimate activations.

Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava 2018, "Detecting backdoor attacks on deep
neural networks by activation clustering" (arXiv:1811.03728), Algorithm 1 and its cluster analyses: feed the
training set to the model, take the activations of the last hidden layer, split them by label, flatten each row,
reduce them to 10 dimensions with independent component analysis, and cluster each class into two with k-means;
then decide which clusters are poison: by *relative size* (a poisoned class's smaller cluster holds the poisons,
so a cluster with at most 35% of its class's rows is suspect) and by *silhouette score* (how well two clusters fit
the class: high when the class really is two populations, low when 2-means cuts one population in two).

Here each class's activations lose their constant columns (dead ReLU units, which make ICA's whitening divide by
zero), are reduced with scikit-learn's FastICA (``reduce="ica"``, unit-variance sources) or PCA (``reduce="pca"``)
to ``dims`` (10), and clustered by KMeans (``restarts`` initialisations, the lowest inertia kept). A class is
flagged by ``criterion``: "size" (the smaller cluster's share <= ``size_threshold``, 0.35), "silhouette"
(silhouette >= ``silhouette_threshold``) or "both" (the default: both at once, as IBM ART's silhouette analysis
does); the smaller cluster of a flagged class is the flagged rows. Both figures are reported per class.
Silhouettes depend on the reduction: on whitened ICA sources they are lower than on PCA's unwhitened components
(which are dominated by the top component), so the default threshold 0.2 is for ICA. Measured on the tests' 16 px
digits victim (BadNets at 5%), seeds 0-2: the target class is flagged every time (silhouette 0.22), its smaller
cluster holding 65-100% of the poisons; a 6% cluster of outlying 7s (0.25) is flagged too, and a 6 once: 0.6-2.1%
of the clean rows. On its clean twin no class reaches 0.2 (at most 0.18). Whitened sources are isotropic, so
2-means has near-equal optima and the split depends on the seed; natural sub-populations (two ways to write a
digit) are this method's known false positives. Unlike IBM ART's ActivationDefence on a PyTorch model, which reads
the last top-level module (usually the logits, ART issue #1810), the representation here is the penultimate
layer's (advlab.models.representations) unless a layer is named.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.models.representations import representations
from advlab.poisoning.detection.result import Detection, check_inputs, check_share, class_rows

DIMS = 10
SIZE_THRESHOLD = 0.35
SILHOUETTE_THRESHOLD = 0.2
RESTARTS = 50
REDUCTIONS = ("ica", "pca")
CRITERIA = ("both", "size", "silhouette")
ICA_ITERATIONS = 2000
ICA_TOLERANCE = 1e-4  # scikit-learn's default; IBM ART's ActivationDefence uses 0.005 (and 1,000 iterations)
MIN_ROWS = 4  # two clusters and a silhouette need a few rows


def reduce_features(features: np.ndarray, how: str, dims: int, seed: int,
                    tolerance: float = ICA_TOLERANCE) -> np.ndarray:
    """(n, d) activations of one class -> (n, <= dims) after dropping constant columns, by ICA (stopping at
    `tolerance`) or PCA."""
    varying = features[:, features.std(0) > 0]
    dims = min(dims, varying.shape[1], len(features) - 1)
    if dims < 1:
        return np.zeros((len(features), 1))
    if how == "pca":
        return PCA(dims, random_state=seed).fit_transform(varying)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return FastICA(dims, whiten="unit-variance", max_iter=ICA_ITERATIONS, tol=tolerance,
                       random_state=seed).fit_transform(varying)


def two_clusters(reduced: np.ndarray, restarts: int, seed: int,
                 silhouette: bool = True) -> tuple[np.ndarray, float, float]:
    """2-means of (n, k) rows: (bool (n,) True on the smaller cluster, its share of the rows, silhouette score);
    a share of 0 and silhouette nan when the rows do not split; with `silhouette` False the score (O(n^2)) is not
    computed and is nan."""
    assignment = KMeans(2, n_init=restarts, random_state=seed).fit_predict(reduced)
    if len(np.unique(assignment)) < 2:
        return np.zeros(len(reduced), dtype=bool), 0.0, float("nan")
    smaller = int(np.bincount(assignment, minlength=2).argmin())
    in_smaller = assignment == smaller
    score = float(silhouette_score(reduced, assignment)) if silhouette else float("nan")
    return in_smaller, float(in_smaller.mean()), score


def is_poisoned(share: float, silhouette: float, criterion: str, size_threshold: float,
                silhouette_threshold: float) -> bool:
    """The class verdict of `criterion` ("size", "silhouette" or "both") on its smaller cluster's share and
    its silhouette."""
    small = 0 < share <= size_threshold
    cohesive = not np.isnan(silhouette) and silhouette >= silhouette_threshold
    return {"size": small, "silhouette": cohesive and share > 0, "both": small and cohesive}[criterion]


def activation_clustering(model: nn.Module, images: Tensor, labels: Tensor, reduce: str = "ica", dims: int = DIMS,
                          criterion: str = "both", size_threshold: float = SIZE_THRESHOLD,
                          silhouette_threshold: float = SILHOUETTE_THRESHOLD, restarts: int = RESTARTS,
                          layer: str | None = None, classes: Sequence[int] | None = None, batch: int | None = None,
                          seed: int = 0, ica_tolerance: float = ICA_TOLERANCE) -> Detection:
    """Flag the smaller 2-means cluster of each class whose activations split like a poisoned class's.

    Args:
        model: the classifier trained on (images, labels); never modified.
        images: the training images (N, C, H, W) in [0, 1], on the model's device.
        labels: their labels (N,) int64, as trained on.
        reduce: "ica" (default, FastICA as in the paper) or "pca".
        dims: dimensions to reduce each class's activations to (default 10).
        criterion: "both" (default: relative size and silhouette), "size" or "silhouette".
        size_threshold: a smaller cluster with at most this share of its class is suspect (default 0.35).
        silhouette_threshold: a class whose 2-means silhouette reaches this is suspect (default 0.2).
        restarts: KMeans initialisations (default 50; the lowest inertia is kept).
        layer: name of the module whose output is the representation (default: the penultimate layer).
        classes: the labels to inspect (default: every label present).
        batch: images per forward pass (default: advlab.core.batching.images_per_pass, cache-sized on a CPU).
        seed: seeds ICA/PCA and KMeans (default 0).
        ica_tolerance: FastICA's stopping tolerance (default 1e-4, scikit-learn's; IBM ART uses 0.005, which
            stops sooner).

    Returns:
        Detection of kind "rows": the flagged rows (the smaller clusters of flagged classes), scores (N,) = 1 -
        the share of its class that a row's cluster holds (higher is more suspicious; 0 for rows not
        inspected), threshold None; extras ``relative_size`` and ``silhouette`` {class: value; the silhouette None
        under criterion "size", which does not need it}, ``flagged_classes``,
        ``criterion``, ``reduce``, ``size_threshold``, ``silhouette_threshold``.
    """
    check_inputs(model, images, labels)
    if reduce not in REDUCTIONS:
        raise AdvlabError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
    if criterion not in CRITERIA:
        raise AdvlabError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    check_int("dims", dims, 1)
    check_int("restarts", restarts, 1)
    if batch is not None:
        check_int("batch", batch, 1)
    ica_tolerance = check_number("ica_tolerance", ica_tolerance, 0.0, strict=True)
    size_threshold = check_share("size_threshold", size_threshold)
    silhouette_threshold = check_number("silhouette_threshold", silhouette_threshold, -1.0)
    groups = class_rows(labels, classes)
    features = representations(model, images, layer, batch).cpu().double().numpy()
    scores = torch.zeros(len(labels))
    flags = torch.zeros(len(labels), dtype=torch.bool)
    sizes: dict[int, float | None] = {}
    silhouettes: dict[int, float | None] = {}
    flagged_classes = []
    for label, rows in groups.items():
        if len(rows) < MIN_ROWS:
            sizes[label] = silhouettes[label] = None
            continue
        reduced = reduce_features(features[rows.numpy()], reduce, dims, seed, ica_tolerance)
        in_smaller, share, silhouette = two_clusters(reduced, restarts, seed, silhouette=criterion != "size")
        smaller = torch.from_numpy(in_smaller)
        sizes[label], silhouettes[label] = share, silhouette
        scores[rows] = torch.where(smaller, 1 - share, share).float()
        if is_poisoned(share, silhouette, criterion, size_threshold, silhouette_threshold):
            flagged_classes.append(label)
            flags[rows[smaller]] = True
    return Detection("activation-clustering", "rows", flags.nonzero().flatten(), len(labels), scores, None,
                     {"relative_size": sizes, "silhouette": silhouettes, "flagged_classes": flagged_classes,
                      "criterion": criterion, "reduce": reduce, "size_threshold": size_threshold,
                      "silhouette_threshold": silhouette_threshold})


__all__ = ["activation_clustering"]
