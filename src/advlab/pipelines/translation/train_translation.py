"""`advlab translate train pix2pix|cyclegan`: config -> image pairs + players + game -> a run directory.

pix2pix (Isola et al. 2017): a U-Net generator and a 70x70 PatchGAN judging (input, output) pairs, trained on
aligned pairs (advlab.data.paired_sets: built-in sets or the user's A|B images or A/ and B/ folders). CycleGAN (Zhu
et al. 2017): two ResNet generators and two instance-norm PatchGANs trained on two unpaired domains
(advlab.data.unpaired_sets: built-in sets or the user's two folders). The loop (pipelines/game_loop.py)
draws the minibatches, logs, snapshots, checkpoints and runs under torchrun; at the end the held-out figures go
into summary.json: L1, PSNR and SSIM of pix2pix's outputs against the targets; CycleGAN's cycle-consistency error
and how often a domain classifier takes the translations for the target domain (and the inputs, for comparison).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator
from advlab.data.image_pairs import ImagePairs
from advlab.data.paired_sets import load_paired
from advlab.data.unpaired_sets import load_unpaired
from advlab.metrics.domain_score import domain_score, train_domain_classifier
from advlab.metrics.fid import fid
from advlab.metrics.image_quality import psnr, ssim
from advlab.models.patchgan import PatchDiscriminator
from advlab.models.photo_features import photo_features
from advlab.models.resnet_generator import ResnetGenerator, default_blocks
from advlab.models.unet import UNetGenerator
from advlab.pipelines.game_loop import Session, comparison_picture, train_run
from advlab.pipelines.training import stored_config
from advlab.pipelines.translation.configs import TranslateTrainConfig
from advlab.translation.cyclegan import CycleGAN, cycle_error
from advlab.translation.pix2pix import Pix2Pix


def load_translation_data(config: TranslateTrainConfig) -> ImagePairs:
    """The run's image pairs: aligned for pix2pix, two domains for CycleGAN."""
    if config.game == "pix2pix":
        if config.data is None:
            raise AdvlabError("no data: pass --data NAME (see advlab translate datasets) or --data DIR")
        return load_paired(config.data, image_size=config.image_size, direction=config.direction, seed=config.seed)
    if config.data is None and not config.data_a:
        raise AdvlabError("no data: pass --data NAME (see advlab translate datasets) or --data-a DIR --data-b DIR")
    data = load_unpaired(config.data, config.data_a, config.data_b, image_size=config.image_size, seed=config.seed)
    return data if config.direction == "AtoB" else swapped(data)


def swapped(data: ImagePairs) -> ImagePairs:
    """B as the inputs and A as the targets."""
    held_out = None if data.held_out is None else swapped(data.held_out)
    return ImagePairs(data.b, data.a, data.name, data.paired, held_out, data.scale)


def build_generators(config: TranslateTrainConfig, a_shape: tuple[int, ...],
                     b_shape: tuple[int, ...]) -> dict[str, torch.nn.Module]:
    """The generator(s) of the run's game for images of these (C, H, W) shapes (also used to load a run back)."""
    (ca, size, _), (cb, _, _) = a_shape, b_shape
    if config.game == "pix2pix":
        return {"generator": UNetGenerator(ca, cb, size, width=config.width)}
    blocks = config.blocks or default_blocks(size)
    return {"ab": ResnetGenerator(ca, cb, config.width, blocks), "ba": ResnetGenerator(cb, ca, config.width, blocks)}


def patch_layers(image_size: int, wanted: int = 3) -> int:
    """The 70x70 PatchGAN's 3 layers, or fewer for images too small for them (a 34- or 16-pixel patch)."""
    return next((n for n in range(wanted, 0, -1) if PatchDiscriminator(1, 1, n).min_size <= image_size), 1)


def build_game(config: TranslateTrainConfig, data: ImagePairs, device: torch.device, dist: Distributed,
               precision: Precision) -> Game:
    torch.manual_seed(config.seed)
    generators = build_generators(config, data.a_shape, data.b_shape)
    generators = {name: module.to(device) for name, module in generators.items()}
    ca, cb = data.a_shape[0], data.b_shape[0]
    layers = patch_layers(min(data.a_shape[1:] + data.b_shape[1:]))
    betas = (config.beta1, config.beta2)
    if config.game == "pix2pix":
        discriminator = PatchDiscriminator(ca + cb, width=config.width, layers=layers).to(device)
        return Pix2Pix(generators["generator"], discriminator, lr=config.lr, betas=betas,
                       l1_weight=config.l1_weight, objective=config.objective, dist=dist, precision=precision)
    d_a = PatchDiscriminator(ca, config.width, layers, norm="instance").to(device)
    d_b = PatchDiscriminator(cb, config.width, layers, norm="instance").to(device)
    return CycleGAN(generators["ab"], generators["ba"], d_a, d_b, lr=config.lr, betas=betas,
                    cycle_weight=config.cycle_weight, identity_weight=config.identity_weight,
                    pool_size=config.pool_size, steps=config.steps, seed=config.seed, dist=dist, precision=precision)


