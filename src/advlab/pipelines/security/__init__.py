"""Pipelines of the security half: attacks, robustness, defenses, poisoning and privacy on classifier runs."""
