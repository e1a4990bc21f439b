"""`advlab superres train --model srresnet|srgan`: photographs -> (low, high) patches + SRResNet (+ D) -> a run.

Ledig et al. 2017: SRResNet is trained for the pixel MSE; SRGAN starts from a trained SRResNet (`--init RUN`, as
the paper does "to avoid undesired local optima") and adds a discriminator, a content loss on the features of a
fixed network (advlab's own, trained on the bundled photographs: advlab.models.photo_features; no VGG download) and
the adversarial term weighted 1e-3, both learning rates falling tenfold at half the steps (the paper's 10^5 updates
at 1e-4, then 10^5 at 1e-5). Training patches come from advlab.data.superres_sets (built-in photographs or
the user's folder; the low-resolution inputs are bicubic downscalings). At the end the run's summary holds PSNR and
SSIM on the held-out whole images with the paper's protocol (Y channel, a border of `scale` pixels removed), beside
bicubic upscaling's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from advlab.core.checkpoints import load_latest, restore_module
from advlab.core.config import from_mapping, load_yaml
from advlab.core.distributed import Distributed
from advlab.core.errors import AdvlabError
from advlab.core.game import Game
from advlab.core.precision import Precision
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator
from advlab.data.image_pairs import ImagePairs
from advlab.data.superres_sets import load_superres, load_superres_test
from advlab.metrics.image_quality import psnr, ssim
from advlab.models.photo_features import photo_features
from advlab.models.srresnet import SRDiscriminator, SRResNet, bicubic_upscale
from advlab.pipelines.game_loop import Session, comparison_picture, train_run
from advlab.pipelines.training import warn
from advlab.pipelines.translation.configs import SuperresTrainConfig
from advlab.translation.srgan import SRGAN
from advlab.translation.srresnet import SRResNetTraining

ARCHITECTURE = ("scale", "blocks", "width")  # what an --init run must share with the SRGAN run


def build_generator(config: SuperresTrainConfig, channels: int = 3) -> SRResNet:
    return SRResNet(channels=channels, scale=config.scale, blocks=config.blocks, width=config.width)


def superres_config(run_dir: str | Path, steps: int | None = None) -> SuperresTrainConfig:
    """The stored config of a super-resolution run (for --resume, --init, apply and evaluate)."""
    run = RunDir(Path(run_dir))
    if not run.config.exists():
        raise AdvlabError(f"{run.root} has no config.yaml; is it an advlab superres run?")
    values = load_yaml(run.config)
    if not isinstance(values, dict) or values.get("model") not in ("srresnet", "srgan") or "scale" not in values:
        raise AdvlabError(f"{run.root} is not a super-resolution run (advlab superres train)")
    config = dataclasses.replace(from_mapping(SuperresTrainConfig, values, source=str(run.config)),
                                 out=str(run.root))
    return config if steps is None else dataclasses.replace(config, steps=steps)


def load_generator(run_dir: str | Path, device: torch.device,
                   channels: int = 3) -> tuple[SRResNet, SuperresTrainConfig]:
    """The trained generator of a super-resolution run (its latest checkpoint), in eval mode."""
    config = superres_config(run_dir)
    generator = build_generator(config, channels).to(device)
    checkpoint = load_latest(RunDir(Path(run_dir)).checkpoints, warn=warn)
    restore_module(generator, "generator", {k: v.to(device) for k, v in checkpoint.tensors.items()})
    return generator.eval(), config


def initialise_from(config: SuperresTrainConfig, generator: SRResNet, device: torch.device) -> None:
    """SRGAN starts from the SRResNet of `config.init` (same scale, blocks and width, or a clear error)."""
    source = superres_config(config.init)
    different = [f"{name} {getattr(source, name)} vs {getattr(config, name)}" for name in ARCHITECTURE
                 if getattr(source, name) != getattr(config, name)]
    if different:
        raise AdvlabError(f"--init {config.init} has another architecture ({', '.join(different)}); train SRGAN "
                          "with the same --scale, --blocks and --width as the SRResNet it starts from")
    trained, _ = load_generator(config.init, device, generator.channels)
    generator.load_state_dict(trained.state_dict())


def build_game(config: SuperresTrainConfig, data: ImagePairs, device: torch.device, dist: Distributed,
               precision: Precision) -> Game:
    torch.manual_seed(config.seed)
    channels = data.b_shape[0]
    generator = build_generator(config, channels).to(device)
    betas = (config.beta1, config.beta2)
    if config.model == "srresnet":
        return SRResNetTraining(generator, lr=config.lr, betas=betas, dist=dist, precision=precision)
    if config.init is not None:
        initialise_from(config, generator, device)
    else:
        warn("SRGAN without --init starts from random weights; Ledig et al. start it from a trained SRResNet "
             "(advlab superres train --model srresnet, then --model srgan --init RUN)")
    discriminator = SRDiscriminator(channels=channels).to(device)
    dist.on_main(lambda: photo_features("cpu"))  # rank 0 trains and caches it; the others then read the cache
    return SRGAN(generator, discriminator, photo_features(device, progress=False), lr=config.lr, betas=betas,
                 adversarial_weight=config.adversarial_weight, decay_at=config.steps // 2, dist=dist,
                 precision=precision)


def columns(game: Game, low: torch.Tensor, high: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """bicubic | the network | original, for held-out patches."""
    scale = high.shape[-1] // low.shape[-1]
    return [("low", low), ("bicubic", bicubic_upscale(low, scale)), ("network", game.translate(low)),
            ("original", high)]


def with_channels(pairs: list[tuple[torch.Tensor, torch.Tensor]],
                  channels: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Test pairs in the generator's channels: gray photographs repeated to RGB for an RGB generator (their Y channel,
    and so PSNR and SSIM, is the gray image's), colour ones converted to gray (BT.601) for a gray generator."""
    def convert(images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == channels:
            return images
        if channels == 3:
            return images.expand(-1, 3, -1, -1)
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)

    return [(convert(low), convert(high)) for low, high in pairs]


