"""Backdoor detection: find the poisoned training rows, the triggered inputs or the backdoored classes.

One detector per file, each a function ``(model, images, labels, **options) -> Detection`` that never modifies
the model it inspects:

    spectral_signatures      Tran, Li & Madry 2018          training rows   (detection/spectral.py)
    activation_clustering    Chen et al. 2018               training rows   (detection/activation_clustering.py)
    strip                    Gao et al. 2019                inputs          (detection/strip.py)
    neural_cleanse           Wang et al. 2019               classes         (detection/neural_cleanse.py)

Representations come from the penultimate layer by default (advlab.models.representations), never the logits.
"""

from __future__ import annotations

from advlab.poisoning.detection.activation_clustering import activation_clustering
from advlab.poisoning.detection.neural_cleanse import neural_cleanse
from advlab.poisoning.detection.result import Detection
from advlab.poisoning.detection.spectral import spectral_signatures
from advlab.poisoning.detection.strip import strip

DETECTORS = {
    "spectral": spectral_signatures,
    "activation-clustering": activation_clustering,
    "strip": strip,
    "neural-cleanse": neural_cleanse,
}

__all__ = ["DETECTORS", "Detection", "activation_clustering", "neural_cleanse", "spectral_signatures", "strip"]
