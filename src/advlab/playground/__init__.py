"""The playground: a local web app where a GAN learns a 2-D distribution live (after GAN Lab, Kahng et al. 2018),
an evasion attack fools a digits classifier or a speech model, and a backdoor is planted in a digits CNN and found
again by Neural Cleanse, all driven by the library code the CLI uses.

``create_app`` builds the FastAPI app (advlab.playground.app's docstring is the API contract); ``advlab
playground`` serves it. ``load_generator`` reads a generator downloaded from the GAN page.
"""

from __future__ import annotations

import importlib

# Loaded on first use (PEP 562), so that every `advlab` command does not import the web stack.
EXPORTS = {
    "create_app": "advlab.playground.app",
    "AttackLab": "advlab.playground.attack_lab", "AttackRequest": "advlab.playground.attack_lab",
    "BackdoorLab": "advlab.playground.backdoor_lab", "BackdoorRequest": "advlab.playground.backdoor_lab",
    "GanGame": "advlab.playground.gan_game", "GanOptions": "advlab.playground.gan_game",
    "load_generator": "advlab.models.generator_file",
    "PlaygroundLimits": "advlab.playground.sessions", "SessionManager": "advlab.playground.sessions",
    "SessionRefused": "advlab.playground.sessions",
}


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'advlab.playground' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)


__all__ = sorted(EXPORTS)
