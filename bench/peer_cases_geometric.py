"""Peer cases of bench/attacks_vs_peers.py: the geometric family of issue 23 (see bench/peer_sides.py)."""

from __future__ import annotations

CASES: dict = {}
