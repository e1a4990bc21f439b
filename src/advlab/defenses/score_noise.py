"""Gaussian noise on the scores a prediction API returns.

ART's ``GaussianNoise`` post-processor (art/defences/postprocessor/gaussian_noise.py, which ART's defence list
credits to the randomised answers discussed by Chandrasekaran, Chaudhuri, Giacomelli, Jha & Yan 2020,
"Exploring Connections Between Active Learning and Model Extraction", USENIX Security): every answer
gets fresh noise, clipped at 0 and renormalised,

    y' = max(y + sigma * n, 0),  n ~ N(0, I_K) drawn anew for every query,
    y_hat = y' / sum_k y'_k

so that an attacker who reads the scores (a score-based evasion attack estimating a gradient from differences
of scores, a membership attack reading the confidence, an extraction copy fitting the probabilities) reads
them through noise of scale sigma, and averaging over repeated queries costs the attacker queries.

Unlike rounding, top-k or the reverse sigmoid, this defense CAN change the top-1 answer: where the two largest
probabilities are closer than a few sigma, the noise decides (ART's does too; that is the defense's price in
accuracy, measured in tests/test_output_defenses.py). A row whose every entry clips to 0 (possible only
for sigma of the order of 1/K or more) answers the uniform vector (ART would divide 0 by 0). The noise is drawn
from the defense's own generator, seeded, so a CPU run is reproducible; ART draws from NumPy's global one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.core.checks import check_int, check_number

DEFAULT_SIGMA = 0.2  # ART's default scale


class ScoreNoise:
    """Gaussian noise of standard deviation `sigma` added to probability vectors (N, K), clipped at 0 and
    renormalised; fresh noise on every call. See the module docstring.

    Args:
        sigma: the noise's standard deviation, > 0 (ART's default 0.2).
        seed: seeds the defense's own noise generator.
    """

    name = "Gaussian noise on scores"
    output = "probabilities"

    def __init__(self, sigma: float = DEFAULT_SIGMA, seed: int = 0):
        self.sigma = check_number("Gaussian noise on scores: sigma", sigma, 0.0, strict=True)
        self.seed = check_int("Gaussian noise on scores: seed", seed, 0)
        self.generators: dict[str, torch.Generator] = {}

    @property
    def spec(self) -> str:
        return f"noise:{self.sigma:g}"

    def generator(self, device: torch.device) -> torch.Generator:
        """The defense's generator on `device`, seeded on first use there and then drawn from."""
        key = str(device)
        if key not in self.generators:
            self.generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[key]

    def standard_normal(self, probabilities: Tensor) -> Tensor:
        """n ~ N(0, I) of the shape of `probabilities`, from the defense's generator."""
        return torch.randn(probabilities.shape, generator=self.generator(probabilities.device),
                           device=probabilities.device, dtype=probabilities.dtype)

    def __call__(self, probabilities: Tensor) -> Tensor:
        noisy = (probabilities + self.sigma * self.standard_normal(probabilities)).clamp_min(0.0)
        total = noisy.sum(1, keepdim=True)
        uniform = torch.full_like(noisy, 1.0 / noisy.shape[1])
        return torch.where(total > 0, noisy / total.clamp_min(torch.finfo(noisy.dtype).tiny), uniform)

    def __repr__(self) -> str:
        return f"ScoreNoise(sigma={self.sigma!r}, seed={self.seed!r})"


__all__ = ["DEFAULT_SIGMA", "ScoreNoise"]
