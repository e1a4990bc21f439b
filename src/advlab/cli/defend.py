"""`advlab defend VERB`: harden a classifier (adversarial or certified training), certify it (randomized smoothing),
put an input transformation (or PixelDefend's purification) in front of it, train a detector of adversarial inputs
for it, repair a poisoned one, or retrain it with differential privacy (DP-SGD). Each group of verbs lives in its
own module."""

from __future__ import annotations

from advlab.cli import (
    defend_detector,
    defend_dp,
    defend_pixel,
    defend_repair,
    defend_smooth,
    defend_train,
    defend_transform,
)


def add_parser(subparsers) -> None:
    defend = subparsers.add_parser("defend", help="adversarial and certified training, randomized smoothing, input "
                                                  "transformations, detectors, backdoor repair, DP-SGD")
    verbs = defend.add_subparsers(dest="verb", required=True, metavar="VERB")
    for module in (defend_train, defend_smooth, defend_transform, defend_pixel, defend_repair, defend_dp,
                   defend_detector):
        module.add_parsers(verbs)
