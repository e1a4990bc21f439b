"""`advlab text2image sample RUN --text "..." --n 16 --out grid.png`: a trained run draws images for captions.

Everything comes from the run directory: the config, and the latest checkpoint's generator, text encoder (the
joint embedding's text and image networks, as players "text_encoder" and "image_encoder") and vocabulary (in the
checkpoint's meta). Each caption is encoded with the run's vocabulary -- a word the encoder never saw is one error
line naming the word -- and drawn `n` times from noise seeded with `seed` (the same noise for every caption, so
the rows differ only by their text). With ``interpolate_to`` the grid is Reed et al.'s fig. 5 instead: each row
holds one noise vector fixed while the text embedding moves from the first caption to the second (beta from 1 to
0 in `steps` steps, eq. 5's interpolation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from advlab.core.checkpoints import load_latest, restore_module
from advlab.core.checks import check_int
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.runs import RunDir
from advlab.data.vocabulary import Vocabulary
from advlab.pipelines.text2image.configs import Text2ImageTrainConfig
from advlab.pipelines.text2image.train_text2image import build_players, text2image_config
from advlab.pipelines.training import warn
from advlab.reports.caption_grid import save_caption_grid
from advlab.text2image.embedding import JointEmbedding, load_joint_embedding
from advlab.text2image.gan_int_cls import ScaledEncoder, generate, interpolate

ROW_WIDTH = 8  # samples per grid row


@dataclass
class TrainedText2Image:
    """What a text-to-image run holds for drawing: its generator (eval mode), its text encoder as the players saw
    it (scaled), the joint embedding (text and image networks: R-precision), the vocabulary and caption length."""

    generator: nn.Module
    text: ScaledEncoder
    embedding: JointEmbedding
    vocabulary: Vocabulary
    caption_length: int
    config: Text2ImageTrainConfig
    step: int


def load_text2image_run(run_dir: str | Path, device: torch.device | str = "cpu") -> TrainedText2Image:
    """Rebuild a text-to-image run's networks from its config and latest checkpoint on `device`."""
    config = text2image_config(run_dir)
    device = torch.device(device)
    checkpoint = load_latest(RunDir(Path(run_dir)).checkpoints, warn=warn)
    meta = checkpoint.meta
    if "joint_embedding" not in meta or "image_shape" not in meta:
        raise AdvlabError(f"{checkpoint.path} does not describe its text encoder; is it a text2image run?")
    tensors = checkpoint.tensors
    renamed = {f"text.{k[len('text_encoder.encoder.'):]}": v for k, v in tensors.items()
               if k.startswith("text_encoder.encoder.")}
    renamed.update({f"image.{k[len('image_encoder.'):]}": v for k, v in tensors.items()
                    if k.startswith("image_encoder.")})
    embedding = load_joint_embedding(renamed, meta["joint_embedding"]).to(device)
    text = ScaledEncoder(embedding.text, float(tensors["text_encoder.scale"])).to(device)
    generator, _ = build_players(config, meta["image_shape"], embedding.dim)
    restore_module(generator, "generator", tensors)
    return TrainedText2Image(generator.to(device).eval(), text.eval(), embedding, embedding.vocabulary,
                             int(meta["caption_length"]), config, checkpoint.step)


def sample_text2image(run_dir: str | Path, texts: str | list[str], n: int = 16, seed: int = 0,
                      out: str | Path = "grid.png", device: str = "auto", interpolate_to: str | None = None,
                      steps: int = 8) -> tuple[Path, float]:
    """Draw `n` images per caption of `texts` with the run in `run_dir` and write a caption grid PNG to `out`
    (rows of ROW_WIDTH samples under their caption); with `interpolate_to`, `n` rows of `steps` images from the
    (one) caption to `interpolate_to`. Returns (the PNG, seconds spent generating)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts or any(not text.strip() for text in texts):
        raise AdvlabError("give a caption to draw: --text \"a small red circle on the left\"")
    check_int("--n", n, 1)
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise AdvlabError(f"--out must name a .png file, got {out}")
    trained = load_text2image_run(run_dir, resolve_device(device))
    start = time.perf_counter()
    if interpolate_to is not None:
        if len(texts) != 1:
            raise AdvlabError("--interpolate-to goes from one --text to another; give one --text")
        images = interpolate(trained.generator, trained.text, trained.vocabulary, texts[0], interpolate_to, steps,
                             n, seed, trained.caption_length)
        seconds = time.perf_counter() - start
        rows = [(f"'{texts[0]}' -> '{interpolate_to}' (noise {r + 1})", images[r * steps:(r + 1) * steps])
                for r in range(n)]
        return save_caption_grid(rows, out), seconds
    images = generate(trained.generator, trained.text, trained.vocabulary, texts, n, seed, trained.caption_length)
    seconds = time.perf_counter() - start
    rows = []
    for i, text in enumerate(texts):
        drawn = images[i * n:(i + 1) * n]
        for first in range(0, n, ROW_WIDTH):
            rows.append((text if first == 0 else f"{text} (continued)", drawn[first:first + ROW_WIDTH]))
    return save_caption_grid(rows, out), seconds


__all__ = ["TrainedText2Image", "load_text2image_run", "sample_text2image"]