def columns(game: Game, inputs: Tensor, targets: Tensor) -> list[tuple[str, Tensor]]:
    """pix2pix: input | output | target. CycleGAN: A | G_AB(A) | G_BA(G_AB(A)) | B | G_BA(B) (unpaired: B is
    another example, not the answer)."""
    if isinstance(game, CycleGAN):
        forward = game.translate(inputs, direction="AtoB")
        return [("A", inputs), ("A->B", forward), ("A->B->A", game.translate(forward, direction="BtoA")),
                ("B", targets), ("B->A", game.translate(targets, direction="BtoA"))]
    return [("input", inputs), ("output", game.translate(inputs)), ("target", targets)]


EVAL_BATCH = 64


def in_batches(translate, images: Tensor) -> Tensor:
    return torch.cat([translate(images[i:i + EVAL_BATCH]) for i in range(0, len(images), EVAL_BATCH)])


def translated_fid(translated: Tensor, real: Tensor) -> float | None:
    """FID (Heusel et al. 2017, eq. 6) between translated and real images of the target domain, on advlab's photo
    features (advlab.models.photo_features: the content network of SRGAN, trained by advlab, cached; its last
    feature map averaged over positions, 64 numbers per image). Comparable between runs of one data set, not
    with Inception FIDs. None for fewer than 2 images (a covariance needs two)."""
    if min(len(translated), len(real)) < 2:
        return None
    features = photo_features(translated.device, progress=False)
    with torch.no_grad():
        pooled = [in_batches(lambda x: features(x).mean(dim=(2, 3)), images).double().cpu()
                  for images in (real, translated)]
    return fid(pooled[0], pooled[1])


def cyclegan_figures(game: CycleGAN, data: ImagePairs, source: ImagePairs) -> dict[str, float]:
    """Cycle-consistency error on held-out images of each domain, and how often a domain classifier (trained on
    the training images of both domains; advlab.metrics.domain_score) takes held-out A's translations for B and
    B's for A -- beside the same fractions for the untranslated inputs."""
    errors = cycle_error(game, source.a, source.b)
    classifier = train_domain_classifier(data.to("cpu"), seed=0)
    to_b = in_batches(lambda x: game.translate(x, direction="AtoB"), source.a).cpu()
    to_a = in_batches(lambda x: game.translate(x, direction="BtoA"), source.b).cpu()
    return {"held_out_cycle_error_a": errors["a"], "held_out_cycle_error_b": errors["b"],
            "domain_b_of_a_to_b": domain_score(classifier, to_b, "B"),
            "domain_b_of_a": domain_score(classifier, source.a.cpu(), "B"),
            "domain_a_of_b_to_a": domain_score(classifier, to_a, "A"),
            "domain_a_of_b": domain_score(classifier, source.b.cpu(), "A"),
            "domain_classifier_accuracy": classifier.accuracy,
            "held_out_fid_a_to_b": translated_fid(to_b.to(source.b.device), source.b)}


def held_out_figures(game: Game, data: ImagePairs) -> dict[str, float]:
    """The summary's figures on the held-out rows (training rows when the data has none)."""
    source = data.held_out or data
    if isinstance(game, CycleGAN):
        return cyclegan_figures(game, data, source)
    outputs = in_batches(game.translate, source.a)
    targets = source.b
    return {"held_out_l1": float((outputs - targets).abs().mean()),
            "held_out_psnr": float(psnr(outputs, targets, y_channel=False)),
            "held_out_ssim": float(ssim(outputs, targets, y_channel=False)),
            "held_out_fid": translated_fid(outputs, targets),
            "held_out_images": len(targets)}


def train_translation(config: TranslateTrainConfig, resume: bool = False, overwrite: bool = False,
                      progress: bool = True, report: bool = True) -> RunDir:
    """Train (or continue) the pix2pix or CycleGAN run `config` describes; returns its run directory."""
    config = config.validate()

    def build(dist: Distributed, device: torch.device, precision: Precision, run: RunDir) -> Session:
        dist.on_main(lambda: photo_features("cpu"))  # the held-out FID's network: trained and cached once, on rank 0
        data = load_translation_data(config).to(device)
        game = build_game(config, data, device, dist, precision)
        return Session(game, data, make_generator(config.seed, device), run,
                       comparison_picture(data, columns, device), held_out_figures,
                       "translate train")

    return train_run(config, build, resume, overwrite, progress, report)


def translation_config(run_dir: str | Path, steps: int | None = None) -> TranslateTrainConfig:
    """The stored config of a translation run (for --resume and apply), with `steps` raised if given."""
    return stored_config(run_dir, TranslateTrainConfig, lambda values: values.get("game") in ("pix2pix", "cyclegan"),
                         "translate", "translation", "its config has no game: pix2pix or cyclegan", steps)
