"""Metrics that tell whether a generator learned the data distribution."""

from advlab.metrics.modes import LabelModes, ModeCoverage, label_modes, mode_coverage

__all__ = ["LabelModes", "ModeCoverage", "label_modes", "mode_coverage"]
