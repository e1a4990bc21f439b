"""The sanity checks of an honest robustness evaluation, each with its evidence.

Carlini, Athalye, Papernot, Brendel, Rauber, Tsipras, Goodfellow, Madry & Kurakin 2019, "On
Evaluating Adversarial Robustness", sec. 5 (the checklist of what a correct evaluation shows)
and Athalye, Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of Security", sec. 3
(the signs of masked gradients), plus the automatic flags of AutoAttack (Croce & Hein 2020,
"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks"; their code's ``checks.py`` and ``flags_doc.md``):

* iterative attacks beat single-step ones: PGD <= FGSM at every eps (Carlini et al. 5.2);
* white-box attacks beat black-box and transfer ones (Athalye et al. sec. 3.1; Carlini et al. 5.3);
* accuracy reaches ~0 at a budget that allows any answer (unbounded attacks succeed, Athalye et al. 3.1);
* more steps and restarts do not change the result (the attack converged, Carlini et al. 5.2) and
  robust accuracy does not rise with eps (Carlini et al. 5.2);
* the input gradients are neither zero nor vanishing (AutoAttack's zero-gradient flag) and the
  gradient direction raises the loss more than random directions do (the loss landscape);
* flags: a randomised model (repeated predictions differ; then the gradient attacks use EOT,
  Athalye et al. 4.3), outputs that are probabilities instead of logits, and the black-box Square
  attack lowering robust accuracy below what the white-box attacks reached.

The ``probe_*`` functions measure a model; the ``check_*`` functions turn measurements into one
``{"name", "passed", "evidence"}`` each, the evidence a sentence with the numbers. Accuracies are
shares in [0, 1]; a difference counts when it exceeds ``tolerance(n)`` (2 points, or two images
when n is small).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import model_device
from advlab.attacks.losses import best_other
from advlab.attacks.lp import normalize_l2
from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator

ABSOLUTE_TOLERANCE = 0.02  # two points of accuracy
RANDOM_THRESHOLD = 1e-4  # AutoAttack's: largest L2 distance between normalised logits of repeated passes
PROBABILITY_SLACK = 1e-5  # AutoAttack's: outputs in [0, 1] (up to this slack) ...
ROW_SUM_SLACK = 1e-4  # ... whose rows sum to 1 (log-probabilities: logsumexp to 0) within this
VANISHING = 1e-20  # an input-gradient L2 norm below this is as good as zero for an attack
GRADIENT_SHARE = 0.01  # more than this share of zero or vanishing gradients fails the check
PREDICT_BATCH = 1024


CERTIFIED_CHECK = "certified_below_worst_case"  # no attack broke an image IBP certified (robustness.py judges it)


def tolerance(n: int) -> float:
    """How far two accuracies on n images may differ by chance: 2 points, or two images."""
    return max(ABSOLUTE_TOLERANCE, 2.0 / max(n, 1))


def above(value: float, reference: float, tol: float) -> bool:
    """value > reference + tol, where a difference of exactly tol (two images) is not above it in float arithmetic."""
    return value > reference + tol + 1e-9


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def result(name: str, passed: bool, evidence: str) -> dict:
    return {"name": name, "passed": bool(passed), "evidence": evidence}


# ---------------------------------------------------------------------- probes of the model


@torch.no_grad()
def predict(model: nn.Module, images: Tensor) -> Tensor:
    """Logits of `images` on the model's device, in batches (returned on the CPU)."""
    device = model_device(model, images)
    with evaluating(model):
        return torch.cat([model(images[i:i + PREDICT_BATCH].to(device)).cpu()
                          for i in range(0, len(images), PREDICT_BATCH)])


