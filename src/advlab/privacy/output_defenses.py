"""Output defenses in front of a privacy Victim: the attacker queries the defended answers.

The post-processors themselves (top1, round:D, topK, cutoff:C, reverse-sigmoid, noise) live in
advlab.defenses.outputs, shared with score-based evasion; here :func:`output_defense` wraps a
:class:`~advlab.privacy.victim.Victim` into another Victim that answers every query from the wrapped one's
probabilities through the post-processor (Tramer et al. 2016 sec. 6-7 and Orekondy et al. 2019 for the
truncations, Lee et al. 2019 for the reverse sigmoid, ART's GaussianNoise for the noise).

A defended victim hides the module behind it (``module`` is None), so no attack can take gradients around the
defense. Each wrapper counts its own queries (and the wrapped victim counts them too).
"""

from __future__ import annotations

from advlab.defenses.outputs import SPECS, LabelsOnly, Rounded, TopK, parse_output_defense
from advlab.privacy.victim import Victim

DEFENSES = SPECS


def defended(victim: Victim, defense) -> Victim:
    """`victim` behind the post-processor `defense` (None: `victim` itself). A labels-only defense works on any
    victim (its labels); the others need the victim's scores."""
    if defense is None:
        return victim
    if isinstance(defense, LabelsOnly):
        return Victim(victim.labels, "labels", batch=victim.batch)

    def predict(images):
        return defense(victim.probabilities(images, f"the output defense {defense.spec}"))

    return Victim(predict, defense.output, batch=victim.batch)


def output_defense(victim: Victim, spec: str, seed: int = 0) -> Victim:
    """`victim` behind the defense `spec` names (advlab.defenses.outputs.SPECS; "none": unchanged); `seed` seeds
    the noise defense."""
    return defended(victim, parse_output_defense(spec, seed))


def label_only(victim: Victim) -> Victim:
    """The victim's predicted class only (N,) -- Tramer et al. 2016 sec. 6, class labels only."""
    return defended(victim, LabelsOnly())


def rounded(victim: Victim, decimals: int) -> Victim:
    """The victim's probabilities rounded to `decimals` decimals -- Tramer et al. 2016 sec. 7."""
    return defended(victim, Rounded(decimals))


def top_k(victim: Victim, k: int, renormalise: bool = False) -> Victim:
    """The victim's `k` largest probabilities, 0 elsewhere; rescaled to sum to 1 with `renormalise` (the default
    keeps them as the model gave them: Orekondy et al. 2019's top-k)."""
    return defended(victim, TopK(k, renormalise))


__all__ = ["DEFENSES", "defended", "label_only", "output_defense", "rounded", "top_k"]
