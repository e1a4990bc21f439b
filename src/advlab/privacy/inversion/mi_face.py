"""MI-Face: model inversion by gradient descent on the class confidence.

Fredrikson, Jha & Ristenpart 2015, "Model Inversion Attacks that Exploit Confidence Information and Basic
Countermeasures" (CCS), sec. 5.2, Algorithm 1. To recover what the model has learned of class `label`, descend
the cost

    c(x) = 1 - f_label(x) + AuxTerm(x)

(f_label the victim's softmax confidence in `label`, AuxTerm any side information; none here unless given) from
a start x_0 (the paper's x_0 = 0):

    x_i = Process(x_{i-1} - lambda * grad c(x_{i-1}))        for i = 1 .. alpha,

and stop early when either rule of Algorithm 1 fires:

* lines 6-7: c(x_i) >= max(c(x_{i-1}), ..., c(x_{i-beta})) -- over the last beta steps the cost made no net
  progress (it is back at or above the worst of them); it applies once beta earlier costs exist;
* lines 8-9: the cost is low enough. The paper writes c(x_i) <= gamma with gamma = 0.99; read literally, that
  stops at the first step whenever the victim gives the class more than 1% confidence, as it does at x_0 = 0 for
  every class of a digits CNN (3-27%) and for a 40-class softmax (about 1/40). So gamma is read as the confidence
  to reach: stop once c(x_i) <= 1 - gamma, i.e. f_label(x_i) >= 0.99 when there is no AuxTerm. (ART's MIFace,
  1.20, likewise keeps descending while its cost is at most its threshold 0.99.)

The attack returns the iterate of lowest cost, arg min_i c(x_i) (line 10), and that cost. The paper's setting
for its softmax, MLP and DAE face models: alpha = 5000, beta = 100, gamma = 0.99, lambda = 0.1 (the defaults).

``Process`` is the paper's post-processing between steps: it applies image denoising and sharpening filters to
each iterate. The paper names no particular filters; here the denoiser is a Gaussian blur of ``denoise`` pixels
(advlab.attacks.transforms.gaussian_blur) and the sharpener unsharp masking with the same blur,
x + sharpen * (x - blur(x)), and the result is clipped to the image range [0, 1] (both filters off: plain
projected gradient descent). The attack follows the victim's gradients, so it needs white-box access
(``victim.module``); a black-box victim is refused with a clear error (no finite differences).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks.transforms import gaussian_blur
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.privacy.inversion.result import Inversion, check_labels
from advlab.privacy.victim import as_victim

ATTACK = "MI-Face"


class MIFace:
    """Fredrikson et al. 2015's Algorithm 1 (module docstring): images the victim is confident are `label`.

    Args:
        iterations: alpha, the most gradient steps per image (default 5000).
        patience: beta: stop once the cost is no lower than the highest of the beta costs before it (default 100).
        threshold: gamma: stop once the cost c(x) = 1 - f_label(x) + AuxTerm(x) is at most 1 - gamma, i.e. once the
            confidence reaches gamma without AuxTerm (default 0.99; module docstring).
        step: lambda, the step size of the gradient descent on c(x) (default 0.1).
        denoise: the Gaussian denoising filter of Process, its sigma in pixels (0: no denoising; default 0.5).
        sharpen: the unsharp-masking sharpening filter of Process, x + sharpen (x - blur(x)) with the denoising blur
            (0, or denoise 0: none; default 1.0).
        aux: AuxTerm(x), images (N, C, H, W) -> (N,) costs added to c(x) (default None: no side information).
    """

    def __init__(self, iterations: int = 5000, patience: int = 100, threshold: float = 0.99, step: float = 0.1,
                 denoise: float = 0.5, sharpen: float = 1.0, aux: Callable[[Tensor], Tensor] | None = None):
        self.iterations = check_int(f"{ATTACK}: iterations", iterations, 1)
        self.patience = check_int(f"{ATTACK}: patience", patience, 1)
        self.threshold = check_number(f"{ATTACK}: threshold", threshold, -math.inf)
        self.step = check_number(f"{ATTACK}: step", step, strict=True)
        self.denoise = check_number(f"{ATTACK}: denoise", denoise)
        self.sharpen = check_number(f"{ATTACK}: sharpen", sharpen)
        self.aux = aux

    def invert(self, victim, labels, starts: Tensor, progress: bool = False) -> Inversion:
        """Run Algorithm 1 from each start (N, C, H, W) in [0, 1] for the matching label (N,); see Inversion.

        `victim` is a white-box Victim or an nn.Module (advlab.privacy.victim.as_victim).
        """
        module = as_victim(victim).white_box(ATTACK)
        device = next(module.parameters()).device
        starts = check_starts(starts)
        x = starts.to(device).clone()
        with evaluating(module):
            classes = module(x[:1]).shape[1]
            labels = check_labels(labels, classes, ATTACK)
            if len(labels) != len(x):
                raise AdvlabError(f"{ATTACK}: {len(x)} start images for {len(labels)} labels; give one start each")
            return self.descend(module, x, labels.to(device), progress)

    def descend(self, module: nn.Module, x: Tensor, labels: Tensor, progress: bool) -> Inversion:
        """Algorithm 1's loop for every row at once; each row stops on its own rules."""
        n = len(x)
        cost, grad = self.cost_and_gradient(module, x, labels)
        best, best_cost = x.clone(), cost.clone()
        window = torch.full((n, self.patience), math.inf, device=x.device)  # c(x_{i-1}) .. c(x_{i-beta})
        window[:, 0] = cost
        active = torch.ones(n, dtype=torch.bool, device=x.device)
        steps = torch.zeros(n, dtype=torch.long, device=x.device)
        bar = tqdm(total=self.iterations, disable=not progress, desc=ATTACK, unit="step", dynamic_ncols=True,
                   file=sys.stderr)
        for i in range(1, self.iterations + 1):
            rows = active.nonzero().squeeze(1)
            x[rows] = self.process(x[rows] - self.step * grad)
            cost, grad = self.cost_and_gradient(module, x[rows], labels[rows])
            steps[rows] += 1
            better = cost < best_cost[rows]
            best[rows[better]], best_cost[rows[better]] = x[rows[better]], cost[better]
            stalled = cost >= window[rows].max(1).values  # lines 6-7 (inf until beta costs exist)
            low = cost <= 1 - self.threshold  # lines 8-9, gamma read as a confidence (module docstring)
            window[rows, i % self.patience] = cost
            keep = ~(stalled | low)
            active[rows[~keep]] = False
            grad = grad[keep]
            bar.update(1)
            bar.set_postfix(active=int(active.sum()), refresh=False)
            if not active.any():
                break
        bar.close()
        return Inversion(best.detach().cpu(), labels.cpu(), best_cost.detach().cpu(), steps.cpu())

    def cost_and_gradient(self, module: nn.Module, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(c(x) per row, grad_x of c): c(x) = 1 - softmax(module(x))_label + AuxTerm(x)."""
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            confidence = module(x).softmax(1).gather(1, labels.view(-1, 1)).squeeze(1)
            cost = 1 - confidence + (self.aux(x) if self.aux is not None else 0)
            grad, = torch.autograd.grad(cost.sum(), x)
        return cost.detach(), grad

    def process(self, x: Tensor) -> Tensor:
        """Process of Algorithm 1: the denoising filter, then the sharpening filter, clipped to [0, 1]."""
        if self.denoise > 0:
            x = gaussian_blur(x, self.denoise)
        if self.sharpen > 0 and self.denoise > 0:
            x = x + self.sharpen * (x - gaussian_blur(x, self.denoise))
        return x.clamp(0.0, 1.0)


def check_starts(starts) -> Tensor:
    """Start images (N, C, H, W), finite, in [0, 1]; else an AdvlabError."""
    if not isinstance(starts, Tensor) or starts.dim() != 4 or not len(starts):
        shape = tuple(starts.shape) if isinstance(starts, Tensor) else type(starts).__name__
        raise AdvlabError(f"{ATTACK}: the start images must be a tensor (N, C, H, W) with N >= 1, got {shape}; "
                          "the paper starts from zeros: torch.zeros(N, C, H, W)")
    if not torch.isfinite(starts).all() or float(starts.min()) < 0 or float(starts.max()) > 1:
        raise AdvlabError(f"{ATTACK}: the start images must be finite and in [0, 1]")
    return starts.float()


__all__ = ["MIFace"]
