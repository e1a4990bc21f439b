"""Metrics that tell whether a generator learned the data distribution."""

from advlab.metrics.modes import ModeCoverage, mode_coverage

__all__ = ["ModeCoverage", "mode_coverage"]
