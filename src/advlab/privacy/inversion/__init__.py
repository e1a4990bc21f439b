"""Model inversion: images of what a classifier learned of a class (Fredrikson et al. 2015's MI-Face; Zhang et
al. 2020's GMI with a GAN prior trained on public data). One algorithm per file; both return an Inversion."""

from __future__ import annotations

from advlab.privacy.inversion.gmi import GMI
from advlab.privacy.inversion.mi_face import MIFace
from advlab.privacy.inversion.result import Inversion

__all__ = ["GMI", "Inversion", "MIFace"]
