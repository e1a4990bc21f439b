"""Defenses: adversarial training, certified smoothing, input transformations, purification and DP-SGD.

Beside them, training baselines that are NOT adversarial defenses (label smoothing, mixup, CutMix), exported so
that the robust objectives can be measured against them.

One defense per file, each citing its paper. ``Preprocessed`` puts an input transformation in
front of a classifier (with BPDA's straight-through backward pass on request), and ``load_model``
rebuilds the model a classifier run stands for, defended or not.
"""

from __future__ import annotations

from advlab.defenses.adversarial_detector import AdversarialDetector, load_detector, train_detector
from advlab.defenses.awp import AdversarialWeightPerturbation
from advlab.defenses.bit_depth import BitDepth
from advlab.defenses.defense_gan import DefenseGAN
from advlab.defenses.dp_sgd import DPSGD, train_dp_sgd
from advlab.defenses.fast_at import FastAdversarialTraining
from advlab.defenses.feature_squeezing import MedianSmoothing, SpatialSmoothing, SqueezeDetector
from advlab.defenses.gaussian_noise import GaussianNoiseTraining
from advlab.defenses.ibp import IBPTraining, certified_accuracy, interval_bounds, margin_bounds
from advlab.defenses.jpeg import JPEG
from advlab.defenses.label_smoothing import LabelSmoothing
from advlab.defenses.mart import MART
from advlab.defenses.mixup import CutMix, Mixup
from advlab.defenses.outputs import DefendedScores, HighConfidence, LabelsOnly, Rounded, TopK, parse_output_defense
from advlab.defenses.pgd_at import PGDAdversarialTraining
from advlab.defenses.pixel_defend import PixelDefend, likelihood_p_values, rank_p_values
from advlab.defenses.preprocessed import Preprocessed, load_model, read_defense, write_defense
from advlab.defenses.reverse_sigmoid import ReverseSigmoid
from advlab.defenses.robust_training import OBJECTIVES, TrainingObjective, make_objective
from advlab.defenses.score_noise import ScoreNoise
from advlab.defenses.smoothing import ABSTAIN, SmoothedClassifier
from advlab.defenses.thermometer import ThermometerEncoding
from advlab.defenses.trades import TRADES
from advlab.defenses.tv_minimisation import TotalVarianceMinimisation

__all__ = ["ABSTAIN", "AdversarialDetector", "AdversarialWeightPerturbation", "BitDepth", "CutMix", "DPSGD",
           "DefendedScores", "DefenseGAN", "FastAdversarialTraining", "GaussianNoiseTraining", "HighConfidence",
           "IBPTraining", "JPEG", "LabelSmoothing", "LabelsOnly", "MART", "MedianSmoothing", "Mixup", "OBJECTIVES",
           "PGDAdversarialTraining", "PixelDefend", "Preprocessed", "ReverseSigmoid", "Rounded", "ScoreNoise",
           "SmoothedClassifier", "SpatialSmoothing", "SqueezeDetector", "TRADES", "ThermometerEncoding", "TopK",
           "TotalVarianceMinimisation", "TrainingObjective", "certified_accuracy", "interval_bounds",
           "likelihood_p_values", "load_detector", "load_model", "make_objective", "margin_bounds",
           "parse_output_defense", "rank_p_values", "read_defense", "train_detector", "train_dp_sgd", "write_defense"]
