"""GAN privacy: does a generator leak or copy its training data? (issue 22, part 2)

* :mod:`~advlab.privacy.gan.logan` — LOGAN's white-box discriminator-score attack (Hayes et al. 2019);
* :mod:`~advlab.privacy.gan.gan_leaks` — GAN-Leaks' reconstruction attack, full black-box and white-box,
  with calibration (Chen et al. 2020);
* :mod:`~advlab.privacy.gan.memorisation` — nearest training image of each generated sample, the copy ratio
  against held-out real images, flagged copies and the birthday support estimate.

Membership scores are (N,) float64, higher = more likely a member, for
:func:`advlab.privacy.membership.membership_roc`.
"""

from __future__ import annotations

from advlab.privacy.gan.gan_leaks import GANLeaks, Reconstruction, gan_leaks_scores
from advlab.privacy.gan.logan import LOGAN, discriminator_scores
from advlab.privacy.gan.memorisation import DEFAULT_THRESHOLD, Memorisation, memorisation, nearest_in

__all__ = ["DEFAULT_THRESHOLD", "LOGAN", "GANLeaks", "Memorisation", "Reconstruction", "discriminator_scores",
           "gan_leaks_scores", "memorisation", "nearest_in"]
