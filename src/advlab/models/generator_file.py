"""The file a playground GAN page downloads: one 2-D generator (``advlab.models.MLPGenerator``) as safetensors.

The tensors are the generator's state under ``generator.`` (as in advlab checkpoints); the header's metadata
describes it: ``format`` (GENERATOR_FORMAT), ``z_dim``, ``out_features``, ``width``, ``depth``, ``noise``
(``uniform`` on [-1, 1] or ``gaussian``), ``loss``, ``data`` and ``step``. ``advlab.playground.gan_game``
writes it; :func:`load_generator` reads it back and :func:`is_generator_file` tells it from a run's checkpoint
(``advlab gan sample`` takes either). Nothing here is unpickled: safetensors and JSON only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.core.checkpoints import (
    parse_safetensors,
    read_bytes,
    read_safetensors_metadata,
    restore_module,
    safetensors_metadata,
)
from advlab.core.errors import AdvlabError
from advlab.models.mlp import MLPGenerator

GENERATOR_FORMAT = "advlab-playground-generator/1"


def load_generator(source: str | Path | bytes) -> tuple[MLPGenerator, dict[str, Any]]:
    """(generator, description) from a playground download: a safetensors file whose tensors are an
    ``advlab.models.MLPGenerator``'s state under ``generator.`` (as in advlab checkpoints) and whose header
    metadata says ``format`` (``advlab-playground-generator/1``), ``z_dim``, ``out_features``, ``width``,
    ``depth``, ``noise`` (``uniform`` on [-1, 1] or ``gaussian``), ``loss``, ``data`` and ``step``.

    Drawing from it::

        generator, info = load_generator("generator.safetensors")
        z = sample_noise(1000, info["z_dim"], info["noise"], torch.Generator().manual_seed(0))
        points = generator(z)   # (1000, 2)

    Parsed with safetensors and json alone (nothing is unpickled); anything else is an AdvlabError.
    """
    name = "the generator file" if isinstance(source, bytes) else str(source)
    payload = source if isinstance(source, bytes) else read_bytes(Path(source))
    metadata = safetensors_metadata(payload, name)
    if metadata.get("format") != GENERATOR_FORMAT:
        raise AdvlabError(f"{name} is not a playground generator (format {metadata.get('format')!r}, expected "
                          f"{GENERATOR_FORMAT!r})")
    try:
        info = {key: int(metadata[key]) for key in ("z_dim", "out_features", "width", "depth", "step")}
    except (KeyError, ValueError) as error:
        raise AdvlabError(f"{name}: its description lacks a number ({error})") from None
    info.update({key: metadata.get(key) for key in ("noise", "loss", "data", "format")})
    generator = MLPGenerator(info["z_dim"], info["out_features"], info["width"], info["depth"])
    restore_module(generator, "generator", parse_safetensors(payload, Path(name)))
    return generator.eval(), info


def is_generator_file(path: Path) -> bool:
    """Whether `path` is a safetensors file whose header metadata has GENERATOR_FORMAT; only the header is read."""
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        return read_safetensors_metadata(path).get("format") == GENERATOR_FORMAT
    except AdvlabError:
        return False


__all__ = ["GENERATOR_FORMAT", "is_generator_file", "load_generator"]
