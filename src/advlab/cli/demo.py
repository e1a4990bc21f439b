"""`advlab demo`: the main job on built-in data — a ring8 GAN, a small digits DCGAN, and a digits
classifier attacked by PGD and Square, gathered in one report (make demo)."""

from __future__ import annotations

import argparse
from pathlib import Path

from advlab.pipelines.demo import run_demo


def add_parser(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="train the demo GANs and an attacked digits classifier; write one report")
    demo.add_argument("--out", default="runs/demo", help="demo directory (default runs/demo)")
    demo.add_argument("--quick", action="store_true", help="a few steps of each, to check the set-up")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda")
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    html = run_demo(Path(args.out), quick=args.quick, device=args.device)
    print(f"demo report: {html}\n"
          f"watch a GAN learn and an attack succeed in your browser: advlab playground --runs {args.out}")
    return 0