def probe_randomness(model: nn.Module, images: Tensor, passes: int = 5) -> dict:
    """Do repeated predictions differ? (AutoAttack's check_randomized: argmax or normalised logits.)"""
    outputs = [predict(model, images) for _ in range(passes)]
    normalised = [o / (o.norm(dim=1, keepdim=True) + 1e-10) for o in outputs]
    largest = max((float((a - b).norm(dim=1).max()) for a, b in itertools.combinations(normalised, 2)), default=0.0)
    predictions = torch.stack([o.argmax(1) for o in outputs])
    differing = int((predictions != predictions[0]).any(0).sum())
    return {"passes": passes, "n": len(images), "max_difference": largest, "differing_predictions": differing,
            "randomized": differing > 0 or largest > RANDOM_THRESHOLD}


def probe_outputs(logits: Tensor) -> dict:
    """Are the model's outputs logits, probabilities (rows in [0, 1] summing to 1) or log-probabilities?"""
    sums, log_sums = logits.sum(1), logits.logsumexp(1)
    low, high = float(logits.min()), float(logits.max())
    probabilities = low > -PROBABILITY_SLACK and high < 1 + PROBABILITY_SLACK and \
        bool(((sums - 1).abs() < ROW_SUM_SLACK).all())
    log_probabilities = high < PROBABILITY_SLACK and bool((log_sums.abs() < ROW_SUM_SLACK).all())
    kind = "probabilities" if probabilities else "log-probabilities" if log_probabilities else "logits"
    return {"kind": kind, "min": low, "max": high, "row_sum": [float(sums.min()), float(sums.max())],
            "row_logsumexp": [float(log_sums.min()), float(log_sums.max())]}


