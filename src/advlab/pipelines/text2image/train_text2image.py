"""`advlab text2image train`: config -> captioned images + text encoder + players + GAN-INT-CLS -> a run directory.

The captioned images (advlab.data.captioned_sets: captioned-shapes, captioned-digits or the user's folder plus
captions file) first train advlab's text encoder -- the text side of a joint embedding of captions and images
(advlab.text2image.embedding; cached, so a second run on the same data reuses it) -- which then stays fixed while
GAN-INT-CLS (Reed et al. 2016, advlab.text2image.gan_int_cls) trains, as Reed et al.'s pre-trained char-CNN-RNN
did. The encoder's text and image networks are kept in every checkpoint (players "text_encoder" and
"image_encoder", frozen) with their description and vocabulary in the checkpoint's meta, so sampling and evaluating
a run need nothing but the run directory.

The loop (advlab.pipelines.game_loop) draws the minibatches (images, one of their captions, a mismatched caption),
logs d_loss, g_loss, s_r, s_w, s_f (and s_int), checkpoints, resumes exactly and runs under torchrun. Its picture is
a caption grid: a few fixed held-out captions, each row the real image and samples from fixed noise. The summary
(advlab.pipelines.text2image.figures.measure) holds, for samples drawn from held-out captions: how often
the attribute classifier reads back what the caption asked (per attribute, beside chance and the real images'
figure), R-precision with advlab's joint embedding, and FID in the attribute classifier's feature space.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from advlab.core.distributed import Distributed
from advlab.core.game import Game
from advlab.core.precision import Precision
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator
from advlab.data.captioned_sets import CaptionedImages, load_captioned
from advlab.metrics.text_image import attribute_classifier
from advlab.models.text_gan import MatchingAwareDiscriminator, TextToImageGenerator
from advlab.pipelines.game_loop import Picture, Session, train_run
from advlab.pipelines.text2image.configs import Text2ImageTrainConfig
from advlab.pipelines.text2image.figures import summary_figures
from advlab.pipelines.training import stored_config
from advlab.reports.caption_grid import save_caption_grid
from advlab.reports.reading import is_text2image_config
from advlab.text2image.embedding import JointEmbedding, joint_embedding
from advlab.text2image.gan_int_cls import METHODS, GanIntCls, ScaledEncoder

PICTURE_ROWS, PICTURE_SAMPLES = 6, 8


class GameData:
    """The captioned images as the loop sees them (name, sample, checkpoint_meta), with the joint embedding whose
    description and vocabulary every checkpoint records.

    Args:
        data: the captioned images (``held_out`` judged at the end).
        embedding: the trained joint embedding (its text side conditions the players).
    """

    def __init__(self, data: CaptionedImages, embedding: JointEmbedding):
        self.data, self.embedding = data, embedding

    @property
    def name(self) -> str:
        return self.data.name

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        return self.data.sample(n, generator)

    def checkpoint_meta(self) -> dict:
        return {**self.data.checkpoint_meta(), "joint_embedding": self.embedding.meta()}


def load_text2image_data(config: Text2ImageTrainConfig) -> CaptionedImages:
    """The run's captioned images at ``config.image_size``."""
    return load_captioned(config.data, image_size=config.image_size, held_out_fraction=config.held_out_fraction,
                          seed=config.seed, captions_file=config.captions)


def build_players(config: Text2ImageTrainConfig, image_shape: list[int] | tuple[int, ...],
                  embedding_dim: int) -> tuple[TextToImageGenerator, MatchingAwareDiscriminator]:
    """G and D for images of `image_shape` (C, H, W) and text embeddings of `embedding_dim` (also used to load a run
    back)."""
    channels, size = int(image_shape[0]), int(image_shape[-1])
    generator = TextToImageGenerator(embedding_dim, config.z_dim, config.projected_dim, size, channels,
                                     config.g_width, config.residual)
    discriminator = MatchingAwareDiscriminator(embedding_dim, config.projected_dim, size, channels, config.d_width)
    return generator, discriminator


def scaled_text_encoder(embedding: JointEmbedding) -> ScaledEncoder:
    """phi(t) with unit root-mean-square coordinates (advlab.text2image.gan_int_cls.ScaledEncoder)."""
    return ScaledEncoder(embedding.text, math.sqrt(embedding.dim))


