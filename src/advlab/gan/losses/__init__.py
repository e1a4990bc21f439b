"""The GAN loss family, one file each; `LOSSES` maps names to classes."""

from __future__ import annotations

from advlab.core.errors import AdvlabError
from advlab.gan.losses.base import GANLoss
from advlab.gan.losses.hinge import HingeLoss
from advlab.gan.losses.least_squares import LeastSquaresLoss
from advlab.gan.losses.minimax import MinimaxLoss
from advlab.gan.losses.nonsaturating import NonSaturatingLoss
from advlab.gan.losses.wasserstein_gp import WassersteinGPLoss, gradient_penalty

LOSSES: dict[str, type[GANLoss]] = {
    "minimax": MinimaxLoss,
    "nonsaturating": NonSaturatingLoss,
    "least-squares": LeastSquaresLoss,
    "hinge": HingeLoss,
    "wgan-gp": WassersteinGPLoss,
}


def make_loss(name: str, gp_weight: float = 10.0, drift: float = 0.0) -> GANLoss:
    """The loss called `name` (`gp_weight` and `drift` apply to wgan-gp); an unknown name is an AdvlabError listing
    the valid ones."""
    if name not in LOSSES:
        raise AdvlabError(f"unknown loss {name!r}; valid losses are: {', '.join(LOSSES)}")
    return LOSSES[name](gp_weight, drift) if name == "wgan-gp" else LOSSES[name]()


__all__ = ["GANLoss", "HingeLoss", "LOSSES", "LeastSquaresLoss", "MinimaxLoss",
           "NonSaturatingLoss", "WassersteinGPLoss", "gradient_penalty", "make_loss"]