def input_gradients(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(cross-entropy gradient, margin gradient, cross-entropy) per image at the clean points.

    The margin max_{j != y} z_j - z_y does not saturate like the cross-entropy does, so it tells a
    confident model (tiny cross-entropy gradient) from a masked one (both zero)."""
    device = model_device(model, images)
    x = images.to(device).detach().requires_grad_(True)
    labels = labels.to(device)
    with evaluating(model), torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, labels, reduction="none")
        ce_grad, = torch.autograd.grad(loss.sum(), x, retain_graph=True)
        own = logits.gather(1, labels[:, None])[:, 0]
        margin_grad, = torch.autograd.grad((best_other(logits, labels) - own).sum(), x)
    return ce_grad.cpu(), margin_grad.cpu(), loss.detach().cpu()


def probe_gradients(model: nn.Module, images: Tensor, labels: Tensor) -> dict:
    """Input-gradient norms: how many are exactly zero (AutoAttack's flag) or vanishing (< VANISHING)."""
    ce_grad, margin_grad, _ = input_gradients(model, images, labels)
    norms = ce_grad.flatten(1).norm(dim=1)
    margin_norms = margin_grad.flatten(1).norm(dim=1)
    zero = (ce_grad.flatten(1).abs().sum(1) == 0) | (margin_grad.flatten(1).abs().sum(1) == 0)
    vanishing = ~zero & ((norms < VANISHING) | (margin_norms < VANISHING))
    return {"n": len(images), "zero": int(zero.sum()), "vanishing": int(vanishing.sum()),
            "median_norm": float(norms.median()), "median_margin_norm": float(margin_norms.median()),
            "norms": [float(f"{value:.3g}") for value in norms.tolist()]}


def probe_landscape(model: nn.Module, images: Tensor, labels: Tensor, eps: float, norm: str, seed: int,
                    points: int = 11, directions: int = 4) -> dict:
    """Mean cross-entropy along the gradient (sign) direction and along random directions, t in [0, eps].

    Linf: x + t sign(g) against x + t r, r uniform random signs; L2: x + t g / ||g|| against
    x + t r / ||r||, r Gaussian. Points are clipped to [0, 1]. A gradient that tells the attacker
    something raises the loss faster than a random direction does."""
    ce_grad, _, _ = input_gradients(model, images, labels)
    generator = make_generator(seed, torch.device("cpu"))
    if norm == "linf":
        uphill = ce_grad.sign()
        randoms = [torch.randint(0, 2, images.shape, generator=generator).to(images) * 2 - 1 for _ in range(directions)]
    else:
        uphill = normalize_l2(ce_grad)
        randoms = [normalize_l2(torch.randn(images.shape, generator=generator)) for _ in range(directions)]
    steps = torch.linspace(0, eps, points).tolist()

    def losses(direction: Tensor) -> list[float]:
        return [float(F.cross_entropy(predict(model, (images + t * direction).clamp(0, 1)), labels)) for t in steps]

    return {"eps": eps, "norm": norm, "n": len(images), "t": steps, "gradient": losses(uphill),
            "random": [losses(direction) for direction in randoms]}


# ---------------------------------------------------------------------- the checks


def check_iterative_beats_single_step(per_attack: dict, n: int) -> dict:
    """PGD leaves no more accuracy than FGSM at every eps (within the tolerance)."""
    name = "iterative_beats_single_step"
    if "pgd" not in per_attack or "fgsm" not in per_attack:
        return result(name, True, "not measured: FGSM or PGD did not run")
    tol = tolerance(n)
    worse = [eps for eps in per_attack["pgd"] if above(per_attack["pgd"][eps], per_attack["fgsm"][eps], tol)]
    pairs = ", ".join(f"eps {eps}: PGD {percent(per_attack['pgd'][eps])} vs FGSM {percent(per_attack['fgsm'][eps])}"
                      for eps in per_attack["pgd"])
    verdict = f"PGD leaves more accuracy than FGSM at eps {', '.join(worse)}" if worse else \
        "PGD is at least as strong as FGSM everywhere"
    return result(name, not worse, f"{verdict} (tolerance {percent(tol)}): {pairs}.")


def check_white_box_beats_black_box(white_box: dict, per_attack: dict, n: int) -> dict:
    """The white-box attacks together leave no more accuracy than Square or the transfer attack alone."""
    name = "white_box_beats_black_box"
    tol = tolerance(n)
    rivals = [attack for attack in ("square", "transfer") if attack in per_attack]
    if not rivals:
        return result(name, True, "not measured: neither Square nor a transfer attack ran")
    beaten = [f"{attack} at eps {eps} ({percent(per_attack[attack][eps])} vs white-box {percent(white_box[eps])})"
              for attack in rivals for eps in white_box if above(white_box[eps], per_attack[attack][eps], tol)]
    if beaten:
        return result(name, False, f"black-box attacks beat the white-box ones: {'; '.join(beaten)} "
                                   f"(tolerance {percent(tol)}); the gradients mislead the white-box attacks.")
    pairs = ", ".join(f"eps {eps}: white-box {percent(white_box[eps])}, "
                      + ", ".join(f"{attack} {percent(per_attack[attack][eps])}" for attack in rivals)
                      for eps in white_box)
    return result(name, True, f"the white-box attacks are at least as strong as {' and '.join(rivals)} "
                              f"(tolerance {percent(tol)}): {pairs}.")


def check_reaches_zero(probe: dict) -> dict:
    """At a budget that allows any answer the gradient attacks leave (almost) no accuracy."""
    tol = tolerance(probe["n"])
    passed = not above(probe["accuracy"], 0.0, tol)
    verdict = "as it should" if passed else "an unbounded attack must succeed: the gradients do not lead anywhere"
    return result("accuracy_reaches_zero", passed,
                  f"{probe['attacks']} at {probe['norm']} eps {probe['eps']:g} ({probe['why']}) leave "
                  f"{percent(probe['accuracy'])} of {probe['n']} images correct (at most {percent(tol)} allowed); "
                  f"{verdict}.")


def check_more_effort(probe: dict) -> dict:
    """More steps and restarts do not lower the reported robust accuracy (Carlini et al. 2019, sec. 5: "applying
    more iterations ... should not increase attack success"), and do not raise APGD-CE's own.

    Two failures: the stronger members (every member of the ensemble with more effort; older records: APGD-CE
    alone) break images the report's worst case (every attack, per image) left robust, by more than the
    tolerance: the reported figure is too high; or the stronger APGD-CE leaves more images robust than
    APGD-CE at the report's budget did: more effort helped the model, a sign of noisy or misleading gradients.
    APGD-CE alone gaining from more effort is not a failure when the other attacks of the worst case already
    broke those images. Probes without the worst-case fields (older robustness.json) compare APGD-CE alone.
    """
    tol = tolerance(probe["n"])
    base, more = probe["base_accuracy"], probe["more_accuracy"]
    reported = probe.get("worst_case_accuracy", base)
    combined = probe.get("with_more_accuracy", min(base, more))
    numbers = (f"APGD-CE at eps {probe['eps']:g} on {probe['n']} images: {probe['base_steps']} steps x "
               f"{probe['base_restarts']} restarts leave {percent(base)}, {probe['more_steps']} steps x "
               f"{probe['more_restarts']} restarts leave {percent(more)}")
    if "members" in probe:
        broke = ", ".join(f"{name} {probe['broke_more'].get(key, 0)}" for name, key in
                          zip(probe["members"], probe["broke_more"]))
        numbers += (f"; the report's worst case leaves {percent(reported)}, and {percent(combined)} once every member "
                    f"ran with more effort ({probe['more_steps']} steps, {probe['more_targets']} targets, "
                    f"{probe['more_queries']} queries; images each broke beyond the worst case: {broke})")
    elif "worst_case_accuracy" in probe:
        numbers += (f"; the report's worst case leaves {percent(reported)}, and {percent(combined)} with the "
                    "stronger run added")
    numbers += f" (tolerance {percent(tol)})"
    if above(more, base, tol):
        return result("more_effort_does_not_help", False,
                      f"{numbers}; more effort helped the model, a sign of noisy or misleading gradients.")
    if above(reported, combined, tol):
        return result("more_effort_does_not_help", False,
                      f"{numbers}; the attacks had not converged, so the reported accuracy is too high: "
                      "raise --steps and --restarts.")
    return result("more_effort_does_not_help", True, f"{numbers}; the reported worst case has converged.")


def check_falls_with_eps(curves: dict[str, dict[str, float]], n: int) -> dict:
    """No accuracy curve (each attack, and the ensemble as run) rises with eps beyond the tolerance."""
    tol = tolerance(n)
    rises = []
    for attack, curve in curves.items():
        ordered = sorted(curve.items(), key=lambda item: float(item[0]))
        rises += [f"{attack} from {percent(a)} at eps {e} to {percent(b)} at eps {f}"
                  for (e, a), (f, b) in zip(ordered, ordered[1:]) if above(b, a, tol)]
    if rises:
        return result("accuracy_falls_with_eps", False,
                      f"accuracy rises with the budget: {'; '.join(rises)} (tolerance {percent(tol)}); a larger "
                      "budget contains every smaller one, so the attack is failing.")
    return result("accuracy_falls_with_eps", True,
                  f"none of the {len(curves)} accuracy curves rises with eps (tolerance {percent(tol)}).")


def check_gradients(probe: dict) -> dict:
    """Few input gradients are exactly zero or vanishing (AutoAttack's zero-gradient flag)."""
    bad = probe["zero"] + probe["vanishing"]
    share = bad / max(probe["n"], 1)
    numbers = (f"{probe['zero']} of {probe['n']} images have an exactly zero input gradient and {probe['vanishing']} "
               f"a vanishing one (L2 norm < {VANISHING:g}); median cross-entropy gradient norm "
               f"{probe['median_norm']:.3g}, median margin gradient norm {probe['median_margin_norm']:.3g}")
    if share > GRADIENT_SHARE:
        return result("gradients_not_zero", False, f"{numbers}: gradient attacks have nothing to follow there "
                                                   "(a non-differentiable or saturating model).")
    return result("gradients_not_zero", True, f"{numbers}.")


def check_landscape(probe: dict) -> dict:
    """Along the gradient direction the loss rises more than along random directions."""
    gradient_rise = probe["gradient"][-1] - probe["gradient"][0]
    random_rise = sum(curve[-1] - curve[0] for curve in probe["random"]) / max(len(probe["random"]), 1)
    passed = gradient_rise > random_rise
    numbers = (f"over {probe['norm']} eps {probe['eps']:g} the mean cross-entropy of {probe['n']} images rises by "
               f"{gradient_rise:.3g} along the gradient direction and by {random_rise:.3g} along random directions")
    verdict = "the gradient points uphill" if passed else "the gradient is no better than a random direction"
    return result("gradient_direction_raises_loss", passed, f"{numbers}: {verdict}.")


def check_deterministic(probe: dict, eot_draws: int) -> dict:
    """Repeated predictions agree; a randomised model is flagged and attacked with EOT."""
    numbers = (f"{probe['passes']} passes over {probe['n']} images: {probe['differing_predictions']} predictions "
               f"differ, largest distance between normalised logits {probe['max_difference']:.3g} "
               f"(threshold {RANDOM_THRESHOLD:g})")
    if probe["randomized"]:
        return result("deterministic", False, f"{numbers}: a randomised model; the gradient attacks averaged "
                                              f"its logits over {eot_draws} draws (EOT).")
    return result("deterministic", True, f"{numbers}.")


def check_logits(probe: dict) -> dict:
    """The model returns logits, not probabilities (a softmax output flattens the attacks' losses)."""
    numbers = (f"outputs in [{probe['min']:.3g}, {probe['max']:.3g}], row sums in "
               f"[{probe['row_sum'][0]:.4g}, {probe['row_sum'][1]:.4g}]")
    if probe["kind"] == "probabilities":
        return result("outputs_are_logits", False, f"{numbers}: the model outputs probabilities; attacks need the "
                                                   "logits (drop the final softmax).")
    if probe["kind"] == "log-probabilities":
        return result("outputs_are_logits", True, f"{numbers}, every row's logsumexp is 0: log-probabilities, "
                                                  "which cross-entropy and DLR treat exactly like logits.")
    return result("outputs_are_logits", True, f"{numbers}: logits.")


def check_square(after: dict[str, dict[str, float]], members: list[str], n: int) -> dict:
    """In the ensemble (run in order), Square lowers accuracy no further than the white-box attacks did."""
    name = "square_does_not_beat_white_box"
    if "square" not in members or members.index("square") == 0:
        return result(name, True, "not measured: Square did not run after a white-box attack")
    tol = tolerance(n)
    before = members[members.index("square") - 1]
    gains = {eps: after[before][eps] - after["square"][eps] for eps in after["square"]}
    numbers = ", ".join(f"eps {eps}: {percent(after[before][eps])} → {percent(after['square'][eps])}"
                        for eps in gains)
    if any(above(gain, 0.0, tol) for gain in gains.values()):
        return result(name, False, f"Square broke images the white-box attacks could not: {numbers} "
                                   f"(tolerance {percent(tol)}); the white-box attacks are misled.")
    return result(name, True, f"Square found little the white-box attacks missed: {numbers} "
                              f"(tolerance {percent(tol)}).")


def masking_warning(checks: list[dict]) -> str | None:
    """The warning at the top of the report when any check failed: gradient masking, and (a different failure) an
    image IBP certified that an attack broke -- the bounds were unsound, not the model's gradients misleading."""
    failed = [check["name"] for check in checks if not check["passed"]]
    masking = [name for name in failed if name != CERTIFIED_CHECK]
    parts = []
    if masking:
        parts.append(f"this model may mask its gradients: {len(masking)} check(s) failed ({', '.join(masking)}); "
                     "its robust accuracy may be overstated")
    if CERTIFIED_CHECK in failed:
        parts.append(f"{CERTIFIED_CHECK} failed: an attack broke an image interval bound propagation certified, so "
                     "these IBP bounds are not sound here (float32 rounding at the margin, or a bug); the certified "
                     "accuracy proves nothing")
    return "; ".join(parts) or None


__all__ = [
    "check_deterministic", "check_falls_with_eps", "check_gradients", "check_iterative_beats_single_step",
    "check_landscape", "check_logits", "check_more_effort", "check_reaches_zero", "check_square",
    "check_white_box_beats_black_box", "masking_warning", "probe_gradients", "probe_landscape", "probe_outputs",
    "probe_randomness", "tolerance",
]