def build_game(config: Text2ImageTrainConfig, embedding: JointEmbedding, image_shape: list[int],
               device: torch.device, dist: Distributed, precision: Precision) -> GanIntCls:
    """The GAN-INT-CLS game of `config`; the joint embedding's image side rides along as a frozen player so that a
    checkpoint holds the whole embedding (R-precision needs it)."""
    torch.manual_seed(config.seed)
    generator, discriminator = build_players(config, image_shape, embedding.dim)
    cls_weight, int_weight = config.weights
    game = GanIntCls(generator.to(device), discriminator.to(device), scaled_text_encoder(embedding).to(device),
                     lr=config.lr, betas=(config.beta1, config.beta2), cls_weight=cls_weight, int_weight=int_weight,
                     int_beta=config.int_beta, seed=config.seed, dist=dist, precision=precision)
    game.players["image_encoder"] = embedding.image.to(device).eval().requires_grad_(False)
    return game


def picture_rows(data: CaptionedImages) -> tuple[list[str], Tensor, Tensor]:
    """(captions, tokens (k, L), real images (k, C, H, W)) of the first PICTURE_ROWS held-out images (training
    images without a held-out split), each with its first caption."""
    source = data.held_out or data
    k = min(PICTURE_ROWS, len(source))
    return [source.captions[i][0] for i in range(k)], source.tokens[:k, 0], source.images[:k]


def caption_picture(data: CaptionedImages, device: torch.device, z_dim: int) -> Picture:
    """The session's picture: per fixed held-out caption, the real image then PICTURE_SAMPLES samples from the same
    fixed noise (so pictures of successive steps compare)."""
    captions, tokens, real = picture_rows(data)
    z = torch.randn(PICTURE_SAMPLES, z_dim, generator=torch.Generator().manual_seed(0))

    def picture(game: Game, path: Path) -> Path:
        rows = []
        for caption, row_tokens, image in zip(captions, tokens, real):
            samples = game.sample(row_tokens[None].repeat(PICTURE_SAMPLES, 1).to(device), z=z.to(device))
            rows.append((f"{caption}  (real | samples)", torch.cat([image[None].cpu(), samples.cpu()])))
        return save_caption_grid(rows, path)
    return picture


def prepare_networks(config: Text2ImageTrainConfig, data: CaptionedImages, progress: bool) -> None:
    """Train (or find cached) the joint embedding and, for a set with attributes, the attribute classifier."""
    joint_embedding(data, seed=config.seed, epochs=config.encoder_epochs, progress=progress)
    if data.attributes:
        attribute_classifier(data, seed=0, progress=progress)


def train_text2image(config: Text2ImageTrainConfig, resume: bool = False, overwrite: bool = False,
                     progress: bool = True, report: bool = True) -> RunDir:
    """Train (or continue) the GAN-INT-CLS run `config` describes; returns its run directory."""
    config = config.validate()

    def build(dist: Distributed, device: torch.device, precision: Precision, run: RunDir) -> Session:
        data = load_text2image_data(config)
        dist.on_main(lambda: prepare_networks(config, data, progress))  # rank 0 trains and caches them once
        embedding = joint_embedding(data, seed=config.seed, epochs=config.encoder_epochs)
        data = data.to(device)
        game = build_game(config, embedding, data.image_shape, device, dist, precision)
        return Session(game, GameData(data, embedding), make_generator(config.seed, device), run,
                       caption_picture(data, device, config.z_dim),
                       lambda game, wrapped: summary_figures(game, wrapped.data, wrapped.embedding,
                                                             config.eval_samples, config.seed),
                       "text2image train")

    return train_run(config, build, resume, overwrite, progress, report)


def text2image_config(run_dir: str | Path, steps: int | None = None) -> Text2ImageTrainConfig:
    """The stored config of a text-to-image run (for --resume, sample and evaluate), with `steps` raised if given."""
    return stored_config(run_dir, Text2ImageTrainConfig, is_text2image_config, "text2image", "text-to-image",
                         f"its config has no method: {' or '.join(METHODS)}", steps)


__all__ = ["GameData", "build_game", "build_players", "text2image_config",
           "train_text2image"]
