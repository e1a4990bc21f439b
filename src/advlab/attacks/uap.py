"""Universal adversarial perturbations: one perturbation v that fools the classifier on most images of a data set.

Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017, "Universal adversarial perturbations" (CVPR), Algorithm 1. With
k^ the classifier's label, X the fitting images, xi the radius and P_{p,xi} the projection onto the Lp ball of
radius xi (p = inf: clip each pixel to [-xi, xi]; p = 2: rescale to norm xi, eq. 2):

    v = 0
    while Err(X_v) < 1 - delta:                    Err(X_v) = share of x in X with k^(x + v) != k^(x)
        for x_i in X (shuffled each pass):
            if k^(x_i + v) = k^(x_i):
                dv_i = argmin_r ||r||_2  s.t.  k^(x_i + v + r) != k^(x_i)      (DeepFool, advlab.attacks.deepfool)
                v = P_{p,xi}(v + dv_i)

stopping after ``passes`` passes at most (the paper stops at the fooling rate 1 - delta, delta = 0.2). As in the
authors' code, DeepFool runs ``df_steps`` = 10 steps with overshoot 0.02, and dv_i is added only where DeepFool
reached the boundary; x_i + v is clipped to the image box [0, 1] before DeepFool sees it. k^(x_i) is the model's
clean prediction (the paper's; ART's UniversalPerturbation uses the given labels instead).

Targeted (Hirano & Takemoto 2020, "Simple iterative method for generating targeted universal adversarial
perturbations", Algorithm 1): one target class y; for x_i with k^(x_i + v) != y, the targeted FGSM step psi of
size ``step`` in the ball's norm (-step sign(g) for Linf, -step g / ||g||_2 for L2, g = grad_x CE(f(x_i + v), y)),
and v = P_{p,xi}(v + psi) when k^(x_i + v + psi) = y; the passes stop when the targeted success rate reaches
1 - delta. ``step`` (FGSM's strength) is a free parameter there; the default eps / 2 (on 8x8 digits eps / 10
rarely reaches the target in one step, so v never moves).

API: ``UAP(model, eps=xi).fit(images, labels)`` learns v on a fitting set (records ``self.training``); calling
the attack then adds v to any images: x' = clip(x + v, 0, 1), no query and no gradient. An attack that was not
fitted fits on the batch it is given (so ``UAP(model, eps)(images, labels)`` is the perturbation of that batch,
evaluated on it). ``save(path)`` writes v as safetensors; ``UAP(model, perturbation_path=PATH)`` attacks with
it. ``advlab attack uap RUN`` fits v on the run's training rows and attacks the held-out rows with it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_to_bytes
from torch import Tensor, nn
from tqdm import tqdm

from advlab.attacks.base import Attack, check_images, check_labels, check_mask, finish, model_device
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.fgsm import FGSM
from advlab.attacks.lp import check_norm, project_l2
from advlab.core.checkpoints import atomic_write_bytes, parse_safetensors, read_described
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator

FORMAT = "advlab-uap"
PREDICT_BATCH = 1024


class UAP(Attack):
    """Universal adversarial perturbation (Moosavi-Dezfooli et al. 2017): ``UAP(model, eps=0.1).fit(images,
    labels)(other_images, other_labels)``.

    Args:
        model: maps images in [0, 1] to logits (N, classes).
        eps: xi, the radius of v in ``norm``; None: the perturbation file's, or the paper's 10/255 (Linf).
        norm: ``"linf"`` or ``"l2"``, the ball v is projected onto.
        delta: fitting stops once the fooling rate (targeted: the success rate) on the fitting set reaches
            1 - delta (the paper's 0.2).
        passes: the most passes over the fitting images.
        df_steps: DeepFool's steps for each image (the authors' 10).
        overshoot: DeepFool's overshoot (the authors' 0.02).
        step: the targeted FGSM step (Hirano & Takemoto) in the ball's norm; None: eps / 2.
        perturbation_path: a perturbation file saved by ``save`` (safetensors) to attack with, instead of fitting.
        targeted: labels are the target class (one class: a universal perturbation has one target).
        seed: seeds the order of the images in each pass (None: 0).
    """

    name = "uap"
    paper = "Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017, Universal adversarial perturbations"
    uses_clean_logits = False
    artefact_file = "perturbation.safetensors"  # what advlab attack saves beside the results
    artefact_word = "perturbation"

    def __init__(self, model: nn.Module, eps: float | None = None, norm: str = "linf", delta: float = 0.2,
                 passes: int = 10, df_steps: int = 10, overshoot: float = 0.02, step: float | None = None,
                 perturbation_path: str | None = None, targeted: bool = False, seed: int | None = None):
        loaded = None if perturbation_path is None else load_perturbation(perturbation_path)
        if isinstance(eps, (list, tuple)):
            raise AdvlabError("uap: one perturbation is fitted for one eps; give one number, not a list")
        if eps is None:
            eps = loaded["eps"] if loaded is not None else 10 / 255
        super().__init__(model, eps=eps, targeted=targeted, seed=seed)
        if self.eps <= 0:
            raise AdvlabError(f"uap: eps must be a number > 0 (the radius of the perturbation), got {eps!r}")
        self.norm = check_norm(norm, self.name)
        self.delta = check_number("uap: delta", delta)
        if self.delta > 1:
            raise AdvlabError(f"uap: delta must lie in [0, 1] (fitting stops at the fooling rate 1 - delta), got "
                              f"{delta!r}")
        self.passes = check_int("uap: passes", passes, 1)
        self.df_steps = check_int("uap: df_steps", df_steps, 1)
        self.overshoot = check_number("uap: overshoot", overshoot)
        self.step = self.eps / 2 if step is None else check_number("uap: step", step, 0.0, strict=True)
        self.perturbation_path = None if perturbation_path is None else str(perturbation_path)
        self.perturbation: Tensor | None = None
        self.target: int | None = None
        self.training: dict = {}
        if loaded is not None:
            self.use_perturbation(loaded, str(perturbation_path))

    # ------------------------------------------------------------------ attack time

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        """x' = clip(x + v, 0, 1); v fitted on this batch first when the attack has none."""
        if self.perturbation is None:
            self.fit(images, labels if not self.targeted else None, targets=labels if self.targeted else None,
                     mask=mask)
        elif self.targeted and bool((labels != self.target).any()):
            raise AdvlabError(f"uap: the perturbation was fitted towards class {self.target}; the targets given "
                              f"hold other classes")
        v = self.perturbation.to(images.device, images.dtype)
        if tuple(v.shape[1:]) != tuple(images.shape[1:]):
            raise AdvlabError(f"uap: the perturbation has shape {tuple(v.shape[1:])}; these images have shape "
                              f"{tuple(images.shape[1:])}")
        return finish(images + v, images, mask)

    # ------------------------------------------------------------------ fitting (Algorithm 1)

    def fit(self, images: Tensor, labels: Tensor | None = None, progress: bool = False,
            targets: Tensor | None = None, mask: Tensor | None = None) -> UAP:
        """Learn v on `images` (N, C, H, W) in [0, 1]; returns the attack. Untargeted: k^(x) is the model's clean
        prediction (`labels` are checked, not used). Targeted: `targets` (N,) all one class. `mask` (1 = may
        change) zeroes v elsewhere. Records the passes and fooling rates in ``self.training``."""
        device = model_device(self.model, images)
        x = check_images(images, self.name).to(device)
        if labels is not None:
            check_labels(labels, len(x), self.name, "labels")
        keep = None if mask is None else check_mask(mask, x, self.name)[:1].to(device)
        goal = self.fitting_goal(x, targets, device)
        start, history = time.perf_counter(), []
        order = make_generator(0 if self.seed is None else self.seed, torch.device("cpu"))
        v = torch.zeros_like(x[:1])
        with evaluating(self.model):
            reference = goal if self.targeted else self.labels_of(x)
            rate = self.fooling_rate(x, v, reference)
            bar = tqdm(range(self.passes), desc="uap", disable=not progress)
            for _ in bar:
                if rate >= 1 - self.delta:
                    break
                for i in torch.randperm(len(x), generator=order).tolist():
                    v = self.update(x[i:i + 1], reference[i:i + 1], v, keep)
                rate = self.fooling_rate(x, v, reference)
                history.append(rate)
                bar.set_postfix(fooling=f"{rate:.3f}")
        self.perturbation, self.perturbation_path = v.detach(), None
        self.training = {"images": len(x), "iterations": len(history), "fooling_rate": rate,
                         "converged": rate >= 1 - self.delta, "history": history,
                         "target": self.target, "seconds": time.perf_counter() - start}
        return self

    def fitting_goal(self, x: Tensor, targets: Tensor | None, device: torch.device) -> Tensor | None:
        """The target class (targeted: one class for all), else None; sets ``self.target``."""
        if not self.targeted:
            if targets is not None:
                raise AdvlabError("uap: targets were given to an untargeted attack; pass targeted=True")
            self.target = None
            return None
        if targets is None:
            raise AdvlabError("uap: a targeted universal perturbation needs its target class; give targets "
                              "(advlab attack: --target K)")
        goal = check_labels(targets, len(x), self.name, "targets").to(device)
        if bool((goal != goal[0]).any()):
            raise AdvlabError("uap: a universal perturbation has one target class; the targets given hold "
                              f"{len(goal.unique())} classes (advlab attack: --target K)")
        self.target = int(goal[0])
        return goal

    def update(self, x: Tensor, reference: Tensor, v: Tensor, keep: Tensor | None) -> Tensor:
        """One image of the inner loop: v moved by that image's step where it is not yet fooled (targeted: not
        yet in the target class) and the step succeeds, then projected onto the ball (and the mask)."""
        current = (x + v).clamp(0.0, 1.0)
        if self.reached(current, reference):
            return v
        step = self.inner_attack()
        step.clean_logits = self.predict(current)  # the inner attack's own clean pass, without the base's checks
        with torch.enable_grad():
            moved = step.perturb(current, reference, None).detach().clamp(0.0, 1.0)
        if not self.reached(moved, reference):
            return v
        v = self.project(v + moved - current)
        return v if keep is None else v * keep

    def inner_attack(self) -> Attack:
        """The step for one image: DeepFool (untargeted), targeted FGSM (Hirano & Takemoto)."""
        if self.targeted:
            return FGSM(self.model, eps=self.step, norm=self.norm, targeted=True)
        return DeepFool(self.model, steps=self.df_steps, overshoot=self.overshoot)

    def project(self, v: Tensor) -> Tensor:
        """P_{p,xi}: onto the Linf or L2 ball of radius eps."""
        return v.clamp(-self.eps, self.eps) if self.norm == "linf" else project_l2(v, self.eps)

    @torch.no_grad()
    def labels_of(self, images: Tensor) -> Tensor:
        return torch.cat([self.model(images[i:i + PREDICT_BATCH]).argmax(1)
                          for i in range(0, len(images), PREDICT_BATCH)])

    def fooling_rate(self, images: Tensor, v: Tensor, reference: Tensor) -> float:
        """Untargeted: the share with k^(x + v) != k^(x); targeted: the share with k^(x + v) = the target."""
        predicted = self.labels_of((images + v).clamp(0.0, 1.0))
        hit = predicted == reference if self.targeted else predicted != reference
        return float(hit.double().mean())

    # ------------------------------------------------------------------ saving and loading

    def save(self, path: str | Path) -> Path:
        """Write v to `path` (safetensors, its eps, norm and target in the header). Returns the path."""
        if self.perturbation is None:
            raise AdvlabError("uap: nothing to save; call fit(...) first")
        description = {"format": FORMAT, "eps": repr(self.eps), "norm": self.norm,
                       "target": "" if self.target is None else str(self.target)}
        path = Path(path)
        atomic_write_bytes(path, safetensors_to_bytes({"perturbation": self.perturbation.detach().cpu()
                                                       .contiguous()}, metadata=description))
        return path

    def use_perturbation(self, loaded: dict, path: str) -> None:
        """Attack with a loaded perturbation; it must have been fitted at this eps, norm and targeting."""
        if not math.isclose(loaded["eps"], self.eps, rel_tol=1e-6):
            raise AdvlabError(f"uap: the perturbation {path} was fitted for eps {loaded['eps']:g}, not {self.eps:g}; "
                              f"pass eps={loaded['eps']:g} (--eps {loaded['eps']:g}) or fit a new one")
        if loaded["norm"] != self.norm:
            raise AdvlabError(f"uap: the perturbation {path} lies in the {loaded['norm']} ball; pass "
                              f"norm={loaded['norm']!r}")
        if (loaded["target"] is not None) != self.targeted:
            kind = f"targeted (class {loaded['target']})" if loaded["target"] is not None else "untargeted"
            raise AdvlabError(f"uap: the perturbation {path} is {kind}; "
                              + ("attack with targeted=True (--target K)" if loaded["target"] is not None else
                                 "fit a targeted one for a targeted attack"))
        self.perturbation, self.target = loaded["perturbation"], loaded["target"]

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items()
                 if k not in ("model", "clean_logits", "queries", "perturbation", "training")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def load_perturbation(path: str | Path) -> dict:
    """{perturbation (1, C, H, W), eps, norm, target (None: untargeted)} of a file saved by ``UAP.save``; a file of
    another kind is an AdvlabError."""
    path = Path(path)
    payload, metadata = read_described(path, FORMAT, "uap", "perturbation", "a universal perturbation")
    try:
        eps, norm, target = float(metadata["eps"]), metadata["norm"], metadata["target"]
        target = None if target == "" else int(target)
        perturbation = parse_safetensors(payload, path)["perturbation"]
    except (KeyError, ValueError) as error:
        raise AdvlabError(f"uap: the description in {path} is incomplete ({error})") from None
    if perturbation.ndim < 2 or perturbation.shape[0] != 1 or not perturbation.is_floating_point():
        raise AdvlabError(f"uap: {path} holds a tensor of shape {tuple(perturbation.shape)}, not one perturbation")
    return {"perturbation": perturbation, "eps": eps, "norm": norm, "target": target}
