"""FAB: the Fast Adaptive Boundary attack, minimal Linf, L2 or L1 perturbations.

Croce & Hein 2020, "Minimally distorted adversarial examples with a fast adaptive boundary
attack" (ICML), sec. 3 and Algorithm 1. At the iterate x (x_orig the clean image, s its class),
the classifier is linearised, and the decision boundary between s and the nearest other class

    l = argmin_{k != s} |f_k(x) - f_s(x)| / ||grad f_k(x) - grad f_s(x)||_q      (q the dual norm)

becomes the hyperplane pi = {z : <w, z - x> + f = 0}, w = grad f_l(x) - grad f_s(x), f = f_l(x) - f_s(x).
Both the iterate and the clean image are projected onto pi intersected with the box [0, 1]^d in the
attack's norm p (the projection below), giving the steps delta and delta_orig, and the next iterate
mixes the two, extrapolated by eta:

    alpha  = min(||delta||_p / (||delta||_p + ||delta_orig||_p), alpha_max)
    x_next = clip_[0,1]((1 - alpha) (x + eta delta) + alpha (x_orig + eta delta_orig))

so a far-off iterate is pulled back towards the clean image (the "adaptive" part). When x_next is
adversarial it is kept if it is the closest adversarial found so far, and the search steps back
towards the clean image, x_next = x_orig + beta (x_next - x_orig), to look for a nearer one. The
defaults alpha_max = 0.1, eta = 1.05, beta = 0.9 and the first run starting at x_orig are the
authors'; as in their code a random restart starts on the sphere of radius min(best norm found,
eps) / 2 around x_orig.

The projection (the paper's problem: min ||z - t||_p subject to <w, z> = b and z in [0, 1]^d) is solved
exactly, per image, by sorting. Writing z = t + delta and c = b - <w, t>, every coordinate moves
only in the direction sign(w_i) sign(c), by at most cap_i (its distance to 0 or 1 that way):

* Linf: delta_i = +-min(mu, cap_i); the progress sum_i |w_i| min(mu, cap_i) grows piecewise
  linearly in the radius mu, so the smallest mu reaching |c| is found on the sorted caps;
* L2: the KKT conditions give delta_i = clip(lambda w_i) to the box, i.e. +-min(mu |w_i|, cap_i),
  the same search on the sorted ratios cap_i / |w_i|;
* L1: a fractional knapsack, filling the coordinates in order of decreasing |w_i|.

When even the whole box cannot reach the hyperplane, every coordinate moves its full cap (the box
corner nearest to it). The authors' code solves the same problems by bisection.

What the attack returns, per image:

* untargeted (FAB): ``labels`` are the true classes; images the model already misclassifies are
  returned clean, the others are attacked;
* targeted (FAB-T, ``targeted=True``): ``labels`` are the target classes; the hyperplane is always
  the one between the clean prediction s and the target, and, as in the authors' code, an iterate
  counts as adversarial as soon as it is not classified as s (``reach_target=True``: only when it is
  classified as the target). An image whose target is its clean prediction is returned clean;
* AutoAttack's FAB-T (``n_target_classes=K``, untargeted call): ``labels`` are the true classes and
  FAB-T runs against the K classes with the highest clean logits other than the label
  (``target_by_rank``), one after the other, each on the images not yet fooled.

For each image the result is the smallest-norm adversarial found over all runs (targets, restarts,
iterates) when that norm is <= eps, and otherwise the clean image; without eps, the smallest found,
or the clean image where none was. The kept points are checked once more on the whole batch, so
every returned image that differs from its clean one is adversarial for the model run on the
returned batch (untargeted and FAB-T: not the true class; targeted: not the clean prediction, or the
target with ``reach_target``). With eps, each restart and each further target only attacks the
images without an adversarial within eps yet (as AutoAttack), and an image stops iterating as soon
as it has one, so its point is within eps but not necessarily as small as all the steps would make
it; without eps every restart and target runs on every image and the minimum is kept. With a mask
the gradients are zeroed outside it, so the projections never move those pixels.

Cost per step: one forward pass and, untargeted, one backward pass per other class (the whole
Jacobian; use FAB-T for models with many classes), targeted one backward pass; plus a forward pass
to check the new iterate.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.deepfool import class_gradients
from advlab.attacks.lp import ORDERS, TINY, batch_view, lp_norm, unit_noise
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

FAB_NORMS = ("linf", "l2", "l1")
DUAL = {"linf": 1.0, "l2": 2.0, "l1": float("inf")}
TINY_STEP = 1e-8  # the smallest step norm in alpha's ratio (the authors' floor)


def target_by_rank(logits: Tensor, labels: Tensor, rank: int) -> Tensor:
    """(N,): per image, the class with the `rank`-th highest logit (rank >= 1) among those that are not its label.

    AutoAttack's FAB-T and APGD-T attack ranks 1..K of the clean logits; for a correctly classified
    image rank 1 is the runner-up class.
    """
    classes = logits.shape[1]
    if not 1 <= rank <= classes - 1:
        raise AdvlabError(f"target rank must lie in [1, {classes - 1}] for {classes} classes, got {rank}")
    others = logits.detach().scatter(1, labels[:, None], float("-inf"))
    return others.argsort(1, descending=True)[:, rank - 1]


def project_onto_hyperplane(points: Tensor, w: Tensor, c: Tensor, norm: str) -> Tensor:
    """delta (n, d) of least Lp norm with <w, delta> = c and points + delta in [0, 1]^d.

    `points` and `w` are (n, d), `c` (n,). Where no such delta exists (the box does not reach the
    hyperplane) delta moves every coordinate with w_i != 0 to the bound that brings <w, delta>
    nearest to c. Exact for norm "linf", "l2" and "l1" (see the module docstring).
    """
    direction = torch.sign(w) * torch.sign(c)[:, None]  # +1: towards 1, -1: towards 0, 0: never moves
    cap = torch.where(direction > 0, 1.0 - points, points).clamp(min=0.0) * direction.abs()
    weight, need = w.abs(), c.abs()
    if norm == "l1":
        order = weight.argsort(1, descending=True)
        weight_s, cap_s = weight.gather(1, order), cap.gather(1, order)
        before = torch.cumsum(weight_s * cap_s, 1) - weight_s * cap_s  # progress of the fuller coordinates
        move_s = ((need[:, None] - before) / weight_s.clamp(min=TINY)).clamp(min=0.0)
        move_s = torch.minimum(move_s, cap_s) * (weight_s > 0)
        move = torch.empty_like(move_s).scatter_(1, order, move_s)
        return direction * move
    speed = (weight > 0).to(w.dtype) if norm == "linf" else weight  # delta_i = min(mu * speed_i, cap_i)
    knee = torch.where(weight > 0, cap / speed.clamp(min=TINY), torch.zeros_like(cap))
    knee_s, order = knee.sort(1)
    weight_s, speed_s, cap_s = weight.gather(1, order), speed.gather(1, order), cap.gather(1, order)
    filled = torch.cumsum(weight_s * cap_s, 1)  # progress of the coordinates capped by mu = knee_k
    slope_left = (weight * speed).sum(1, keepdim=True) - torch.cumsum(weight_s * speed_s, 1)
    reach = filled + knee_s * slope_left  # progress at mu = knee_k, nondecreasing in k
    below = (reach < need[:, None]).sum(1)  # knees passed before the progress reaches |c|
    feasible = below < w.shape[1]
    k = (below - 1).clamp(min=0)[:, None]
    filled_k = torch.where(below[:, None] > 0, filled.gather(1, k), torch.zeros_like(k, dtype=w.dtype))
    slope_k = torch.where(below[:, None] > 0, slope_left.gather(1, k), (weight * speed).sum(1, keepdim=True))
    mu = ((need[:, None] - filled_k) / slope_k.clamp(min=TINY)).clamp(min=0.0)
    return direction * torch.where(feasible[:, None], torch.minimum(mu * speed, cap), cap)


class FAB(Attack):
    """FAB (Croce & Hein 2020): ``FAB(model, eps=0.1, norm="linf")(images, labels)``; see the module docstring.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: the budget (or a list): only adversarials within it are returned, and restarts start at
            half of it; None for minimal-norm mode (the smallest adversarial found, however far).
        norm: ``"linf"``, ``"l2"`` or ``"l1"``, the norm minimised.
        steps: iterations per run (per restart and target).
        restarts: runs per target: the first from the clean image, the others from random points.
        targeted: labels are target classes (FAB-T towards them from the clean prediction).
        n_target_classes: with an untargeted call, AutoAttack's FAB-T: attack the K classes with the
            highest clean logits other than the label one after the other (AutoAttack uses 9); None:
            plain FAB.
        reach_target: targeted only: count an iterate as adversarial only when it is classified as the
            target (default false: as soon as it leaves the clean class, the authors' criterion).
        alpha_max: the largest weight of the clean image's projection in a step.
        eta: the overshoot of each projection step (>= 1).
        beta: the backward step towards the clean image after an adversarial iterate, in (0, 1).
        seed: seed of the random restarts (None: torch's global generator).
    """

    name = "fab"
    paper = "Croce & Hein 2020, Minimally distorted adversarial examples with a fast adaptive boundary attack"
    norms = ("linf", "l2", "l1")
    minimum_norm = True  # minimises the norm (eps only stops it early)

    def __init__(self, model: nn.Module, eps=None, norm: str = "linf", steps: int = 100, restarts: int = 1,
                 targeted: bool = False, n_target_classes: int | None = None, reach_target: bool = False,
                 alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9, seed: int | None = None):
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        if norm not in FAB_NORMS:
            raise AdvlabError(f"{self.name}: unknown norm {norm!r}; valid norms are: {', '.join(FAB_NORMS)}")
        self.norm = norm
        self.steps = check_int(f"{self.name}: steps", steps, 1)
        self.restarts = check_int(f"{self.name}: restarts", restarts, 1)
        if n_target_classes is not None:
            n_target_classes = check_int(f"{self.name}: n_target_classes", n_target_classes, 1)
            if targeted:
                raise AdvlabError(f"{self.name}: n_target_classes picks the targets from the true labels; give it "
                                  "with targeted=False, or give targeted=True and the targets as labels")
        self.n_target_classes = n_target_classes
        if reach_target and not targeted:
            raise AdvlabError(f"{self.name}: reach_target applies to a targeted attack; pass targeted=True")
        self.reach_target = bool(reach_target)
        self.alpha_max = check_number(f"{self.name}: alpha_max", alpha_max)
        self.eta = check_number(f"{self.name}: eta", eta, 1.0)
        self.beta = check_number(f"{self.name}: beta", beta, 0.0, strict=True)
        if self.alpha_max > 1 or self.beta >= 1:
            raise AdvlabError(f"{self.name}: alpha_max must lie in [0, 1] and beta in (0, 1), got {alpha_max} and "
                              f"{beta}")

    # ------------------------------------------------------------------ the attack

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        predicted = self.clean_logits.argmax(1)
        if self.targeted:
            source, plans = predicted, [labels]
            open_ = labels != predicted
        else:
            source, open_ = labels, predicted == labels
            if self.n_target_classes is None:
                plans = [None]
            else:
                ranks = range(1, min(self.n_target_classes, self.clean_logits.shape[1] - 1) + 1)
                plans = [target_by_rank(self.clean_logits, labels, rank) for rank in ranks]
        generator = self.generator(images.device)
        best_norm = torch.full((len(images),), float("inf"), dtype=images.dtype, device=images.device)
        best = images.clone()
        for targets in plans:
            for restart in range(self.restarts):
                if self.eps is not None:  # only images without an adversarial within eps
                    todo = open_ & (best_norm > self.eps)
                elif restart > 0:  # every image, but a random start needs a radius: the best norm found
                    todo = open_ & torch.isfinite(best_norm)
                else:
                    todo = open_
                rows = todo.nonzero().flatten()
                if len(rows) == 0:
                    continue
                part_mask = None if mask is None else mask[rows]
                start = images[rows]
                if restart > 0:
                    radius = best_norm[rows] if self.eps is None else best_norm[rows].clamp(max=self.eps)
                    start = self.random_start(images[rows], radius / 2, part_mask, generator)
                found_norm, found = self.descend(images[rows], start, source[rows],
                                                 None if targets is None else targets[rows], part_mask)
                better = found_norm < best_norm[rows]
                best_norm[rows[better]], best[rows[better]] = found_norm[better], found[better]
        keep = torch.isfinite(best_norm) if self.eps is None else best_norm <= self.eps
        if keep.any():  # a point found in a smaller batch is checked once more in this one: float noise of
            # another batch size could flip a point this near the boundary, and then the clean image comes back
            keep &= self.adversarial(self.predict(best), source, labels if self.targeted else None)
        return torch.where(batch_view(keep, images), best, images)

    def descend(self, images: Tensor, start: Tensor, source: Tensor, targets: Tensor | None,
                mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """One run of Algorithm 1 from `start`: (norm, point) of the closest adversarial iterate (inf, clean: none)."""
        x, n = start.clone(), len(images)
        best_norm = torch.full((n,), float("inf"), dtype=images.dtype, device=images.device)
        best = images.clone()
        active = torch.arange(n, device=images.device)
        for _ in range(self.steps):
            if self.eps is not None:
                active = active[best_norm[active] > self.eps]
                if len(active) == 0:
                    break
            x0, x1 = images[active], x[active]
            f, w = self.hyperplane(x1, source[active], None if targets is None else targets[active],
                                   None if mask is None else mask[active])
            x0_flat, x1_flat = x0.flatten(1), x1.flatten(1)
            c1 = -f
            c0 = -f - (w * (x0_flat - x1_flat)).sum(1)
            steps = project_onto_hyperplane(torch.cat([x1_flat, x0_flat]), torch.cat([w, w]), torch.cat([c1, c0]),
                                            self.norm)
            sizes = lp_norm(steps, ORDERS[self.norm]).clamp(min=TINY_STEP)
            size1, size0 = sizes[:len(active)], sizes[len(active):]
            alpha = batch_view((size1 / (size1 + size0)).clamp(0.0, self.alpha_max), x1)
            step1, step0 = steps[:len(active)].view_as(x1), steps[len(active):].view_as(x1)
            # (1 - alpha)(x1 + eta step1) + alpha (x0 + eta step0), written around x0 so that pixels no step
            # moves (a mask's) keep their clean value exactly
            x_next = (x0 + (1 - alpha) * (x1 - x0 + self.eta * step1) + alpha * self.eta * step0).clamp(0.0, 1.0)
            reached = self.adversarial(self.predict(x_next), source[active],
                                       None if targets is None else targets[active])
            size = lp_norm(x_next - x0, ORDERS[self.norm])
            closer = reached & (size < best_norm[active])
            best_norm[active[closer]], best[active[closer]] = size[closer], x_next[closer]
            x_next = torch.where(batch_view(reached, x0), x0 + self.beta * (x_next - x0), x_next)
            x[active] = x_next
        return best_norm, best

    def hyperplane(self, x: Tensor, source: Tensor, targets: Tensor | None,
                   mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """(f, w): the linearised boundary {z : <w, z - x> + f = 0} between `source` and the target, or
        (untargeted) the other class whose linearised boundary is nearest in the attack's norm."""
        x = x.detach().requires_grad_(True)
        logits = self.model(x)
        if targets is None:
            classes = logits.shape[1]
            every = torch.arange(classes, device=x.device).expand(len(x), classes)
            others = every[every != source[:, None]].view(len(x), classes - 1)
        else:
            others = targets[:, None]
        differences = logits.gather(1, others) - logits.gather(1, source[:, None])  # (n, K)
        grads = class_gradients(differences, x)  # (K, n, ...)
        if mask is not None:
            grads = grads * mask
        g = grads.transpose(0, 1).flatten(2)  # (n, K, d)
        f = differences.detach()
        rows = torch.arange(len(x), device=x.device)
        nearest = (f.abs() / (torch.linalg.vector_norm(g, ord=DUAL[self.norm], dim=2) + TINY)).argmin(1)
        return f[rows, nearest], g[rows, nearest]

    def adversarial(self, logits: Tensor, source: Tensor, targets: Tensor | None) -> Tensor:
        predicted = logits.argmax(1)
        if self.reach_target:
            return predicted == targets
        return predicted != source

    def random_start(self, images: Tensor, radius: Tensor, mask: Tensor | None,
                     generator: torch.Generator | None) -> Tensor:
        """A random direction (Linf: a uniform draw from the cube, as the authors) scaled to norm `radius`, clipped."""
        noise = unit_noise(images, self.norm, mask, generator)
        return (images + batch_view(radius, images) * noise).clamp(0.0, 1.0)
