"""`advlab defend smooth RUN`: certified L2 robustness by randomized smoothing (Cohen, Rosenfeld & Kolter 2019).

Runs CERTIFY (and PREDICT with ``--predict``) on the first ``--n-images`` held-out images of a classifier
run and writes RUN/smoothing/sigma-S (pipelines/security/smooth_run.py); prints the certified-accuracy table.
On MNIST: ``advlab defend noise RUN --sigma 0.25 --out runs/noise`` then ``advlab defend smooth runs/noise
--sigma 0.25``.
"""

from __future__ import annotations

import argparse
import json

from advlab.cli.common import ExamplesFormatter
from advlab.core.distributed import context
from advlab.pipelines.security.smooth_run import (
    PLOT_FILE,
    RESULT_FILE,
    TABLE_FILE,
    SmoothRunConfig,
    markdown_table,
    smooth_run,
)

DEFAULTS = SmoothRunConfig(run="")
EXAMPLES = """examples (MNIST: advlab classifier train --data mnist --out runs/clf):
  advlab defend noise runs/clf --sigma 0.25 --out runs/clf-noise
  advlab defend smooth runs/clf-noise --sigma 0.25 --n-images 200"""


def add_parsers(verbs) -> None:
    smooth = verbs.add_parser(
        "smooth", help="certify a classifier run by randomized smoothing (Cohen et al. 2019)",
        description="Randomized smoothing: the smoothed classifier g(x) = argmax_c P(f(x + delta) = c), delta ~ "
                    "N(0, sigma^2 I), around RUN's model. CERTIFY selects a class with --n0 noise samples, bounds its "
                    "probability from --n fresh samples (Clopper-Pearson, failure probability --alpha) and certifies "
                    "the L2 radius sigma * Phi^-1(p_A_lower), or abstains. Writes RUN/smoothing/sigma-S (or sigma-S-2, "
                    "... when that exists) with certify.json, certify.md and certified_accuracy.png. The base "
                    "classifier should be trained with Gaussian noise of the same sigma for useful radii.",
        epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    smooth.add_argument("run", help="the classifier run directory (advlab classifier train, or a defended run)")
    smooth.add_argument("--sigma", type=float, default=DEFAULTS.sigma,
                        help=f"noise level, > 0, in pixel units of [0, 1] images (default {DEFAULTS.sigma:g})")
    smooth.add_argument("--n", type=int, default=DEFAULTS.n,
                        help=f"noise samples that estimate p_A (and that PREDICT uses) (default {DEFAULTS.n})")
    smooth.add_argument("--n0", type=int, default=DEFAULTS.n0,
                        help=f"noise samples that select the class (default {DEFAULTS.n0})")
    smooth.add_argument("--alpha", type=float, default=DEFAULTS.alpha,
                        help=f"failure probability of each certificate, in (0, 1) (default {DEFAULTS.alpha:g})")
    smooth.add_argument("--batch", type=int, default=DEFAULTS.batch,
                        help=f"noisy copies per forward pass (default {DEFAULTS.batch})")
    smooth.add_argument("--n-images", type=int, default=DEFAULTS.n_images,
                        help=f"certify the first N held-out images, or all when fewer (default {DEFAULTS.n_images})")
    smooth.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"seeds the noise (default {DEFAULTS.seed})")
    smooth.add_argument("--chunk-size", type=int, default=None,
                        help="certify this many images per chunk; under torchrun the chunks are shared out among the "
                             "processes (default: all in one chunk)")
    smooth.add_argument("--predict", action="store_true", help="run PREDICT too and report its accuracy and abstains")
    smooth.add_argument("--device", default=DEFAULTS.device, help="auto, cpu, cuda or cuda:N (default auto)")
    smooth.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is often faster on a busy machine)")
    smooth.add_argument("--overwrite", action="store_true",
                        help="replace RUN/smoothing/sigma-S instead of writing sigma-S-2, ...")
    smooth.add_argument("--no-progress", action="store_true", help="no progress bar")
    smooth.set_defaults(handler=run_smooth)


def run_smooth(args: argparse.Namespace) -> int:
    config = SmoothRunConfig(run=args.run, sigma=args.sigma, n=args.n, n0=args.n0, alpha=args.alpha, batch=args.batch,
                             n_images=args.n_images, seed=args.seed, chunk_size=args.chunk_size, predict=args.predict,
                             device=args.device, threads=args.threads, overwrite=args.overwrite,
                             progress=not args.no_progress)
    out = smooth_run(config)
    if not context().is_main:  # under torchrun rank 0 alone writes and prints
        return 0
    print(markdown_table(json.loads((out / RESULT_FILE).read_text())), end="")
    print(f"certify: {out / RESULT_FILE}\ntable: {out / TABLE_FILE}\nplot: {out / PLOT_FILE}\n"
          f"all sigmas: {out.parent / PLOT_FILE}")
    return 0


__all__ = ["add_parsers"]