def test_figures(upscale, pairs: list[tuple[torch.Tensor, torch.Tensor]], scale: int,
                 device: torch.device) -> dict[str, float]:
    """Mean PSNR and SSIM over whole held-out images (Y channel, `scale`-pixel border crop)."""
    values = {"psnr": [], "ssim": []}
    for low, high in pairs:
        output = upscale(low.to(device)).clamp(0, 1).cpu()
        values["psnr"].append(float(psnr(output, high, crop=scale)))
        values["ssim"].append(float(ssim(output, high, crop=scale)))
    return {key: sum(v) / len(v) for key, v in values.items()}


def held_out_figures(config: SuperresTrainConfig):
    def figures(game: Game, data: ImagePairs) -> dict[str, float]:
        device = data.a.device
        pairs = with_channels(load_superres_test(config.data, config.scale, held_out_only=True), data.b_shape[0])
        network = test_figures(game.translate, pairs, config.scale, device)
        bicubic = test_figures(lambda low: bicubic_upscale(low, config.scale), pairs, config.scale, device)
        return {"held_out_psnr": network["psnr"], "held_out_ssim": network["ssim"],
                "bicubic_psnr": bicubic["psnr"], "bicubic_ssim": bicubic["ssim"], "held_out_images": len(pairs)}

    return figures


def train_superres(config: SuperresTrainConfig, resume: bool = False, overwrite: bool = False,
                   progress: bool = True, report: bool = True) -> RunDir:
    """Train (or continue) the SRResNet or SRGAN run `config` describes; returns its run directory."""
    config = config.validate()

    def build(dist: Distributed, device: torch.device, precision: Precision, run: RunDir) -> Session:
        data = load_superres(config.data, scale=config.scale, patch=config.patch, seed=config.seed).to(device)
        game = build_game(config, data, device, dist, precision)
        return Session(game, data, make_generator(config.seed, device), run,
                       comparison_picture(data, columns, device), held_out_figures(config),
                       "superres train")

    return train_run(config, build, resume, overwrite, progress, report)
