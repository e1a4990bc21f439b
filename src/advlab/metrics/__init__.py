"""Metrics that tell whether a generator learned the data distribution.

Every metric takes NumPy arrays or torch tensors; feature matrices are (n, d). See each module for its paper.
"""

from advlab.metrics.birthday import BirthdaySupport, birthday_support, calibrate_threshold
from advlab.metrics.domain_score import DomainClassifier, domain_score, train_domain_classifier
from advlab.metrics.features import FeatureNet, cache_dir, load_feature_net, train_feature_net
from advlab.metrics.fid import feature_statistics, fid, frechet_distance
from advlab.metrics.image_quality import psnr, rgb_to_y, ssim
from advlab.metrics.inception_score import InceptionScore, inception_score, inception_score_from_logits
from advlab.metrics.kid import KID, kid
from advlab.metrics.modes import LabelModes, ModeCoverage, label_modes, mode_coverage
from advlab.metrics.music import compare_melodies, melody_statistics, nearest_training_bars, random_melodies
from advlab.metrics.oscillation import (
    Oscillation,
    RankCorrelation,
    convergence_vs_quality,
    loss_oscillation,
    rank_correlation,
)
from advlab.metrics.prdc import PRDC, DensityCoverage, PrecisionRecall, density_coverage, prdc, precision_recall
from advlab.metrics.segmentation_score import SegmentationScore, segmentation_score, train_segmenter
from advlab.metrics.speech import edit_distance, greedy_ctc_decode, sentence_accuracy, word_error_rate
from advlab.metrics.stacked_modes import digit_mode_coverage, stacked_mode_coverage
from advlab.metrics.text_image import (
    attribute_accuracy,
    attribute_classifier,
    chance_accuracy,
    classifier_fid,
    r_precision,
)

__all__ = [
    "edit_distance", "greedy_ctc_decode", "sentence_accuracy", "word_error_rate",
    "attribute_accuracy", "attribute_classifier", "chance_accuracy", "classifier_fid", "compare_melodies",
    "melody_statistics", "nearest_training_bars", "r_precision", "random_melodies",
    "DomainClassifier", "SegmentationScore", "domain_score", "psnr", "rgb_to_y", "segmentation_score", "ssim",
    "train_domain_classifier", "train_segmenter",
    "KID", "PRDC", "BirthdaySupport", "DensityCoverage", "FeatureNet", "InceptionScore", "LabelModes", "ModeCoverage",
    "Oscillation", "PrecisionRecall", "RankCorrelation",
    "birthday_support", "cache_dir", "calibrate_threshold", "convergence_vs_quality", "density_coverage",
    "digit_mode_coverage", "feature_statistics", "fid", "frechet_distance", "inception_score",
    "inception_score_from_logits", "kid", "label_modes", "load_feature_net", "loss_oscillation", "mode_coverage",
    "prdc", "precision_recall", "rank_correlation", "stacked_mode_coverage", "train_feature_net",
]
