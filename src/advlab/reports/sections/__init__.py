"""Report sections, one module per kind of result; each registers itself (``base.register``) in report order.

The answer first: the final samples (for 2-D data, the points over the discriminator), the summary, the
evaluation, robustness and smoothing, the attacks; then the samples over time and the training curves; the
configuration last, folded. A new kind of result (poisoning, privacy, audit, translation, ...) is a new module
here with a ``Section`` subclass: ``applies(run)``, ``collect(run)``, ``html``/``markdown``, an ``order`` -- and
one import line below. ``advlab.reports.render`` only assembles the sections that apply to a run.
"""

from advlab.reports.sections import (  # noqa: F401 -- importing a section module registers it
    attacks,
    audio,
    audit,
    configuration,
    evaluation,
    music,
    poisoning,
    privacy,
    robustness,
    samples,
    smoothing,
    summary,
    superres,
    text2image,
    training,
)
from advlab.reports.sections.base import SECTIONS, Section, register, sections_for

__all__ = ["SECTIONS", "Section", "register", "sections_for"]
